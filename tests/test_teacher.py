"""Distillation from a frozen trained model (``mpe_jax/teacher.py`` and the
'distill' term of ``objectives/salience.py``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tiny_config
from configs import pretrained_v2, ssmpe
from mpe_jax import teacher as teacher_lib
from mpe_jax import systems, train, train_state
from mpe_jax.objectives import salience


def _distill_config(teacher_dir, **weights):
  config = tiny_config.get_config('2')
  with config.unlocked():
    for term in salience.TERMS:
      config.loss_weights[term] = 0.0
    config.loss_weights.distill = 1.0
    for term, weight in weights.items():
      config.loss_weights[term] = weight
    config.teacher.checkpoint = str(teacher_dir)
  return config


def _batch(config, items=2, seed=0):
  n = int(config.data.excerpt_seconds * config.hcqt.sample_rate)
  rng = np.random.default_rng(seed)
  t = np.arange(n) / config.hcqt.sample_rate
  audio = np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in (220.0, 330.0)
                    ][:items]) + 0.01 * rng.standard_normal((items, n))
  return {'audio': jnp.asarray(audio, jnp.float32),
          'has_label': jnp.zeros((items,), jnp.float32)}


def test_a_student_equal_to_its_teacher_gets_no_gradient(tiny_trained_run):
  config = _distill_config(tiny_trained_run)
  teacher = teacher_lib.load_teacher(config)
  assert teacher is not None and 'trained_run' in teacher.source
  frontend = systems.get_system(config).make_frontend(config)
  tx, scheds = train_state.build_optimizer(config)
  graphdef, state = train_state.init_train_state(config, tx)
  step = jax.jit(train.make_train_step(graphdef, frontend, tx, scheds, config,
                                       teacher))
  # The student starts as the teacher: BCE against its own salience is at
  # its minimum, so the gradient vanishes.
  same = state.replace(params=jax.tree.map(jnp.asarray, teacher.params))
  _, metrics = step(same, _batch(config))
  assert float(metrics['norm/grad']) < 1e-4
  assert float(metrics['loss/distill']) > 0.0  # the teacher's entropy
  # A random student is pulled: its distillation loss falls with training.
  losses = []
  for _ in range(8):
    state, metrics = step(state, _batch(config))
    losses.append(float(metrics['loss/distill']))
  assert float(metrics['norm/grad']) > 1e-3
  assert losses[-1] < losses[0]


def test_distill_without_a_teacher_is_a_one_line_error():
  config = _distill_config('')
  with pytest.raises(ValueError, match='teacher.checkpoint is empty'):
    train.validate_config(config)
  with pytest.raises(ValueError, match='teacher.checkpoint is empty'):
    teacher_lib.load_teacher(config)


def test_no_teacher_without_a_distill_weight(tiny_trained_run):
  config = _distill_config(tiny_trained_run, distill=0.0, supervised=1.0)
  assert teacher_lib.load_teacher(config) is None
  assert teacher_lib.with_targets(None, None, {'audio': 1}) == {'audio': 1}


def test_a_teacher_on_another_hcqt_grid_is_a_one_line_error(tiny_trained_run):
  config = ssmpe.get_config()
  with config.unlocked():
    config.loss_weights.distill = 1.0
    config.teacher.checkpoint = str(tiny_trained_run)
  with pytest.raises(ValueError, match='another HCQT .*bins_per_octave'):
    teacher_lib.load_teacher(config)


def test_the_distill_term_needs_the_teacher_salience_in_the_batch():
  config = tiny_config.get_config('2')
  weights = {t: 0.0 for t in salience.TERMS}
  weights['distill'] = 1.0
  logits = jnp.zeros((1, 36, 8))
  fwd = salience.Forward(feats={}, logits={'clean': logits}, geometric=None,
                         terms=('distill',))
  with pytest.raises(ValueError, match="'teacher' salience"):
    salience.term_losses(fwd, {'audio': jnp.zeros((1, 10))}, config)
  target = jnp.full((1, 36, 8), 0.25)
  parts = salience.term_losses(fwd, {'teacher': target}, config)
  # BCE(0 logits, 0.25) = log 2 per bin, summed over bins, mean over frames.
  np.testing.assert_allclose(float(parts['distill']), 36 * np.log(2.0),
                             rtol=1e-5)


def test_configs_written_before_distillation_still_name_every_term():
  weights = {t: 0.0 for t in salience.TERMS if t != 'distill'}
  weights['supervised'] = 1.0
  assert salience.enabled_terms(weights) == ('supervised',)
  with pytest.raises(ValueError, match='missing'):
    salience.enabled_terms({'supervised': 1.0})


def test_the_distill_recipe_names_its_teacher_on_the_command_line():
  config = pretrained_v2.get_config('distill')
  assert config.loss_weights.distill > 0
  assert config.teacher.checkpoint == ''
  assert config.model.residual_dilations == pretrained_v2.PRUNED['thin']
  with pytest.raises(ValueError, match='teacher.checkpoint is empty'):
    train.validate_config(config)
