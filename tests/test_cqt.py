"""The invertible sliced CQT: grid, exact inverse, tone placement, gradients."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mpe_jax.features import cqt as cqt_lib

SR = 22050


def _snr_db(x, y):
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  return 10 * np.log10(np.sum(x ** 2) / np.sum((x - y) ** 2))


def _music(n, sr=SR, seed=0):
  """Three harmonic voices with vibrato, attack/decay envelopes and onsets."""
  rng = np.random.default_rng(seed)
  t = np.arange(n) / sr
  x = np.zeros(n)
  for f0, onset in ((110.0, 0.1), (329.6, 0.4), (523.3, 0.7)):
    env = np.clip((t - onset) / 0.02, 0, 1) * np.exp(-2.0 * np.clip(t - onset,
                                                                    0, None))
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.005 * np.sin(2 * np.pi * 5 * t))
                                  ) / sr
    for h in range(1, 9):
      if h * f0 < 5000:
        x += env * rng.uniform(0.2, 1.0) / h * np.sin(h * phase + rng.uniform(
            0, 2 * np.pi))
  return (x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope='module')
def cqt1():
  return cqt_lib.make_cqt(cqt_lib.CQTConfig(block_seconds=1.0))


def test_reference_grid():
  cqt = cqt_lib.make_cqt()  # the paper's: 9 octaves x 60, 3-s slices
  freqs = cqt.bin_frequencies()
  assert cqt.n_bins == 540 and freqs.shape == (540,)
  np.testing.assert_allclose(freqs[0], 11025 / 512)
  np.testing.assert_allclose(freqs[-1], 11025 * 2 ** (-1 / 60))
  assert cqt.block_length == 66150 and cqt.frames_per_block == 1024
  np.testing.assert_allclose(1000 * cqt.hop_length / SR, 2.9297, atol=1e-4)
  assert cqt.num_frames(66150) == 1024 and cqt.num_frames(66151) == 2048
  np.testing.assert_allclose(cqt.frame_times(3)[2], 2 * 66150 / 1024 / SR)
  lower, upper = cqt_lib.frame_bounds(cqt)
  assert 0.2 < lower < upper < 1.5  # painless and well conditioned


def test_reference_grid_round_trip_noise():
  cqt = cqt_lib.make_cqt()
  x = np.random.default_rng(1).standard_normal((1, 2 * 66150 - 777)).astype(
      np.float32)
  coef, edges = cqt_lib.cqt_with_edges(cqt, x)
  assert coef.shape == (1, 2, 540, 2048) and edges.shape == (1, 2, 2, 2048)
  y = cqt_lib.icqt(cqt, coef, edges, num_samples=x.shape[1])
  assert _snr_db(x, y) >= 60


def test_round_trip_noise_and_music_batched(cqt1):
  rng = np.random.default_rng(2)
  n = int(2.3 * SR)
  x = np.stack([rng.standard_normal(n), 0.1 * rng.standard_normal(n),
                _music(n)]).astype(np.float32)
  coef, edges = cqt_lib.cqt_with_edges(cqt1, x)
  y = np.asarray(cqt_lib.icqt(cqt1, coef, edges, num_samples=n))
  assert y.shape == x.shape
  for i in range(3):
    assert _snr_db(x[i], y[i]) >= 60, i
  # Music inside the CQT range loses little without edge bands (only what
  # the slice boundaries spread below fmin / above the top bin).
  music_only = np.asarray(cqt_lib.icqt(cqt1, coef[2:], num_samples=n))[0]
  assert _snr_db(x[2], music_only) >= 40
  # White noise without edge bands loses ~0-21 Hz and the top band.
  noise_only = np.asarray(cqt_lib.icqt(cqt1, coef[:1], num_samples=n))[0]
  assert 15 < _snr_db(x[0], noise_only) < 40
  # Batching does not mix items.
  single = cqt_lib.cqt_transform(cqt1, x[1:2])
  np.testing.assert_allclose(single[0], coef[1], atol=1e-4 * float(
      jnp.abs(coef[1]).max()))


def test_tone_lands_in_its_bin_with_the_hand_computed_magnitude(cqt1):
  # A tone on an FFT bin of the 1-s slice is periodic in every slice: each
  # frame of bin k has |c| = A * t / (2 l) * g_k(nu).
  k = 300
  centre = cqt1.bin_frequencies()[k]  # Hz == FFT bins for 1-s slices
  nu = round(centre)
  width = cqt1.bin_frequencies()[k] * 2 ** (1 / 60) / (1 / (2 ** (1 / 60) -
                                                        2 ** (-1 / 60)))
  g = math.cos(math.pi * (nu - centre) / width) ** 2
  amp = 0.7
  x = amp * np.cos(2 * np.pi * nu * np.arange(2 * SR) / SR + 0.3)
  mag = np.asarray(cqt_lib.magnitude(cqt_lib.cqt_transform(
      cqt1, x[None].astype(np.float32))))[0]  # [K, T]
  assert mag.shape == (540, 512)
  np.testing.assert_allclose(mag[k], amp * SR / 2 / 256 * g, rtol=1e-4)
  assert int(np.argmax(mag.mean(axis=1))) == k
  # Neighbours two bins away see less than half of it; far bins ~nothing.
  assert mag[k + 2].mean() < 0.5 * mag[k].mean()
  assert mag[k + 60].max() < 1e-4 * mag[k].max()


def test_matches_a_direct_numpy_nsgt():
  """Coefficient formula evaluated term by term on a tiny configuration."""
  cfg = cqt_lib.CQTConfig(sample_rate=8000, n_octaves=3, bins_per_octave=12,
                          block_seconds=0.25)
  cqt = cqt_lib.make_cqt(cfg)
  t, l = 2000, cqt.frames_per_block
  x = np.random.default_rng(3).standard_normal(2 * t).astype(np.float32)
  got = np.asarray(cqt_lib.cqt_transform(cqt, x[None]))[0]  # [2, K, 2l]
  q = 1 / (2 ** (1 / 12) - 2 ** (-1 / 12))
  for k in (0, 17, 35):
    fk = 500 * 2 ** (k / 12)
    c, w = fk * t / 8000, 500 * 2 ** ((k + 1) / 12) / q * t / 8000
    start = int(np.round(c)) - l // 2
    for s in range(2):
      spec = np.fft.fft(x[s * t:(s + 1) * t].astype(np.float64))
      for m in (0, 5, l - 1):
        acc = 0j
        for j in range(l):
          d = (start + j - c) / w
          if abs(d) < 0.5:
            acc += (np.cos(np.pi * d) ** 2 * spec[(start + j) % t] *
                    np.exp(2j * np.pi * j * m / l))
        acc /= l
        np.testing.assert_allclose(got[0, k, s * l + m], acc.real, atol=2e-3)
        np.testing.assert_allclose(got[1, k, s * l + m], acc.imag, atol=2e-3)


def test_gradient_of_the_round_trip_is_the_identity(cqt1):
  x = jnp.asarray(np.random.default_rng(4).standard_normal((2, 3000)),
                  jnp.float32)

  def energy(a):
    coef, edges = cqt_lib.cqt_with_edges(cqt1, a)
    return jnp.sum(jnp.square(cqt_lib.icqt(cqt1, coef, edges,
                                           num_samples=a.shape[1])))

  grad = jax.jit(jax.grad(energy))(x)
  np.testing.assert_allclose(grad, 2 * x, atol=1e-3)


def test_magnitude_and_decibels():
  c = jnp.asarray([[[[3.0, 0.0]], [[4.0, 0.0]]]])  # [1, 2, 1, 2]
  np.testing.assert_allclose(cqt_lib.magnitude(c), [[[5.0, 0.0]]])
  grad = jax.grad(lambda a: jnp.sum(cqt_lib.magnitude(a)))(c)
  assert np.all(np.isfinite(grad)) and float(grad[0, 0, 0, 1]) == 0.0
  amp = jnp.asarray([[[1.0, 0.1, 1e-6]]])
  # 0, -20, -120 dB -> floored at -80 -> 1 + dB / 80.
  np.testing.assert_allclose(cqt_lib.to_decibels(amp), [[[1.0, 0.75, 0.0]]],
                             atol=1e-6)


def test_too_short_slices_are_refused():
  with pytest.raises(ValueError, match='block_seconds'):
    cqt_lib.make_cqt(cqt_lib.CQTConfig(block_seconds=0.02))
