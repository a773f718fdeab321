"""Equalization and geometric transforms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mpe_jax.augment import equalization, geometric
from mpe_jax.features.hcqt import HCQTConfig

CFG = HCQTConfig()


def test_eq_grid_matches_reference_layout():
  n_points, index = equalization.eq_grid(CFG)
  assert n_points == 660  # 638 pseudo-bins rounded up to 11 octaves
  assert index.shape == (6, 440)
  assert index[0, 0] == 0  # lowest h=0.5 bin (MIDI 9)
  assert index[1, 0] == 60  # h=1 bin 0 is one octave higher
  assert index.max() < n_points


def test_equal_physical_frequency_gets_equal_gain():
  n_points, index = equalization.eq_grid(CFG)
  curves = equalization.gaussian_curves(jax.random.key(0), 3, n_points,
                                        max_amplitude=0.375, max_std=120)
  x = jnp.full((3, 6, 440, 2), 0.5)
  y = np.asarray(equalization.equalize(x, curves, index))
  # Channels 0.5, 1, 2, 4 share exact bins one octave (60 bins) apart.
  for lo, hi in ((0, 1), (1, 2), (2, 4)):
    np.testing.assert_allclose(y[:, hi, :380], y[:, lo, 60:440])
  # h=3 at bin k equals h=1 at the nearest bin of the same frequency.
  k1 = np.round(60 * np.log2(3)).astype(int) + np.arange(100)
  np.testing.assert_allclose(y[:, 3, :100], y[:, 1, k1])


def test_curve_ranges_and_clipping():
  n_points = 660
  g = np.asarray(equalization.gaussian_curves(
      jax.random.key(1), 64, n_points, max_amplitude=0.375, max_std=120))
  assert g.min() >= 0.625 - 1e-6 and g.max() <= 1.375 + 1e-6
  p = np.asarray(equalization.parabolic_curves(jax.random.key(2), 256,
                                               n_points, pointiness=2.0))
  assert p.max() <= 1.0 + 1e-6 and p.min() >= -1.0 - 1e-6
  assert p.min() < 0  # can go negative ...
  x = jnp.full((256, 1, 1, 1), 0.9)
  _, index = equalization.eq_grid(HCQTConfig(harmonics=(1,), n_bins=1))
  y = np.asarray(equalization.equalize(x, jnp.asarray(p), index))
  assert y.min() >= 0.0 and y.max() <= 1.0  # ... but products are clipped


def _torch_linear_interp(x, s):
  """Independent numpy port of F.interpolate(linear, align_corners=False)."""
  t = x.shape[-1]
  length = int(np.floor(t * s))
  out = np.zeros(x.shape[:-1] + (length,))
  for i in range(length):
    src = max((i + 0.5) / s - 0.5, 0.0)
    i0 = int(np.floor(src))
    i1 = i0 + 1 if i0 < t - 1 else i0
    lam = src - i0
    out[..., i] = (1 - lam) * x[..., i0] + lam * x[..., i1]
  return out


@pytest.mark.parametrize('s', [0.5, 0.73, 1.0, 1.37, 2.0])
def test_stretch_matches_reference_interpolation(s):
  x = np.random.default_rng(0).random((2, 5, 40))
  want = _torch_linear_interp(x, s)
  t = x.shape[-1]
  if want.shape[-1] >= t:
    start = (want.shape[-1] - t) // 2
    want = want[..., start:start + t]
  else:
    pad = t - want.shape[-1]
    want = np.pad(want, [(0, 0), (0, 0), (pad // 2, pad - pad // 2)])
  p = geometric.GeometricParams(jnp.zeros(1, jnp.int32),
                                jnp.zeros(1, jnp.int32),
                                jnp.asarray([s], jnp.float32))
  got = np.asarray(geometric.apply(jnp.asarray(x[None], jnp.float32), p))[0]
  np.testing.assert_allclose(got, want, atol=1e-5)


def test_shifts_are_zero_filled_translations():
  x = np.arange(1, 13, dtype=np.float32).reshape(1, 3, 4)
  p = geometric.GeometricParams(jnp.asarray([1]), jnp.asarray([-2]),
                                jnp.asarray([1.0]))
  got = np.asarray(geometric.apply(jnp.asarray(x), p))[0]
  want = np.zeros((3, 4), np.float32)
  want[1:, :2] = x[0, :2, 2:]
  np.testing.assert_array_equal(got, want)


@settings(max_examples=15, deadline=None)
@given(v=st.integers(-10, 10), h=st.integers(-8, 8))
def test_shifts_commute_with_a_pointwise_model(v, h):
  """Shifting the input then applying the model == model then shift."""
  x = jnp.asarray(np.random.default_rng(abs(v) + 100 * abs(h)).random(
      (1, 3, 16, 24)), jnp.float32)
  model = lambda f: jax.nn.sigmoid(jnp.sum(f, axis=1) - 1.5)  # [B, K, T]
  p = geometric.GeometricParams(jnp.asarray([v]), jnp.asarray([h]),
                                jnp.asarray([1.0], jnp.float32))
  lhs = np.asarray(model(geometric.apply(x, p)))
  rhs = np.asarray(geometric.apply(model(x), p))
  # The zero fill maps to model(0) on the left; compare where data moved in.
  inside = np.asarray(geometric.apply(jnp.ones((1, 16, 24)), p)) > 0.5
  np.testing.assert_allclose(lhs[inside], rhs[inside], atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(v=st.integers(-10, 10), h=st.integers(-8, 8), s=st.floats(0.5, 2.0))
def test_transforms_commute_with_a_linear_model(v, h, s):
  """Shift + stretch commute with any per-bin linear model (fill 0 -> 0)."""
  x = jnp.asarray(np.random.default_rng(abs(v) + 100 * abs(h)).random(
      (1, 3, 16, 24)), jnp.float32)
  model = lambda f: jnp.einsum('bckt,c->bkt', f, jnp.asarray([0.2, -1., .5]))
  p = geometric.GeometricParams(jnp.asarray([v]), jnp.asarray([h]),
                                jnp.asarray([s], jnp.float32))
  np.testing.assert_allclose(model(geometric.apply(x, p)),
                             geometric.apply(model(x), p), atol=1e-5)


def test_sample_params_ranges():
  p = geometric.sample_params(jax.random.key(0), 4096, max_freq_shift=60,
                              max_time_shift=86, max_stretch=2.0)
  assert int(p.freq_shift.min()) == -60 and int(p.freq_shift.max()) == 60
  assert int(p.time_shift.min()) == -86 and int(p.time_shift.max()) == 86
  s = np.asarray(p.stretch)
  assert s.min() >= 0.5 and s.max() <= 2.0
  assert 0.4 < np.mean(s < 1) < 0.6
