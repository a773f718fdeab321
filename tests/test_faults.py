"""Runs that survive faults: kill -9, corrupted checkpoints, config typos,
a loss that becomes NaN."""

import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import tiny_config
from mpe_jax import checkpointing, cli, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, 'tests', 'tiny_config.py')


def _abstract_state(config):
  tx, _ = train.build_optimizer(config)
  abstract = jax.eval_shape(lambda: train.init_train_state(config, tx)[1])
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  return jax.tree.map(
      lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device),
      abstract)


def _restore(step_dir, config):
  return jax.device_get(checkpointing.restore_params_from(
      str(step_dir), _abstract_state(config)))


def _assert_same_state(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# -------------------------------------------------------------- typos ---


def _main_with(override: str) -> subprocess.CompletedProcess:
  """The training command on the quick config with one bad override."""
  return subprocess.run(
      [sys.executable, '-m', 'mpe_jax.main',
       '--config=configs/ssmpe.py:quick', override,
       '--workdir=/nonexistent/never_created'],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_config_typo_fails_fast_with_the_valid_keys():
  proc = _main_with('--config.train.batch_sise=4')
  assert proc.returncode == 2
  assert proc.stderr.count('\n') == 1, proc.stderr
  assert ('error: unknown config key --config.train.batch_sise; valid keys '
          'of config.train: batch_size, checkpoint_every, cpu_budget_hours, '
          'cpu_devices, '
          'early_stop_patience, eval_every, init_checkpoint, log_every, '
          'num_steps'
          ) in proc.stderr
  assert not os.path.exists('/nonexistent/never_created')


def test_negative_cpu_device_count_is_one_line_before_jax_starts():
  proc = _main_with('--config.train.cpu_devices=-1')
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      'mpe_jax: error: config.train.cpu_devices must be >= 0 (0: one per '
      'core), got -1'), proc.stderr
  assert not os.path.exists('/nonexistent/never_created')


@pytest.mark.parametrize('override,fragment', [
    ('--config.trian.batch_size=4', 'valid keys of config: augment, data, '),
    ('--config.optim.plateau.patince=3', 'valid keys of config.optim.plateau:'
                                         ' enabled, factor, metric, '),
    ('--config.seed.x=3', 'config.seed is a value, not a group of keys'),
])
def test_unknown_override_messages(override, fragment):
  message = cli.unknown_override(
      ['prog', f'--config={ROOT}/configs/ssmpe.py', override])
  assert fragment in message
  assert cli.unknown_override(
      ['prog', f'--config={ROOT}/configs/ssmpe.py:quick',
       '--config.train.batch_size=4', '--config.hcqt.gamma=2.0']) is None


# -------------------------------------------------- corrupted checkpoint ---


def _garble(step_dir):
  rng = np.random.default_rng(1)
  for root, _, files in os.walk(os.path.join(step_dir, 'state')):
    for name in files:
      path = os.path.join(root, name)
      size = max(os.path.getsize(path), 16)
      with open(path, 'wb') as f:
        f.write(rng.integers(0, 256, size, dtype=np.uint8).tobytes())


def test_corrupted_newest_checkpoint_is_skipped(tmp_path, tiny_trained_run,
                                               caplog):
  config = tiny_config.get_config()
  workdir = tmp_path / 'run'
  shutil.copytree(tiny_trained_run, workdir)
  latest = workdir / 'checkpoints' / 'latest'
  assert sorted(os.listdir(latest)) == ['1', '2']
  step1 = _restore(tiny_trained_run / 'checkpoints' / 'latest' / '1', config)
  _garble(latest / '2')  # every byte of the newest state replaced

  ckpt = checkpointing.Checkpointer(str(workdir))
  with caplog.at_level(logging.WARNING):
    state, step = ckpt.restore_latest(_abstract_state(config))
  assert step == 1
  _assert_same_state(jax.device_get(state), step1)
  messages = [r.getMessage() for r in caplog.records]
  assert any('latest/2 cannot be restored' in m and 'trying an older one' in m
             for m in messages), messages
  # Set aside for inspection, so that the resumed run writes step 2 again.
  assert sorted(os.listdir(latest)) == ['1']
  assert os.listdir(workdir / 'checkpoints' / 'unreadable') == ['latest-2']
  ckpt.save_latest(2, state, config)
  ckpt.wait()
  assert ckpt.restore_latest(_abstract_state(config))[1] == 2
  ckpt.close()

  # Nothing readable at all: an error, and nothing is moved or overwritten.
  _garble(latest / '1')
  _garble(latest / '2')
  ckpt = checkpointing.Checkpointer(str(workdir))
  with pytest.raises(checkpointing.CheckpointError,
                     match=r'has checkpoints \(steps \[1, 2\]\) but none can '
                           'be restored'):
    ckpt.restore_latest(_abstract_state(config))
  assert sorted(os.listdir(latest)) == ['1', '2']
  ckpt.close()


# ------------------------------------------------------------ NaN loss ---


@pytest.mark.slow
def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(
    tmp_path, tiny_trained_run, monkeypatch):
  """The run resumes at step 2 of a copy of the shared run; the data of step 4
  is NaN (a data hook, as a corrupt corpus file would be)."""
  from data_pipelines import pipeline  # pylint: disable=g-import-not-at-top

  real = pipeline.train_batches

  def nan_at_step_4(config, *, start_step=0, **kwargs):
    batches = real(config, start_step=start_step, **kwargs)
    for step, batch in enumerate(batches, start=start_step + 1):
      if step == 4:
        batch = dict(batch, audio=np.full_like(batch['audio'], np.nan))
      yield batch

  monkeypatch.setattr(pipeline, 'train_batches', nan_at_step_4)
  workdir = tmp_path / 'run'
  shutil.copytree(tiny_trained_run, workdir)
  os.remove(workdir / 'eval.json')
  config = tiny_config.get_config('6')
  with pytest.raises(train.TrainingDiverged,
                     match=r'non-finite .*loss/total.* at step 4; the last '
                           r'good checkpoint is step 3'):
    train.train_and_evaluate(config, str(workdir))
  latest = workdir / 'checkpoints' / 'latest'
  assert sorted(os.listdir(latest)) == ['2', '3']  # step 4 never saved
  state = _restore(latest / '3', config)
  assert int(state.step) == 3
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state.params))
  assert not os.path.exists(workdir / 'eval.json')


# -------------------------------------------------------------- kill -9 ---


def _main(workdir):
  return [sys.executable, '-m', 'mpe_jax.main', f'--config={TINY}',
          f'--workdir={workdir}']


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_same_parameters(tmp_path,
                                                      tiny_trained_run):
  """SIGKILL once the first checkpoint is committed (step 2 is then being
  computed, or its checkpoint written); the same command then finishes the
  run with exactly the state of the uninterrupted run."""
  workdir = tmp_path / 'run'
  log = open(tmp_path / 'first.log', 'w')
  proc = subprocess.Popen(_main(workdir), cwd=ROOT, stdout=log,
                          stderr=subprocess.STDOUT)
  first = workdir / 'checkpoints' / 'latest' / '1'
  deadline = time.monotonic() + 600
  while not first.exists() and proc.poll() is None:
    assert time.monotonic() < deadline, 'no checkpoint after 10 minutes'
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  log.close()
  assert proc.returncode == -signal.SIGKILL, open(tmp_path / 'first.log').read()
  assert not (workdir / 'eval.json').exists()

  again = subprocess.run(_main(workdir), cwd=ROOT, capture_output=True,
                         text=True, timeout=900, check=False)
  assert again.returncode == 0, again.stderr[-3000:]
  assert (workdir / 'eval.json').exists()
  config = tiny_config.get_config()
  resumed = _restore(workdir / 'checkpoints' / 'latest' / '2', config)
  reference = _restore(tiny_trained_run / 'checkpoints' / 'latest' / '2',
                       config)
  _assert_same_state(resumed, reference)  # params, optimizer state, step, key
