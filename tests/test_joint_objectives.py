"""ISMIR 2025 objectives: blurred targets, masks, percussion, energy."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import ssmpe
from mpe_jax.augment import mixing
from mpe_jax.features import hcqt as hcqt_lib
from mpe_jax.objectives import consistency, energy, salience, supervised


def test_blurred_target_of_an_isolated_pitch():
  y = np.zeros((1, 30, 2), np.uint8)
  y[0, 15, :] = 1
  t = np.asarray(supervised.blur_targets(jnp.asarray(y), 1.0))[0, :, 0]
  np.testing.assert_allclose(t[12:19], [0.011, 0.135, 0.607, 1, 0.607, 0.135,
                                        0.011], atol=1e-3)
  assert t[11] == pytest.approx(3.35e-4, rel=0.01) and t[10] == 0


def test_blur_normalises_by_the_weakest_ground_truth_and_clips():
  y = np.zeros((2, 30, 1), np.uint8)
  y[0, [10, 11], 0] = 1  # neighbours reinforce each other
  y[0, 0, 0] = 1  # an edge pitch loses half its kernel
  t = np.asarray(supervised.blur_targets(jnp.asarray(y), 1.0))
  assert t[0, 0, 0] == 1.0 and t[0, 10, 0] == 1.0 and t[0, 11, 0] == 1.0
  assert t.max() <= 1.0
  assert np.all(t[1] == 0)  # an item without ground truth stays empty
  np.testing.assert_array_equal(
      supervised.blur_targets(jnp.asarray(y), 0.0), y.astype(np.float32))


def _config(**weights):
  config = ssmpe.get_config()
  with config.unlocked():
    for t in salience.TERMS:
      config.loss_weights[t] = weights.get(t, 0.0)
  return config


@pytest.fixture(scope='module')
def batch():
  rng = np.random.default_rng(0)
  t = np.arange(4096) / 22050
  audio = np.stack([np.sin(2 * np.pi * f * t) for f in (220, 330, 440)])
  labels = np.zeros((3, 440, 17), np.uint8)
  labels[0, 180] = 1
  labels[1, 215] = 1
  return {'audio': jnp.asarray(audio, jnp.float32),
          'labels': jnp.asarray(labels),
          'has_label': jnp.asarray([True, True, False]),
          'drums': jnp.asarray(rng.standard_normal((3, 4096)), jnp.float32)}


FB = hcqt_lib.make_filterbank(hcqt_lib.HCQTConfig())
APPLY = lambda x: 8.0 * jnp.mean(x, axis=1) - 4.0  # a per-bin "model"


def _losses(batch, config, key=jax.random.key(0, impl='rbg')):
  return jax.jit(lambda b, k: salience.compute_losses(APPLY, b, k, FB,
                                                      config))(batch, key)


def test_supervised_loss_ignores_unlabelled_items_exactly(batch):
  config = _config(supervised=1.0)
  _, parts = _losses(batch, config)
  changed = dict(batch, audio=batch['audio'].at[2].set(0.0),
                 labels=batch['labels'].at[2, 300].set(1))
  _, parts2 = _losses(changed, config)
  assert float(parts['supervised']) == float(parts2['supervised'])
  logits = APPLY(hcqt_lib.hcqt_features(FB, batch['audio'])['db'])
  targets = supervised.blur_targets(batch['labels'], 1.0)
  per_item = [float(supervised.supervised_loss(logits[i:i + 1],
                                               targets[i:i + 1]))
              for i in range(2)]
  assert float(parts['supervised']) == pytest.approx(np.mean(per_item),
                                                     rel=1e-5)


def test_energy_terms_only_where_the_mask_says(batch):
  config = _config(energy=1.0, sparsity=1.0)
  with config.unlocked():
    config.objectives.energy_on_unlabeled_only = True
  _, parts = _losses(batch, config)
  feats = hcqt_lib.hcqt_features(FB, batch['audio'])
  logits = APPLY(feats['db'])
  want = energy.energy_loss(logits[2:], feats['db_h'][2:])
  assert float(parts['energy']) == pytest.approx(float(want), rel=1e-5)
  assert float(parts['sparsity']) == pytest.approx(
      float(energy.sparsity_loss(logits[2:])), rel=1e-5)
  with config.unlocked():
    config.objectives.energy_on_unlabeled_only = False
  _, parts_all = _losses(batch, config)
  assert float(parts_all['energy']) == pytest.approx(
      float(energy.energy_loss(logits, feats['db_h'])), rel=1e-5)


def test_percussion_changes_features_but_not_the_target(batch):
  config = _config(percussion=1.0)
  key = jax.random.key(3, impl='rbg')
  _, parts = _losses(batch, config, key)
  _, _, k_vol = jax.random.split(key, 3)
  v = mixing.sample_volumes(k_vol, 3, 1.0)
  assert bool(jnp.all((v >= 0) & (v <= 1)))
  clean = hcqt_lib.hcqt_features(FB, batch['audio'])['db']
  mixed = hcqt_lib.hcqt_features(
      FB, mixing.mix(batch['audio'], batch['drums'], v))['db']
  assert float(jnp.abs(mixed - clean).max()) > 0.1  # features change
  target = consistency.target_salience(APPLY(clean), stop_gradient=False)
  want = consistency.consistency_loss(APPLY(mixed), target)
  assert float(parts['percussion']) == pytest.approx(float(want), rel=1e-5)
  # Silent drums: the mixture is the clean input.
  _, silent = _losses(dict(batch, drums=jnp.zeros_like(batch['drums'])),
                      config, key)
  assert float(silent['percussion']) == pytest.approx(
      float(consistency.consistency_loss(APPLY(clean), target)), rel=1e-5)
  assert float(silent['percussion']) < float(parts['percussion'])
