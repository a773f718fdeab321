"""The Dynamic Weight Module and the DWHS objectives on hand-built inputs."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from mpe_jax.models import DynamicWeightModule
from mpe_jax.objectives import dwhs


# Jitted wrappers (one compile per shape; op-by-op dispatch is far slower on
# a small CPU). Validation errors still surface: they are raised at trace time.
frame_f1 = jax.jit(dwhs.frame_f1,
                   static_argnames=('threshold', 'tolerance_bins'))
raw_pitch_accuracy = jax.jit(dwhs.raw_pitch_accuracy,
                             static_argnames=('threshold', 'tolerance_bins'))
assign_cases = jax.jit(dwhs.assign_cases)
case_losses = jax.jit(dwhs.case_losses)
dwhs_loss = jax.jit(dwhs.dwhs_loss)
dwhs_loss_grad = jax.jit(jax.grad(dwhs.dwhs_loss))
naive_weights = jax.jit(dwhs.naive_weights,
                        static_argnames=('omega_noise', 'upper_bound'))
omega_case_stats = jax.jit(dwhs.omega_case_stats)
forward = nnx.jit(lambda model, maps: model(maps))


def _bpr(x):  # -log sigmoid(x)
  return math.log1p(math.exp(-x))


# ------------------------------------------------------------------ DWM


def _dwm_config(**overrides):
  cfg = ml_collections.ConfigDict(dict(
      channels=(4, 8), hidden=16, omega_max=2.0, pooling='mean', n_bins=6,
      n_frames=5))
  cfg.update(overrides)
  return cfg


def _randomise_output(model, scale):
  """Non-zero last layer so that the output depends on the input."""
  keys = jax.random.split(jax.random.key(7), 2)
  model.out.kernel[...] = scale * jax.random.normal(keys[0],
                                                    model.out.kernel.shape)
  model.out.bias[...] = scale * jax.random.normal(keys[1], (2,))


@pytest.mark.parametrize('pooling', ['mean', 'flatten'])
def test_fresh_dwm_gives_half_omega_max_everywhere(pooling):
  maps = jax.random.uniform(jax.random.key(0), (3, 3, 6, 5))
  for omega_max, want in ((2.0, 1.0), (3.0, 1.5)):
    model = DynamicWeightModule(_dwm_config(pooling=pooling,
                                            omega_max=omega_max),
                                rngs=nnx.Rngs(0))
    omega = np.asarray(forward(model, maps))
    assert omega.shape == (3, 2) and omega.dtype == np.float32
    np.testing.assert_array_equal(omega, np.full((3, 2), want, np.float32))


@pytest.mark.parametrize('pooling', ['mean', 'flatten'])
def test_dwm_output_stays_within_zero_and_omega_max(pooling):
  model = DynamicWeightModule(_dwm_config(pooling=pooling), rngs=nnx.Rngs(1))
  _randomise_output(model, 50.0)
  inputs = [jax.random.uniform(jax.random.key(2), (4, 3, 6, 5)),
            jnp.zeros((2, 3, 6, 5)), jnp.ones((2, 3, 6, 5)),
            jnp.full((2, 3, 6, 5), 1e4), jnp.full((2, 3, 6, 5), -1e4)]
  for maps in inputs:
    omega = np.asarray(forward(model, maps))
    assert omega.shape == (maps.shape[0], 2)
    assert np.all(np.isfinite(omega))
    assert omega.min() >= 0.0 and omega.max() <= 2.0
  # The output really depends on the input once the last layer is trained.
  _randomise_output(model, 1.0)
  omega = np.asarray(forward(model, inputs[0]))
  assert np.ptp(omega[:, 0]) > 0 and np.ptp(omega[:, 1]) > 0


def test_dwm_mean_pooling_takes_any_length_and_flatten_refuses():
  model = DynamicWeightModule(_dwm_config(), rngs=nnx.Rngs(0))
  _randomise_output(model, 1.0)
  for n_frames in (5, 13):
    maps = jax.random.uniform(jax.random.key(n_frames), (2, 3, 6, n_frames))
    assert forward(model, maps).shape == (2, 2)
  # Mean pooling: the hidden layer sees channels[1] features.
  assert model.hidden.kernel.shape == (8, 16)

  flat = DynamicWeightModule(_dwm_config(pooling='flatten'), rngs=nnx.Rngs(0))
  assert flat.hidden.kernel.shape == (5 * 6 * 8, 16)
  assert forward(flat, jnp.zeros((2, 3, 6, 5))).shape == (2, 2)
  with pytest.raises(ValueError, match=r"'flatten' was built for K=6, T=5; "
                     r'got K=6, T=7'):
    forward(flat, jnp.zeros((2, 3, 6, 7)))
  with pytest.raises(ValueError, match=r'maps \[B, 3, K, T\]'):
    forward(model, jnp.zeros((2, 2, 6, 5)))


def test_dwm_config_errors():
  bad = [(dict(omega_max=1.0), 'omega_max must be > 1'),
         (dict(omega_max=0.5), 'omega_max must be > 1'),
         (dict(pooling='max'), 'pooling must be one of'),
         (dict(channels=(4, 8, 8)), 'channels must hold 2 ints'),
         (dict(pooling='flatten', n_frames=0), 'needs a positive dwm.n_frames')]
  for overrides, message in bad:
    with pytest.raises(ValueError, match=message):
      DynamicWeightModule(_dwm_config(**overrides), rngs=nnx.Rngs(0))
  cfg = ml_collections.ConfigDict(dict(channels=(4, 8), hidden=16,
                                       omega_max=2.0, pooling='flatten'))
  with pytest.raises(ValueError, match='needs a positive dwm.n_bins'):
    DynamicWeightModule(cfg, rngs=nnx.Rngs(0))
  cfg.pooling = 'mean'  # 'mean' needs neither n_bins nor n_frames
  assert DynamicWeightModule(cfg, rngs=nnx.Rngs(0))(
      jnp.zeros((1, 3, 4, 4))).shape == (1, 2)


def test_dwm_under_jit_matches_eager():
  model = DynamicWeightModule(_dwm_config(pooling='flatten'), rngs=nnx.Rngs(3))
  _randomise_output(model, 1.0)
  maps = jax.random.uniform(jax.random.key(4), (2, 3, 6, 5))
  jitted = nnx.jit(lambda m, x: m(x))(model, maps)
  np.testing.assert_allclose(np.asarray(jitted), np.asarray(model(maps)),
                             rtol=1e-6)


# ---------------------------------------------------------- case losses

OMEGA = jnp.asarray([[1.5, 0.5], [0.8, 1.2], [1.5, 0.5], [1.0, 2.0],
                     [0.2, 0.1]])
CASES_ = jnp.asarray([1, 1, 2, 4, 4])


def test_case_losses_by_hand():
  got = {k: float(v) for k, v in case_losses(OMEGA, CASES_).items()}
  # case 1: mean(|.5| + |-.5|, |-.2| + |.2|) = mean(1.0, 0.4)
  assert got['case1'] == pytest.approx(0.7, rel=1e-6)
  # case 2: |1.5 - 1| - log s(1 - 0.5)
  assert got['case2'] == pytest.approx(0.5 + _bpr(0.5), rel=1e-6)
  assert got['case3'] == 0.0
  # case 4: mean(0 - log s(2 - 1), 0.8 - log s(0.1 - 1))
  assert got['case4'] == pytest.approx(
      (_bpr(1.0) + 0.8 + _bpr(-0.9)) / 2, rel=1e-6)
  # case 3 on its own: -log s(1.5 - 1) + |0.5 - 1|, and -log s(-0.8) + 0
  got3 = case_losses(jnp.asarray([[1.5, 0.5], [0.2, 1.0]]),
                     jnp.asarray([3, 3]))
  assert float(got3['case3']) == pytest.approx(
      (_bpr(0.5) + 0.5 + _bpr(-0.8)) / 2, rel=1e-6)
  assert float(dwhs_loss(OMEGA, CASES_)) == pytest.approx(
      sum(got.values()), rel=1e-6)


def test_case_losses_push_weights_the_right_way():
  # Case 2 lowers omega_2, cases 3 / 4 raise omega_1 / omega_2.
  omega = jnp.ones((3, 2))
  grad = np.asarray(dwhs_loss_grad(omega, jnp.asarray([2, 3, 4])))
  assert grad[0, 1] > 0 and grad[1, 0] < 0 and grad[2, 1] < 0
  # sigmoid'(0) / sigmoid(0) = 1/2, one sample per case: gradient -+ 1/2.
  assert grad[0, 1] == pytest.approx(0.5)
  assert grad[1, 0] == pytest.approx(-0.5)


def test_absent_cases_are_zero_without_gradient():
  omega = jnp.asarray([[1.5, 0.5], [0.8, 1.2]])
  cases = jnp.asarray([1, 1])
  parts = case_losses(omega, cases)
  for c in (2, 3, 4):
    assert float(parts[f'case{c}']) == 0.0
    g = jax.jit(jax.grad(
        lambda w, c=c: dwhs.case_losses(w, cases)[f'case{c}']))(omega)
    np.testing.assert_array_equal(np.asarray(g), 0.0)
  g = np.asarray(dwhs_loss_grad(omega, cases))
  assert np.all(np.isfinite(g))
  # d/dw of mean over two samples of |w1 - 1| + |w2 - 1|: sign / 2.
  np.testing.assert_allclose(g, [[0.5, -0.5], [-0.5, 0.5]])
  # Even extreme weights give finite zero-case losses and gradients.
  big = jnp.asarray([[1e6, -1e6]])
  g = np.asarray(dwhs_loss_grad(big, jnp.asarray([4])))
  assert np.all(np.isfinite(g))


def test_sample_mask_excludes_samples():
  mask = jnp.asarray([1, 0, 0, 1, 1])
  got = case_losses(OMEGA, CASES_, mask)
  assert float(got['case1']) == pytest.approx(1.0, rel=1e-6)
  assert float(got['case2']) == 0.0
  assert float(got['case4']) == pytest.approx(
      (_bpr(1.0) + 0.8 + _bpr(-0.9)) / 2, rel=1e-6)
  assert float(dwhs_loss(OMEGA, CASES_, sample_mask=mask)) == (
      pytest.approx(sum(float(v) for v in got.values()), rel=1e-6))
  # Changing a masked-out sample changes nothing.
  moved = OMEGA.at[1].set(jnp.asarray([9.0, -9.0]))
  assert float(dwhs_loss(moved, CASES_, mask)) == float(
      dwhs_loss(OMEGA, CASES_, mask))


def test_bad_omega_shape_is_a_clear_error():
  with pytest.raises(ValueError, match=r'omega must be \[B, 2\]'):
    case_losses(jnp.ones((3,)), jnp.ones((3,), jnp.int32))


# -------------------------------------------------- correctness scores

K, T = 6, 4


def _multi(bins, value=1.0, frames=range(T)):
  """[K, T] map with ``bins`` active in ``frames``."""
  m = np.zeros((K, T), np.float32)
  for f in frames:
    m[list(bins), f] = value
  return m


def _single(bin_per_frame, value=1.0):
  """[K, T] one-hot per frame; None = silent frame."""
  m = np.zeros((K, T), np.float32)
  for f, b in enumerate(bin_per_frame):
    if b is not None:
      m[b, f] = value
  return m


def _f1(pred, truth, **kw):
  return float(frame_f1(jnp.asarray(pred)[None], jnp.asarray(truth)[None],
                        **kw)[0])


def test_frame_f1_by_hand():
  y = _multi({1, 4})  # 8 reference bins
  assert _f1(0.9 * y, y) == 1.0
  # Bins {1}: TP 4, FN 4 -> 8 / 12; bin 4 at 0.4 is below the threshold.
  assert _f1(_multi({1}, 0.6) + _multi({4}, 0.4), y) == pytest.approx(2 / 3)
  assert _f1(_multi({1}, 0.6) + _multi({4}, 0.4), y, threshold=0.3) == 1.0
  # Extra bin 0 in two frames: TP 8, FP 2 -> 16 / 18.
  assert _f1(_multi({1, 4}, 0.6) + _multi({0}, 0.7, [0, 1]), y) == (
      pytest.approx(8 / 9))
  # Every estimate one bin off: 0 exactly, 1 with one bin of tolerance.
  assert _f1(_multi({2, 5}), y) == 0.0
  assert _f1(_multi({2, 5}), y, tolerance_bins=1) == 1.0
  # Bin 2 matches bin 1 within 1 bin; bin 4 has no estimate within 1 bin:
  # TP 4, FP 0, FN 4.
  assert _f1(_multi({2}), y, tolerance_bins=1) == pytest.approx(2 / 3)
  assert _f1(_multi({2}), y, tolerance_bins=2) == 1.0
  # Soft reference: 0.5 counts, 0.49 does not.
  assert _f1(_multi({1}), 0.5 * y) == pytest.approx(2 / 3)
  assert _f1(_multi({1}), 0.49 * y) == 0.0


def test_frame_f1_empty_rule_and_frame_mask():
  empty = np.zeros((K, T), np.float32)
  assert _f1(empty, empty) == 1.0
  assert _f1(_multi({3}), empty) == 0.0
  assert _f1(empty, _multi({3})) == 0.0
  # Right in frames 0-1, silent in frames 2-3.
  y = _multi({1, 4})
  pred = _multi({1, 4}, 0.8, [0, 1])
  assert _f1(pred, y) == pytest.approx(2 / 3)
  mask = lambda m: jnp.asarray([m], jnp.float32)
  assert _f1(pred, y, frame_mask=mask([1, 1, 0, 0])) == 1.0
  assert _f1(pred, y, frame_mask=mask([0, 0, 1, 1])) == 0.0
  assert _f1(pred, y, frame_mask=mask([0, 0, 0, 0])) == 1.0  # nothing left
  # Per-sample: a batch of two keeps the samples apart.
  both = frame_f1(jnp.asarray(np.stack([pred, y])),
                  jnp.asarray(np.stack([y, y])))
  np.testing.assert_allclose(np.asarray(both), [2 / 3, 1.0], rtol=1e-6)


def _rpa(pred, truth, **kw):
  return float(raw_pitch_accuracy(jnp.asarray(pred)[None],
                                  jnp.asarray(truth)[None], **kw)[0])


def test_raw_pitch_accuracy_by_hand():
  y = _single([2, 2, 3, None])  # 3 voiced frames
  # Weak estimate (voicing ignored): argmax per frame 2, 3, 3, 0.
  pred = _single([2, 3, 3, 0], 0.1)
  assert _rpa(pred, y) == pytest.approx(2 / 3)
  assert _rpa(pred, y, tolerance_bins=1) == 1.0
  assert _rpa(pred, y, frame_mask=jnp.asarray([[1, 0, 1, 1]])) == 1.0
  assert _rpa(pred, y, frame_mask=jnp.asarray([[0, 1, 0, 1]])) == 0.0
  # No voiced reference frame: 1; soft reference below 0.5 is unvoiced.
  assert _rpa(pred, np.zeros((K, T), np.float32)) == 1.0
  assert _rpa(pred, 0.4 * y) == 1.0
  assert _rpa(_single([4, 4, 4, 4]), 0.5 * y) == 0.0
  assert _rpa(_single([4, 5, 5, 4]), y, tolerance_bins=2) == pytest.approx(
      2 / 3)


def test_score_argument_errors():
  y = jnp.zeros((1, K, T))
  bad_threshold = r'threshold must lie in \(0, 1\)'
  bad_tolerance = 'tolerance_bins must be an int'
  for kw, message in ((dict(threshold=1.0), bad_threshold),
                      (dict(threshold=0.0), bad_threshold),
                      (dict(tolerance_bins=-1), bad_tolerance),
                      (dict(tolerance_bins=1.5), bad_tolerance)):
    for fn in (frame_f1, raw_pitch_accuracy):
      with pytest.raises(ValueError, match=message):
        fn(y, y, **kw)
  with pytest.raises(ValueError, match=r'\[B, K, T\] of equal shapes'):
    frame_f1(y, jnp.zeros((1, K, T + 1)))


# ------------------------------------------------------ case assignment


def _correctness(metric, tolerance_bins=0, min_score=0.5, threshold=0.5):
  return ml_collections.ConfigDict(dict(
      metric=metric, threshold=threshold, tolerance_bins=tolerance_bins,
      min_score=min_score))


def _is_correct(pred, truth, cfg, frame_mask=None):
  fn = jax.jit(lambda p, t, m: dwhs.is_correct(p, t, cfg, frame_mask=m))
  return fn(pred, truth, frame_mask)


def test_assign_cases_table_1():
  cases = assign_cases(jnp.asarray([True, True, False, False]),
                       jnp.asarray([True, False, True, False]))
  assert cases.dtype == jnp.int32
  np.testing.assert_array_equal(np.asarray(cases), [1, 2, 3, 4])


@pytest.mark.parametrize('metric', ['f1', 'rpa'])
def test_cases_from_pitch_maps(metric):
  if metric == 'f1':
    y, off = _multi({1, 4}), _multi({2, 5}, 0.8)
  else:
    y, off = _single([2, 2, 3, 3]), _single([3, 3, 4, 4], 0.3)
  right = 0.9 * y
  truth = jnp.asarray(np.stack([y] * 4))
  from_pred = jnp.asarray(np.stack([right, right, off, off]))
  from_target = jnp.asarray(np.stack([right, off, right, off]))

  def cases(cfg):
    return np.asarray(assign_cases(
        _is_correct(from_pred, truth, cfg),
        _is_correct(from_target, truth, cfg)))

  np.testing.assert_array_equal(cases(_correctness(metric)), [1, 2, 3, 4])
  # One bin off is right within one bin of tolerance: every sample is case 1.
  np.testing.assert_array_equal(cases(_correctness(metric, tolerance_bins=1)),
                                [1, 1, 1, 1])
  # A frame mask that keeps no voiced frame: nothing to get wrong.
  silent = jnp.zeros((4, T))
  ok = _is_correct(from_pred, truth, _correctness(metric), frame_mask=silent)
  np.testing.assert_array_equal(np.asarray(ok), True)


def test_is_correct_min_score_and_errors():
  y = jnp.asarray(_multi({1, 4}))[None]
  half = jnp.asarray(_multi({1}))[None]  # F1 = 2/3
  assert bool(_is_correct(half, y, _correctness('f1', min_score=0.6))[0])
  assert not bool(_is_correct(half, y, _correctness('f1', min_score=0.7))[0])
  with pytest.raises(ValueError, match="metric must be one of .* got 'f2'"):
    _is_correct(half, y, _correctness('f2'))
  with pytest.raises(ValueError, match=r'threshold must lie in \(0, 1\)'):
    _is_correct(half, y, _correctness('f1', threshold=1.5))
  with pytest.raises(ValueError, match=r'min_score must lie in \[0, 1\]'):
    _is_correct(half, y, _correctness('rpa', min_score=2.0))


# ------------------------------------------------------- naive weights


def _voicing(max_per_frame):
  """[3, 2] map whose per-frame maximum (bin 1) is given."""
  m = np.zeros((3, 2), np.float32)
  m[1] = max_per_frame
  return m


def test_naive_weights_table_6():
  truth = np.stack([_voicing([1.0, 0.0])] * 7)  # voiced, then silent
  perfect = _voicing([1.0, 0.0])  # y_t = 1
  half = _voicing([0.5, 0.5])  # y_t = (0.5 + 0.5) / 2 = 0.5
  fifth = _voicing([0.2, 0.8])  # y_t = (0.2 + 0.2) / 2 = 0.2
  wrong = _voicing([0.0, 1.0])  # y_t = 0
  # case:     1        2        3        3        3        4        4
  pred = [half, half, half, perfect, wrong, half, half]
  target = [fifth, fifth, perfect, fifth, fifth, fifth, wrong]
  cases = jnp.asarray([1, 2, 3, 3, 3, 4, 4])
  args = (cases, jnp.asarray(truth), jnp.asarray(np.stack(pred)),
          jnp.asarray(np.stack(target)))
  got = np.asarray(naive_weights(*args, omega_noise=0.3, upper_bound=3.0))
  want = [[1, 1],  # case 1: unchanged whatever the maps
          [1, 0.3],  # case 2: omega_noise
          [2, 1],  # case 3: 1 / 0.5 from the predicted-source map
          [1, 1],  # case 3, y_t = 1: the clip's lower end
          [3, 1],  # case 3, y_t = 0: upper_bound, no division by 0
          [1, 3],  # case 4: 1 / 0.2 = 5 clipped to upper_bound
          [1, 3]]  # case 4, y_t = 0
  np.testing.assert_allclose(got, want, rtol=1e-6)
  assert got.dtype == np.float32
  got10 = np.asarray(naive_weights(*args, omega_noise=0.0, upper_bound=10.0))
  np.testing.assert_allclose(got10[:, 1], [1, 0, 1, 1, 1, 5, 10], rtol=1e-6)
  np.testing.assert_allclose(got10[:, 0], [1, 1, 2, 1, 10, 1, 1], rtol=1e-6)
  # No gradient reaches the maps.
  g = jax.jit(jax.grad(lambda p: jnp.sum(dwhs.naive_weights(
      cases, args[1], p, args[3], omega_noise=0.3,
      upper_bound=3.0))))(args[2])
  np.testing.assert_array_equal(np.asarray(g), 0.0)
  with pytest.raises(ValueError, match=r'omega_noise must lie in \[0, 1\]'):
    naive_weights(*args, omega_noise=1.5, upper_bound=3.0)
  with pytest.raises(ValueError, match='upper_bound must be >= 1'):
    naive_weights(*args, omega_noise=0.3, upper_bound=0.5)


# ------------------------------------------------- weighting and logging


def test_weighted_task_loss_value_and_gradients():
  losses = jnp.asarray([[1.0, 2.0], [3.0, 4.0]])
  omega = jnp.asarray([[0.5, 1.5], [2.0, 1.0]])
  # (0.5 * 1 + 1.5 * 2 + 2 * 3 + 1 * 4) / 2
  assert float(jax.jit(dwhs.weighted_task_loss)(losses, omega)) == (
      pytest.approx(6.75))
  for grad_to_dwm in (False, True):
    fn = lambda l, w, g=grad_to_dwm: dwhs.weighted_task_loss(
        l, w, grad_to_dwm=g)
    g_losses, g_omega = jax.jit(jax.grad(fn, argnums=(0, 1)))(losses, omega)
    np.testing.assert_allclose(np.asarray(g_losses), np.asarray(omega) / 2)
    want = np.asarray(losses) / 2 if grad_to_dwm else np.zeros((2, 2))
    np.testing.assert_allclose(np.asarray(g_omega), want)
  with pytest.raises(ValueError, match=r'task_losses must be \[B, 2\]'):
    dwhs.weighted_task_loss(jnp.ones((2,)), omega)


def test_omega_case_stats():
  omega = jnp.asarray([[1.5, 0.5], [0.5, 1.5], [2.0, 0.0], [1.0, 1.25]])
  cases = jnp.asarray([1, 1, 3, 4])
  stats = {k: float(v) for k, v in omega_case_stats(omega, cases).items()}
  assert set(stats) == {f'{n}/case{c}' for n in ('omega1', 'omega2', 'count')
                        for c in dwhs.CASES}
  assert stats == {
      'omega1/case1': 1.0, 'omega2/case1': 1.0, 'count/case1': 2.0,
      'omega1/case2': 0.0, 'omega2/case2': 0.0, 'count/case2': 0.0,
      'omega1/case3': 2.0, 'omega2/case3': 0.0, 'count/case3': 1.0,
      'omega1/case4': 1.0, 'omega2/case4': 1.25, 'count/case4': 1.0}
  masked = omega_case_stats(omega, cases,
                            sample_mask=jnp.asarray([0, 1, 1, 1]))
  assert float(masked['omega1/case1']) == 0.5
  assert float(masked['count/case1']) == 1.0
  assert masked['count/case1'].dtype == jnp.float32
