"""SIGTERM (a preemption notice) during training: a restorable checkpoint of
the current step, and a clean exit."""

import os
import re
import signal
import sys

import jax
import numpy as np
import pytest

from mpe_jax import checkpointing, train
import run_utils
import tiny_config


@pytest.mark.slow
def test_sigterm_saves_the_current_step_and_exits_cleanly(tmp_path):
  workdir = str(tmp_path / 'run')
  log_path = str(tmp_path / 'train.log')
  metrics = os.path.join(workdir, 'metrics.jsonl')
  never = '100000'  # no periodic checkpoint, no validation, no natural end
  proc = run_utils.start(
      [sys.executable, '-m', 'mpe_jax.main',
       '--config=tests/tiny_config.py:scaling', f'--workdir={workdir}',
       f'--config.train.num_steps={never}',
       f'--config.train.checkpoint_every={never}',
       f'--config.train.eval_every={never}'], log_path)
  try:
    run_utils.wait_for_step(proc, metrics, 2, timeout_s=480)
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=240)
  except BaseException as e:
    run_utils.kill_group(proc)
    raise AssertionError(f'{e}\n{run_utils.tail(log_path)}') from e
  log = open(log_path).read()
  assert rc == 0, run_utils.tail(log_path)
  stopped = [int(s) for s in re.findall(r'Stopped at step (\d+)', log)]
  assert len(stopped) == 1, run_utils.tail(log_path)
  step = stopped[0]
  steps = run_utils.train_steps(metrics)
  assert step >= 2 and steps == list(range(1, step + 1)), (step, steps)

  # The only checkpoint is the preemption save, at the step training reached.
  step_dir = checkpointing.find_checkpoint(workdir, prefer='latest')
  assert step_dir.endswith(os.path.join('latest', str(step)))
  config = tiny_config.get_config('scaling')
  tx, _ = train.build_optimizer(config)
  abstract = jax.eval_shape(lambda: train.init_train_state(config, tx)[1])
  state = checkpointing.restore_params_from(step_dir, abstract)
  assert int(state.step) == step
  # Adam's own step count agrees: the state is the one after `step` updates.
  counts = [int(x) for x in jax.tree.leaves(state.opt_state)
            if np.ndim(x) == 0 and np.issubdtype(np.asarray(x).dtype,
                                                 np.integer)]
  assert counts and set(counts) == {step}, counts
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state.params))
