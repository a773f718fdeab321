"""A short training run on 4 fake devices: logs, checkpoints, resume."""

import json
import os

import jax
import numpy as np
import pytest

from configs import ssmpe
from mpe_jax import checkpointing, train
import tiny_config


def run_config(num_steps=2):
  """The scale-out tests' tiny run (validation every 2 steps), evaluated
  before training too."""
  config = tiny_config.get_config('scaling')
  with config.unlocked():
    config.train.num_steps = num_steps
    config.eval.at_start = True
  return config


@pytest.mark.slow
def test_two_steps_then_resume(tmp_path):
  workdir = str(tmp_path)
  assert jax.device_count() == 4
  result = train.train_and_evaluate(run_config(2), workdir)
  # Logs, results, checkpoints.
  lines = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))]
  train_lines = [l for l in lines if 'loss/total' in l]
  assert [l['step'] for l in train_lines] == [1, 2]
  for key in ('loss/support', 'loss/harmonic', 'loss/sparsity',
              'loss/timbre', 'loss/geometric', 'norm/grad', 'lr/encoder'):
    assert np.isfinite(train_lines[-1][key]), key
  assert any('val/synthetic_mixtures/valid/f1' in l for l in lines)
  saved = json.load(open(os.path.join(workdir, 'eval.json')))
  assert set(saved['final']['sets']['synthetic_mixtures/test']) >= {
      'precision', 'recall', 'accuracy', 'f1'}
  assert result['final']['sets'] == saved['final']['sets']
  assert 'initial' in saved  # eval.at_start
  step_dir = checkpointing.find_checkpoint(workdir, prefer='latest')
  assert step_dir.endswith(os.path.join('latest', '2'))
  assert checkpointing.read_checkpoint_config(step_dir)['model']['variant'] \
      == 'ssmpe'
  assert os.path.isdir(os.path.join(workdir, 'checkpoints', 'best', '2'))
  spent = json.load(open(os.path.join(workdir, 'cpu_time.json')))
  assert spent['step'] == 2 and spent['cpu_seconds'] > 0
  assert train_lines[-1]['perf/cpu_hours'] > 0

  # Resume: the same command continues at step 2; a CPU budget already
  # spent by step 3 stops the run there (validated, checkpointed, evaluated)
  # although 5 steps were asked for.
  config = run_config(5)
  with config.unlocked():
    # Spent as soon as step 3 has taken a millisecond of CPU.
    config.train.cpu_budget_hours = (spent['cpu_seconds'] + 1e-3) / 3600
  tx, _ = train.build_optimizer(config)
  abstract = jax.eval_shape(lambda: train.init_train_state(config, tx)[1])
  before = checkpointing.restore_params_from(step_dir, abstract)
  assert int(before.step) == 2
  train.train_and_evaluate(config, workdir)
  lines = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))]
  assert [l['step'] for l in lines if 'loss/total' in l] == [1, 2, 3]
  assert any('val/synthetic_mixtures/valid/f1' in l and l['step'] == 3
             for l in lines)
  resumed = json.load(open(os.path.join(workdir, 'cpu_time.json')))
  assert resumed['step'] == 3
  assert resumed['cpu_seconds'] > spent['cpu_seconds']  # carried, then added
  after = checkpointing.restore_params_from(
      checkpointing.find_checkpoint(workdir, prefer='latest'), abstract)
  assert int(after.step) == 3
  # Restored state was used: the optimizer's step count continued.
  assert not np.allclose(jax.tree.leaves(before.params)[0],
                         jax.tree.leaves(after.params)[0])

  # Rerun with the budget spent: no step, the best checkpoint evaluated.
  os.remove(os.path.join(workdir, 'eval.json'))
  train.train_and_evaluate(config, workdir)
  lines = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))]
  assert [l['step'] for l in lines if 'loss/total' in l] == [1, 2, 3]
  assert os.path.exists(os.path.join(workdir, 'eval.json'))


def test_nan_guard_names_the_step():
  with pytest.raises(train.TrainingDiverged, match='at step 7.*step 5'):
    train._check_finite(7, {'loss/total': float('nan'), 'norm/grad': 1.0}, 5)
  train._check_finite(7, {'loss/total': 1.0}, 5)


def test_config_errors_are_one_line():
  config = run_config()
  with config.unlocked():
    config.model.n_bins = 400
  with pytest.raises(ValueError, match='must equal config.hcqt.n_bins'):
    train.validate_config(config)
  config = run_config()
  with config.unlocked():
    config.loss_weights.harmonc = 1.0
  with pytest.raises(ValueError, match='unknown terms'):
    train.validate_config(config)
  config = run_config()
  with config.unlocked():
    config.eval.length_buckets = -1
  with pytest.raises(ValueError, match='length_buckets must be >= 0'):
    train.validate_config(config)
  config = run_config()
  with config.unlocked():
    config.train.cpu_budget_hours = -1.0
  with pytest.raises(ValueError, match='cpu_budget_hours must be >= 0'):
    train.validate_config(config)


def test_quick_and_full_configs_are_complete():
  full, quick = ssmpe.get_config(), ssmpe.get_config('quick')
  assert full.train.batch_size == 20 and full.train.num_steps == 45000
  assert quick.train.num_steps < 1000
  for variant in ('energy', 'timbre', 'geometric'):
    c = ssmpe.get_config(variant)
    assert c.loss_weights.harmonic == 1.0
  with pytest.raises(ValueError, match='unknown configs/ssmpe.py variant'):
    ssmpe.get_config('qiuck')


def test_dispatch_window_waits_for_the_step_ahead_steps_back():
  """The host waits for step n - ahead when it dispatches step n, in order."""
  waited = []

  class Output:
    def __init__(self, n):
      self.n = n

    def block_until_ready(self):
      waited.append(self.n)
      return self

  window = train.DispatchWindow(ahead=2)
  for n in range(5):
    window.push({'loss': Output(n)})
    assert waited == list(range(max(0, n - 1)))
    assert len(window) == min(n + 1, 2)
  with pytest.raises(ValueError, match='ahead'):
    train.DispatchWindow(ahead=0)


def test_cpu_allocator_hint_only_where_it_pays():
  """Suggested on CPU from 8 items per process, unless one is preloaded."""
  hint = train.cpu_allocator_hint('cpu', 20, '')
  assert hint and 'tcmalloc' in hint and '\n' not in hint
  assert train.cpu_allocator_hint('cpu', 4, '') is None
  assert train.cpu_allocator_hint('gpu', 64, '') is None
  assert train.cpu_allocator_hint(
      'cpu', 20, '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2') is None
