"""MAJL: weighting by hand, both systems' losses, the DWM group, configs, runs."""

import json
import math
import os
import types

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from configs import majl_degeneration, majl_separation
from data_pipelines.generated import synthetic_drums
from mpe_jax import systems, train
from mpe_jax.analysis import curves
from mpe_jax.augment import mixing
from mpe_jax.features import cqt as cqt_lib
from mpe_jax.metric_writers import MetricWriter
from mpe_jax.models import build_model, count_params
from mpe_jax.models.dwm import DynamicWeightModule
from mpe_jax.objectives import majl, salience, supervised
from mpe_jax.objectives import timbre_trap as tt
import tiny_config

KEY = jax.random.key(0, impl='rbg')
LOG2 = math.log(2.0)


def _one_line_error(fn, match):
  with pytest.raises(ValueError, match=match) as info:
    fn()
  assert '\n' not in str(info.value)


# ---------------------------------------------------------------- configs


@pytest.mark.parametrize('module', [majl_separation, majl_degeneration])
@pytest.mark.parametrize('arg', [None, 'quick', 'none', 'naive',
                                 'quick,naive', 'quick, none'])
def test_config_variants_validate(module, arg):
  config = module.get_config(arg)
  train.validate_config(config)
  method = config.dwhs.method
  assert method == ('none' if 'none' in (arg or '') else
                    'naive' if 'naive' in (arg or '') else 'dwhs')
  assert config.model.dwm.enabled == (method == 'dwhs')


def test_flatten_variant_fits_the_excerpt():
  for arg in ('flatten', 'quick,flatten'):
    config = majl_degeneration.get_config(arg)
    train.validate_config(config)
    n = round(config.data.excerpt_seconds * 22050)
    assert config.model.dwm.n_frames == 1 + n // 256
  assert majl_degeneration.get_config('flatten').model.dwm.n_frames == 345
  config = majl_degeneration.get_config('quick,flatten')
  with config.unlocked():
    config.data.excerpt_seconds = 1.0
  _one_line_error(lambda: train.validate_config(config), 'flatten')


def test_stage2_needs_the_pseudo_label_dir():
  for module in (majl_separation, majl_degeneration):
    config = module.get_config('quick,stage2')
    assert 'pseudo_labels/train' in config.data.mixture.sources
    assert all(config.data.mixture.use_labels)
    _one_line_error(lambda c=config: train.validate_config(c),
                    'pseudo_label_dir')
    with config.unlocked():
      config.data.pseudo_label_dir = '/somewhere'
    train.validate_config(config)
  # Separation adds the pseudo-labelled half; degeneration swaps the
  # unlabelled extra source for it.
  assert majl_separation.get_config('stage2').data.mixture.sources == (
      'synthetic/train', 'pseudo_labels/train')
  assert majl_degeneration.get_config('quick,stage2').data.mixture.sources == (
      'synthetic/train', 'pseudo_labels/train')


def test_inconsistent_settings_are_one_line_errors():
  for module in (majl_separation, majl_degeneration):
    _one_line_error(lambda m=module: m.get_config('nope'), 'variant')
    _one_line_error(lambda m=module: m.get_config('none,naive'), 'pick one')
  config = majl_separation.get_config('quick')
  with config.unlocked():
    config.data.drum_source = ''
  _one_line_error(lambda: train.validate_config(config), 'drum_source')
  config = majl_separation.get_config('quick')
  with config.unlocked():
    config.model.dwm.enabled = False
  _one_line_error(lambda: train.validate_config(config), 'dwm.enabled')
  config = majl_separation.get_config('quick,none')
  with config.unlocked():
    config.dwhs.method = 'best'
  _one_line_error(lambda: train.validate_config(config), 'method')
  config = majl_degeneration.get_config('quick')
  with config.unlocked():
    config.dwhs.predicted_input = 'timbre'
    config.loss_weights.timbre = 0.0
  _one_line_error(lambda: train.validate_config(config), 'predicted_input')
  config = majl_degeneration.get_config('quick')
  with config.unlocked():
    config.loss_weights.supervised = 0.0
  _one_line_error(lambda: train.validate_config(config), 'two tasks')
  config = majl_separation.get_config('quick')
  with config.unlocked():
    config.dwhs.correctness.metric = 'sdr'
  _one_line_error(lambda: train.validate_config(config), 'metric')


# ------------------------------------------------------ model + optimizer


def test_backbones_unchanged_and_dwm_a_top_level_group():
  for module, backbone in ((majl_separation, 614_490),
                           (majl_degeneration, 1_303_753)):
    config = module.get_config()
    model = nnx.eval_shape(lambda c=config: build_model(c.model, KEY))
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    assert set(params) == {'encoder', 'decoder', 'dwm'}
    assert count_params(params['encoder']) + count_params(
        params['decoder']) == backbone
    # conv 3->8, conv 8->8 (3x3), dense 8->32, dense 32->2.
    assert count_params(params['dwm']) == (3 * 8 * 9 + 8) + (8 * 8 * 9 + 8) + (
        8 * 32 + 32) + (32 * 2 + 2)
    none = module.get_config('none')
    model = nnx.eval_shape(lambda c=none: build_model(c.model, KEY))
    assert set(nnx.to_pure_dict(nnx.state(model, nnx.Param))) == {
        'encoder', 'decoder'}


def _small_separation_config(arg='quick'):
  config = majl_separation.get_config(arg)
  with config.unlocked():
    config.model.channels = (4, 8)
    config.model.latent_size = 16
  return config


def test_same_backbone_with_and_without_the_dwm():
  with_dwm = build_model(_small_separation_config().model, KEY)
  without = build_model(_small_separation_config('quick,none').model, KEY)
  a = nnx.to_pure_dict(nnx.state(with_dwm, nnx.Param))
  b = nnx.to_pure_dict(nnx.state(without, nnx.Param))
  jax.tree.map(np.testing.assert_array_equal,
               {k: a[k] for k in ('encoder', 'decoder')}, b)


def test_dwm_params_get_their_own_learning_rate():
  config = _small_separation_config()
  with config.unlocked():
    config.optim.schedule = 'constant'
    config.optim.encoder_lr = 0.0
    config.optim.decoder_lr = 0.0
    config.optim.dwm_lr = 0.1
  tx, scheds = train.build_optimizer(config)
  assert set(scheds) == {'encoder', 'decoder', 'dwm'}
  assert float(scheds['dwm'](0)) == pytest.approx(0.1)
  params = nnx.to_pure_dict(nnx.state(build_model(config.model, KEY),
                                      nnx.Param))
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  for group in ('encoder', 'decoder'):
    assert all(float(jnp.abs(u).max()) == 0.0
               for u in jax.tree.leaves(updates[group])), group
  # AdamW's first step: -lr * (g / |g| + weight_decay * p) = -0.1 - 1e-3 p.
  jax.tree.map(lambda u, p: np.testing.assert_allclose(
      u, -0.1 - 0.1 * 0.01 * np.asarray(p), rtol=1e-5, atol=1e-7),
               updates['dwm'], params['dwm'])
  _, scheds = train.build_optimizer(_small_separation_config('quick,naive'))
  assert set(scheds) == {'encoder', 'decoder'}


def test_statistics_are_logged_under_their_own_names():
  metrics = train.loss_metrics(jnp.asarray(3.0), {
      'pitch': jnp.asarray(1.0), 'dwhs/omega1/case3': jnp.asarray(1.5)})
  assert set(metrics) == {'loss/total', 'loss/pitch', 'dwhs/omega1/case3'}


# ------------------------------------------------------------ weighting

# K = 4 bins, T = 2 frames; the truth is bin 1 in both frames. Item 0: both
# maps right (case 1); 1: predicted-source map right, target map wrong (case
# 2); 2: the reverse (case 3); 3: both wrong (case 4); 4: no labels.
_RIGHT = np.zeros((4, 2), np.float32)
_RIGHT[1] = 0.9
_WRONG_LOUD = np.zeros((4, 2), np.float32)
_WRONG_LOUD[3] = 0.8  # a confident wrong pitch: max 0.8
_SILENT = np.full((4, 2), 0.1, np.float32)  # nothing above 0.5: max 0.1


def _weighting_maps():
  truth = np.zeros((5, 4, 2), np.float32)
  truth[:, 1] = 1.0
  pred = np.stack([_RIGHT, _RIGHT, _WRONG_LOUD, _SILENT, _RIGHT])
  target = np.stack([_RIGHT, _SILENT, _RIGHT, _SILENT, _SILENT])
  mask = np.asarray([1, 1, 1, 1, 0], np.float32)
  losses = np.asarray([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0],
                       [9.0, 10.0]], np.float32)
  return (jnp.asarray(losses), jnp.asarray(pred), jnp.asarray(truth),
          jnp.asarray(target), jnp.asarray(mask), jnp.ones((5, 2)))


def _dwhs_config(method, **overrides):
  config = majl_separation.get_config(None if method == 'dwhs' else method)
  with config.unlocked():
    config.dwhs.correctness.tolerance_bins = 0
    for k, v in overrides.items():
      config.dwhs[k] = v
  return config


class _NoModel:
  """A backbone stand-in: weigh_tasks only reads ``model.dwm``."""

  def __init__(self, dwm=None):
    self.dwm = dwm


def test_naive_rule_cases_and_unlabelled_items_by_hand():
  config = _dwhs_config('naive')
  weighted, case_loss, stats = majl.weigh_tasks(
      _NoModel(), *_weighting_maps(), config)
  # Case 2 -> omega_2 = 0.2; case 3 -> omega_1 = clip(1 / 0.8) = 1.25 (pred
  # map: max 0.8 where the truth is voiced); case 4 -> omega_2 = clip(1 /
  # 0.1, 1, 5) = 5 (target map); item 4 has no labels: (1, 1).
  omega = np.asarray([[1, 1], [1, 0.2], [1.25, 1], [1, 5], [1, 1]])
  losses = np.asarray(_weighting_maps()[0])
  assert float(weighted) == pytest.approx(
      np.mean(np.sum(omega * losses, axis=1)), rel=1e-6)
  assert float(case_loss) == 0.0
  for c in range(1, 5):
    assert float(stats[f'dwhs/count/case{c}']) == 1.0  # item 4 in no case
    assert float(stats[f'dwhs/omega1/case{c}']) == pytest.approx(
        omega[c - 1, 0])
    assert float(stats[f'dwhs/omega2/case{c}']) == pytest.approx(
        omega[c - 1, 1])


def test_method_none_gives_weights_exactly_one():
  weighted, case_loss, stats = majl.weigh_tasks(
      _NoModel(), *_weighting_maps(), _dwhs_config('none'))
  assert float(weighted) == pytest.approx(np.mean(np.sum(np.asarray(
      _weighting_maps()[0]), axis=1)))
  assert float(case_loss) == 0.0
  for c in range(1, 5):
    assert float(stats[f'dwhs/omega1/case{c}']) == 1.0
    assert float(stats[f'dwhs/omega2/case{c}']) == 1.0


def _small_dwm():
  cfg = ml_collections.ConfigDict({'channels': (2, 2), 'hidden': 4,
                                   'omega_max': 2.0, 'pooling': 'mean'})
  return DynamicWeightModule(cfg, rngs=nnx.Rngs(params=1))


def test_fresh_dwm_weights_and_case_losses_by_hand():
  weighted, case_loss, stats = majl.weigh_tasks(
      _NoModel(_small_dwm()), *_weighting_maps(), _dwhs_config('dwhs'))
  # A fresh DWM gives 1 everywhere: Eq. 14 is the plain sum, and each of
  # cases 2-4 costs one BPR term -log s(0) = log 2 (the MAE terms are 0).
  assert float(weighted) == pytest.approx(11.0)  # mean of 3, 7, 11, 15, 19
  assert float(case_loss) == pytest.approx(3 * LOG2, rel=1e-6)
  assert float(stats['dwhs/count/case4']) == 1.0

  # Output bias (1, -1): omega = (2 s(1), 2 s(-1)) for labelled items, (1, 1)
  # for the unlabelled item 4.
  dwm = _small_dwm()
  dwm.out.bias[...] = jnp.asarray([1.0, -1.0])
  weighted, case_loss, stats = majl.weigh_tasks(
      _NoModel(dwm), *_weighting_maps(), _dwhs_config('dwhs'))
  s = lambda v: 1 / (1 + math.exp(-v))
  w1, w2 = 2 * s(1.0), 2 * s(-1.0)
  assert float(weighted) == pytest.approx(
      (w1 * (1 + 3 + 5 + 7) + w2 * (2 + 4 + 6 + 8) + 9 + 10) / 5, rel=1e-6)
  bpr = lambda m: -math.log(s(m))
  assert float(case_loss) == pytest.approx(
      (w1 - 1) + (1 - w2)  # case 1
      + (w1 - 1) + bpr(1 - w2)  # case 2
      + bpr(w1 - 1) + (1 - w2)  # case 3
      + (w1 - 1) + bpr(w2 - 1), rel=1e-6)  # case 4
  assert float(stats['dwhs/omega1/case3']) == pytest.approx(w1, rel=1e-6)


@pytest.mark.parametrize('grad_to_dwm', [False, True])
def test_grad_to_dwm_switch(grad_to_dwm):
  graphdef, state = nnx.split(_small_dwm())
  args = _weighting_maps()
  config = _dwhs_config('dwhs', grad_to_dwm=grad_to_dwm)

  def loss(state, w_dwhs, task_only=False):
    model = _NoModel(nnx.merge(graphdef, state))
    weighted, case_loss, _ = majl.weigh_tasks(model, *args, config)
    return case_loss if task_only else weighted + w_dwhs * case_loss

  norm = lambda g: sum(float(jnp.abs(x).sum()) for x in jax.tree.leaves(g))
  task_grad = jax.grad(loss)(state, 0.0)
  if grad_to_dwm:
    assert norm(task_grad) > 0  # Eq. 14 reaches the DWM
  else:
    assert norm(task_grad) == 0.0  # only the case losses train the DWM
    jax.tree.map(np.testing.assert_allclose, jax.grad(loss)(state, 1.0),
                 jax.grad(lambda s: loss(s, 0.0, task_only=True))(state))


# ---------------------------------------------- majl_separation by hand


class _ScaleModel:
  """encode = identity; decode = z * (0.5 + switch): closed-form outputs."""

  def __call__(self, x, switch):
    return x * (0.5 + jnp.asarray(switch).reshape(-1, 1, 1, 1))


def _per_item(m):  # sum over K, mean over T
  return m.sum(axis=-2).mean(axis=-1)


def test_separation_losses_by_hand_with_confidence_masks():
  config = majl_separation.get_config('quick,none')
  cqt = systems.get_system(config).make_frontend(config)
  n = cqt.block_length  # 0.5 s: 128 CQT frames, 44 label frames
  rng = np.random.default_rng(0)
  audio = (0.3 * rng.standard_normal((3, n))).astype(np.float32)
  drums = (0.3 * rng.standard_normal((3, n))).astype(np.float32)
  n_label = 1 + n // 256
  labels = np.zeros((3, 440, n_label), np.uint8)
  labels[0, 100] = 1
  labels[1, 200, 10:30] = 1
  labels[2, 300] = 1  # item 2 is unlabelled
  conf = np.ones((3, n_label), np.float32)
  conf[1, 20:] = 0.6  # pseudo-label frames below th = 0.7: masked
  batch = {'audio': audio, 'drums': drums, 'labels': labels,
           'has_label': np.asarray([True, True, False]),
           'label_confidence': conf}
  key = jax.random.key(5, impl='rbg')
  total, parts = jax.jit(lambda b: majl.separation_losses(
      _ScaleModel(), b, key, cqt, config))(batch)

  v = np.asarray(mixing.sample_volumes(key, 3, 1.0))
  x = np.asarray(cqt_lib.cqt_transform(cqt, audio), np.float64)
  x_mix = np.asarray(cqt_lib.cqt_transform(cqt, audio + v * drums),
                     np.float64)
  t = x.shape[-1]
  sep = _per_item(((1.5 * x_mix - x) ** 2).sum(axis=1))
  frames = np.round(np.arange(t) * cqt.hop_length / 256).astype(int)
  inside = frames < n_label
  y = np.zeros((3, 540, t))
  fm = np.ones((3, t))
  for i in range(3):
    y[i, 21:461][:, inside] = labels[i][:, frames[inside]]
    fm[i, inside] = (conf[i, frames[inside]] >= 0.7)
  mask = np.asarray([1.0, 1.0, 0.0])
  keep = (mask[:, None] * fm)[:, None, :]
  gamma = y * ((1 - y) * keep).sum() / (y * keep).sum() + (1 - y)
  pred = np.tanh(0.75 * np.sqrt((x_mix ** 2).sum(axis=1)))
  pitch = ((gamma * (y - pred) ** 2).sum(axis=1) * fm).mean(axis=-1)
  pitch = pitch * mask * 3 / 2
  np.testing.assert_allclose(parts['separation'], sep.mean(), rtol=1e-4)
  np.testing.assert_allclose(parts['pitch'], pitch.mean(), rtol=1e-4)
  np.testing.assert_allclose(total, sep.mean() + pitch.mean(), rtol=1e-4)
  assert float(parts['dwhs']) == 0.0
  counts = [float(parts[f'dwhs/count/case{c}']) for c in range(1, 5)]
  assert sum(counts) == 2.0  # the unlabelled item is in no case

  # Without pseudo-labels the pitch loss is Timbre-Trap's transcription loss.
  del batch['label_confidence']
  _, parts = jax.jit(lambda b: majl.separation_losses(
      _ScaleModel(), b, key, cqt, config))(batch)
  targets, item_mask = tt.batch_targets(batch, cqt, t, config)
  np.testing.assert_allclose(
      parts['pitch'], tt.transcription_loss(jnp.asarray(pred, jnp.float32),
                                            targets, item_mask), rtol=1e-4)


def test_cascade_salience_transcribes_the_separated_coefficients():
  config = majl_separation.get_config('quick')
  cqt = systems.get_system(config).make_frontend(config)
  n = int(0.7 * 22050)  # two slices, the second partly padding
  audio = np.random.default_rng(7).standard_normal((1, n)).astype(np.float32)
  sal = np.asarray(majl.cascade_salience(_ScaleModel(), audio, cqt, config))
  x = np.asarray(cqt_lib.cqt_transform(cqt, audio))[..., :sal.shape[-1]]
  expected = np.tanh(0.75 * np.sqrt((x ** 2).sum(axis=1)))  # 0.5 * 1.5
  expected[:, cqt.bin_frequencies() > 5000] = 0.0
  np.testing.assert_allclose(sal, expected, atol=1e-5)


def test_set_scores_weigh_nsdr_by_track_length_and_drums_are_fixed():
  tracks = [types.SimpleNamespace(audio=np.zeros(100, np.float32)),
            types.SimpleNamespace(audio=np.zeros(300, np.float32))]
  got = majl.separation_set_metrics([{'nsdr': 2.0}, {'nsdr': 6.0}], tracks)
  assert got == {'gnsdr': pytest.approx((2 * 100 + 6 * 300) / 400)}
  a = synthetic_drums.eval_drums('track-a', 2000, 22050)
  np.testing.assert_array_equal(a, synthetic_drums.eval_drums('track-a', 2000, 22050))
  assert not np.array_equal(a, synthetic_drums.eval_drums('track-b', 2000, 22050))


# ------------------------------------------------- majl_salience vs salience


def _hcqt_batch(n):
  rng = np.random.default_rng(3)
  labels = np.zeros((4, 440, 1 + n // 256), np.uint8)
  labels[0, 120] = 1
  labels[1, 200, 5:] = 1
  return {'audio': (0.3 * rng.standard_normal((4, n))).astype(np.float32),
          'drums': (0.3 * rng.standard_normal((4, n))).astype(np.float32),
          'labels': labels,
          'has_label': np.asarray([True, True, False, False])}


def _fake_salience_model(x):  # features [B, H, K, T] -> logits [B, K, T]
  return 4.0 * x[:, 1] - 2.0 + 0.5 * x[:, 2]


def test_majl_salience_without_weights_is_the_salience_objective():
  config = majl_degeneration.get_config('quick,none')
  with config.unlocked():
    config.data.excerpt_seconds = 0.3
    config.loss_weights.energy = 1.0  # the energy group, unlabelled only
    config.loss_weights.sparsity = 0.5
  plain = ml_collections.ConfigDict(config.to_dict())
  with plain.unlocked():
    del plain.loss_weights['dwhs']
  fb = systems.get_system(config).make_frontend(config)
  batch = _hcqt_batch(round(0.3 * 22050))
  key = jax.random.key(2, impl='rbg')

  @jax.jit
  def both(b):
    return (majl.salience_losses(_fake_salience_model, b, key, fb, config),
            salience.compute_losses(_fake_salience_model, b, key, fb, plain))

  (total, parts), (want, want_parts) = both(batch)
  np.testing.assert_allclose(total, want, rtol=1e-5)
  for term, value in want_parts.items():
    np.testing.assert_allclose(parts[term], value, rtol=1e-5, err_msg=term)
  np.testing.assert_allclose(
      parts['weighted_tasks'], parts['self_supervised'] + parts['supervised'],
      rtol=1e-5)
  assert float(parts['dwhs']) == 0.0
  for c in range(1, 5):
    for task in (1, 2):
      assert float(parts[f'dwhs/omega{task}/case{c}']) in (0.0, 1.0)
  assert sum(float(parts[f'dwhs/count/case{c}']) for c in range(1, 5)) == 2


def test_per_item_terms_average_to_the_batch_terms():
  config = majl_degeneration.get_config('quick')
  with config.unlocked():
    config.data.excerpt_seconds = 0.3
    config.loss_weights.energy = 1.0
  weights = {t: float(config.loss_weights[t]) for t in salience.TERMS}
  fb = systems.get_system(config).make_frontend(config)
  batch = _hcqt_batch(round(0.3 * 22050))

  @jax.jit
  def run(b):
    fwd = salience.forward(_fake_salience_model, b, KEY, fb, config,
                           terms=salience.enabled_terms(weights))
    return (salience.term_losses(fwd, b, config),
            salience.term_losses(fwd, b, config, per_item_values=True))

  scalars, items = run(batch)
  assert set(scalars) == {'supervised', 'timbre', 'geometric', 'percussion',
                          'energy'}
  for term, value in scalars.items():
    assert items[term].shape == (4,)
    np.testing.assert_allclose(items[term].mean(), value, rtol=1e-5)
  # Masked terms: zero outside their items (supervised: labelled items,
  # energy: unlabelled items).
  np.testing.assert_array_equal(np.asarray(items['supervised'])[2:], 0.0)
  np.testing.assert_array_equal(np.asarray(items['energy'])[:2], 0.0)


def test_pseudo_label_frames_below_threshold_are_masked():
  config = majl_degeneration.get_config('quick,none')
  with config.unlocked():
    config.data.excerpt_seconds = 0.3
  fb = systems.get_system(config).make_frontend(config)
  batch = _hcqt_batch(round(0.3 * 22050))
  conf = np.ones((4, batch['labels'].shape[-1]), np.float32)
  conf[1, :10] = 0.65  # masked
  conf[1, 10:14] = 0.7  # kept (>= th)
  batch['label_confidence'] = conf

  @jax.jit
  def run(b):
    fwd = salience.forward(_fake_salience_model, b, KEY, fb, config,
                           terms=('timbre', 'geometric', 'percussion'))
    return (majl.salience_losses(_fake_salience_model, b, KEY, fb, config)[1],
            fwd.logits['clean'])

  parts, logits = run(batch)
  z = np.asarray(logits, np.float64)
  y = np.asarray(supervised.blur_targets(batch['labels'], 1.0), np.float64)
  bce = (np.logaddexp(0, z) - y * z).sum(axis=1)  # [B, T]
  frames = np.ones_like(conf)
  frames[1, :10] = 0.0
  want = (bce * frames).mean(axis=-1)[:2].sum() / 2  # labelled items
  np.testing.assert_allclose(parts['supervised'], want, rtol=1e-5)


def _write_pseudo_labels(directory, n_items, n_samples):
  """A complete pseudo-label folder of ``n_items`` items: item i has the
  label bin 100 + i and confidence 0.6 on its first 10 frames, else 0.9."""
  from data_pipelines import pseudo_labels  # pylint: disable=g-import-not-at-top
  n_frames = 1 + n_samples // 256
  audio = (0.1 * np.random.default_rng(4).standard_normal(
      (n_items, n_samples))).astype(np.float32)
  labels = np.zeros((n_items, 440, n_frames), np.uint8)
  conf = np.full((n_items, n_frames), 0.9, np.float32)
  for i in range(n_items):
    labels[i, 100 + i] = 1
    conf[i, :10] = 0.6
  settings = dict(sample_rate=22050, hop_length=256, fmin=27.5,
                  bins_per_octave=60, n_bins=440, n_frames=n_frames,
                  excerpt_samples=n_samples,
                  excerpt_seconds=n_samples / 22050, num_items=n_items,
                  shard_items=256, seed=0, source='synthetic/train',
                  checkpoint='none', step=0, system='salience',
                  threshold=0.5)
  os.makedirs(directory)
  manifest = pseudo_labels.new_manifest(settings)
  pseudo_labels.write_shard(directory, 0, pseudo_labels.pack_records(
      audio, labels, conf))
  manifest['complete'] = True
  manifest['summary'] = pseudo_labels.summarize(directory, manifest)
  pseudo_labels.write_manifest(directory, manifest)


def test_stage2_batches_carry_confidences_into_the_losses(tmp_path):
  from data_pipelines import pipeline  # pylint: disable=g-import-not-at-top
  n = round(0.3 * 22050)
  _write_pseudo_labels(str(tmp_path / 'pseudo'), 4, n)
  config = majl_degeneration.get_config('quick,stage2')
  with config.unlocked():
    config.data.excerpt_seconds = 0.3
    config.data.pseudo_label_dir = str(tmp_path / 'pseudo')
  train.validate_config(config)
  batches = pipeline.train_batches(config)
  batch = next(batches)
  batches.close()
  assert batch['has_label'].tolist() == [True] * 4
  conf = batch['label_confidence']
  np.testing.assert_array_equal(conf[:2], 1.0)  # ground-truth slots
  np.testing.assert_allclose(conf[2:, :10], 0.6)  # pseudo-labelled slots
  np.testing.assert_allclose(conf[2:, 10:], 0.9)
  fb = systems.get_system(config).make_frontend(config)
  losses = jax.jit(lambda b: majl.salience_losses(_FakeWithDwm(), b, KEY, fb,
                                                  config))
  total, parts = losses(batch)
  assert np.isfinite(float(total))
  assert sum(float(parts[f'dwhs/count/case{c}']) for c in range(1, 5)) == 4
  # The masked frames drop out of the supervised loss: compare with every
  # pseudo-label frame kept.
  kept = dict(batch, label_confidence=np.ones_like(conf))
  _, parts_kept = losses(kept)
  assert float(parts['supervised']) < float(parts_kept['supervised'])


class _FakeWithDwm:
  """``_fake_salience_model`` with a fresh DWM (method 'dwhs')."""

  def __init__(self):
    cfg = majl_degeneration.get_config('quick').model.dwm
    self.dwm = DynamicWeightModule(cfg, rngs=nnx.Rngs(params=0))

  def __call__(self, x):
    return _fake_salience_model(x)


# ------------------------------------------------------------------ curves


def test_omega_figure(tmp_path):
  for name, scale in (('a', 1.0), ('b', 0.5)):
    w = MetricWriter(str(tmp_path / name))
    for step in (1, 2, 3):
      w.write(step, {'dwhs/omega1/case3': 1.0 + 0.1 * step * scale,
                     'dwhs/omega2/case3': 1.0,
                     'dwhs/count/case3': 2.0, 'dwhs/count/case1': 0.0,
                     'dwhs/omega1/case1': 0.0, 'loss/total': 3.0})
    w.close()
  got = curves.collect_omega([str(tmp_path / 'a'), str(tmp_path / 'b')],
                             ['a', 'b'])
  assert set(got) == {'omega1/case3', 'omega2/case3', 'count/case3',
                      'count/case1', 'omega1/case1'}
  assert got['omega1/case3']['b'][2] == (3, pytest.approx(1.15))
  out = tmp_path / 'omega.png'
  curves.draw_omega(got, str(out))
  assert out.stat().st_size > 5000
  with pytest.raises(ValueError, match='no dwhs'):
    train_only = tmp_path / 'c'
    w = MetricWriter(str(train_only))
    w.write(1, {'loss/total': 1.0})
    w.close()
    curves.collect_omega([str(train_only)], ['c'])


# -------------------------------------------------------------- short runs


def _records(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f if line.strip()]


def _check_run(workdir, result, extra_terms):
  lines = [r for r in _records(workdir) if 'loss/total' in r]
  assert [r['step'] for r in lines] == [1, 2]
  for key in ('loss/dwhs', 'loss/weighted_tasks', 'lr/dwm',
              'dwhs/omega1/case4', 'dwhs/omega2/case4', 'dwhs/count/case4',
              *extra_terms):
    assert np.isfinite(lines[-1][key]), key
  assert sum(lines[-1][f'dwhs/count/case{c}'] for c in range(1, 5)) == 2
  assert os.path.isdir(os.path.join(workdir, 'checkpoints', 'latest', '2'))
  saved = json.load(open(os.path.join(workdir, 'eval.json')))
  assert saved['final']['sets'] == result['final']['sets']
  return saved['final']['sets']['synthetic_mixtures/test']


@pytest.mark.slow
def test_two_steps_of_majl_separation(tmp_path):
  config = _small_separation_config()
  with config.unlocked():
    # XLA's convolutions compile ~6x faster than the CPU default 'direct'
    # (test_models checks that the two compute the same function).
    config.model.conv_impl = 'xla'
    config.train.batch_size = 4
    config.data.mixture.sources = ('synthetic/train', 'synthetic/train')
    config.data.mixture.proportions = (1, 1)
    config.data.mixture.use_labels = (True, False)  # two items in no case
    config.train.num_steps = 2
    config.train.checkpoint_every = 2
    config.data.eval_num_tracks = 1
    config.data.eval_track_seconds = 1.0
  workdir = str(tmp_path / 'sep')
  result = train.train_and_evaluate(config, workdir)
  scores = _check_run(workdir, result, ('loss/separation', 'loss/pitch'))
  assert {'f1', 'sdr', 'sdr_mixture', 'nsdr', 'gnsdr', 'mix_f1',
          'mix_rpa', 'mix_rca'} <= set(scores)
  assert scores['sdr_mixture'] > 0  # drums at volume 0.5 under the track
  # One track: GNSDR is its NSDR, SDR(separated) - SDR(mixture).
  assert scores['gnsdr'] == pytest.approx(scores['nsdr'])
  assert scores['nsdr'] == pytest.approx(scores['sdr'] - scores['sdr_mixture'])


@pytest.mark.slow
def test_two_steps_of_majl_degeneration(tmp_path):
  config = majl_degeneration.get_config('quick')
  tiny_config.set_tiny_shapes(config)
  with config.unlocked():
    config.data.excerpt_seconds = 0.3
    config.train.num_steps = 2
    config.train.checkpoint_every = 2
    config.data.eval_num_tracks = 1
    config.data.eval_track_seconds = 1.0
    config.eval.evaluation_sets = ('synthetic_mixtures/test',)
  workdir = str(tmp_path / 'deg')
  result = train.train_and_evaluate(config, workdir)
  scores = _check_run(workdir, result, ('loss/supervised',
                                        'loss/self_supervised',
                                        'loss/percussion'))
  assert 'f1' in scores
