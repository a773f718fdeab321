"""ISMIR 2025 configurations, the synthetic drum source, one joint step."""

import jax
import numpy as np
import pytest

from configs import ismir25
from data_pipelines import pipeline
from data_pipelines.generated import synthetic_drums
from mpe_jax import systems, train
import tiny_config


def test_every_variant_builds_with_the_paper_settings():
  ref = ismir25.get_config()
  assert ref.model.channels == (8, 16, 32, 64, 128)
  assert ref.model.norm == 'pre_activation'
  assert {k for k, w in ref.loss_weights.items() if w} == {
      'supervised', 'timbre', 'percussion', 'geometric'}
  assert (ref.optim.encoder_lr, ref.optim.decoder_lr) == (5e-4, 2.5e-4)
  assert ref.optim.schedule == 'cosine_warmup' and ref.optim.warmup_steps == 400
  assert ref.optim.clip_norm == 1.0 and ref.train.batch_size == 8
  assert ref.augment.eq.kind == 'parabolic'
  assert ref.augment.geometric.max_freq_shift == 60
  assert ref.eval.best_metric == 'urmp/valid/f1'
  for v in ismir25.VARIANTS:
    c = ismir25.get_config(v)
    assert c.train.batch_size == sum(c.data.mixture.proportions), v
  assert ismir25.get_config('spv').loss_weights.timbre == 0.0
  ns = ismir25.get_config('ns16')
  assert ns.train.batch_size == 24 and ns.data.mixture.use_labels == (True,
                                                                      False)
  eg = ismir25.get_config('mn16_eg')
  assert eg.loss_weights.energy == 1.0 and eg.objectives.energy_on_unlabeled_only
  ft = ismir25.get_config('fma16_ft')
  assert ft.optim.encoder_lr == pytest.approx(1e-4)
  assert ismir25.get_config('t1_t2').data.mixture.sources == (
      'urmp/train_t1', 'urmp/train_t2')
  with pytest.raises(ValueError, match='unknown configs/ismir25.py variant'):
    ismir25.get_config('ns32')


def test_synthetic_drums_are_deterministic_and_unpitched_noise_rich():
  a = synthetic_drums.synth_drums(0, 5, 22050)
  np.testing.assert_array_equal(a, synthetic_drums.synth_drums(0, 5, 22050))
  assert not np.array_equal(a, synthetic_drums.synth_drums(0, 6, 22050))
  assert a.dtype == np.float32 and a.shape == (22050,)
  assert np.max(np.abs(a)) == pytest.approx(1.0)
  # Broadband: a sizeable share of the energy lies above 2 kHz.
  spec = np.abs(np.fft.rfft(a)) ** 2
  freqs = np.fft.rfftfreq(len(a), 1 / 22050)
  assert spec[freqs > 2000].sum() / spec.sum() > 0.05


@pytest.mark.slow
def test_one_joint_step_with_every_objective():
  config = ismir25.get_config('demo_eg')
  with config.unlocked():
    config.data.mixture.sources = ('synthetic/train', 'synthetic/train')
    config.data.mixture.proportions = (2, 2)
    config.data.mixture.use_labels = (True, False)
    config.data.excerpt_seconds = 0.3
    config.train.batch_size = 4
  # Tiny shapes keep the compile short; the ISMIR 2025 widths are checked by
  # the parameter-count test.
  tiny_config.set_tiny_shapes(config)
  train.validate_config(config)
  batch = next(pipeline.train_batches(config, start_step=0))
  assert batch['has_label'].tolist() == [True, True, False, False]
  assert batch['drums'].shape == batch['audio'].shape
  tx, scheds = train.build_optimizer(config)
  graphdef, state = train.init_train_state(config, tx)
  frontend = systems.get_system(config).make_frontend(config)
  step = jax.jit(train.make_train_step(graphdef, frontend, tx, scheds, config))
  state, metrics = step(state, jax.tree.map(jax.numpy.asarray, batch))
  for term in ('supervised', 'timbre', 'geometric', 'percussion', 'energy',
               'sparsity'):
    assert np.isfinite(float(metrics[f'loss/{term}'])), term
  assert float(metrics['lr/encoder']) < 5e-4  # warming up
  assert int(state.step) == 1
