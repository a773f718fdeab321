"""Two processes x two fake CPU devices on 127.0.0.1 (gloo) vs one process.

One run of ``launch/local_multiprocess.sh 2 2`` trains the tiny config, is
preempted (SIGTERM to the launcher, forwarded to both processes) after a few
steps, and must:
* log the same losses as one process with 4 devices on the same global
  batches (each process reads only its half of every batch);
* stop both processes at one agreed step with one checkpoint, which restores
  in this (single) process and equals the single-process state after as many
  steps.
"""

import os
import re
import signal

import jax
import numpy as np
import pytest

from data_pipelines import pipeline
from mpe_jax import checkpointing, parallel, systems, train
import run_utils
import tiny_config

LAUNCHER = os.path.join(run_utils.REPO, 'launch', 'local_multiprocess.sh')
COMPARED_STEPS = 3
NEVER = '100000'


def _single_process_run(config, num_steps):
  """The reference: ``num_steps`` steps on this process's 4 devices."""
  mesh = parallel.make_mesh()
  tx, scheds = train.build_optimizer(config)
  graphdef, state = train.init_train_state(config, tx)
  frontend = systems.get_system(config).make_frontend(config)
  step = parallel.jit_train_step(
      train.make_train_step(graphdef, frontend, tx, scheds, config), mesh)
  state = parallel.replicate(state, mesh)
  batches = pipeline.train_batches(config, process_index=0, process_count=1)
  losses = []
  for _ in range(num_steps):
    state, metrics = step(state, parallel.to_global(next(batches), mesh))
    losses.append({k: float(v) for k, v in jax.device_get(metrics).items()
                   if k.startswith('loss/')})
  batches.close()
  return jax.device_get(state), losses


def _records(metrics_path):
  import json  # pylint: disable=g-import-not-at-top
  with open(metrics_path) as f:
    return [json.loads(line) for line in f if line.strip()]


@pytest.mark.slow
def test_two_processes_equal_one_and_stop_together(tmp_path):
  assert jax.device_count() == 4
  workdir = str(tmp_path / 'run')
  log_dir = str(tmp_path / 'logs')
  launcher_log = str(tmp_path / 'launcher.log')
  metrics = os.path.join(workdir, 'metrics.jsonl')
  proc = run_utils.start(
      [LAUNCHER, '2', '2', '--', '--config=tests/tiny_config.py:scaling',
       f'--workdir={workdir}', f'--config.train.num_steps={NEVER}',
       f'--config.train.checkpoint_every={NEVER}',
       # Validation (every 2 steps) runs on both processes; the LR plateau
       # rule is off so that parameters depend on the training steps only.
       '--config.optim.plateau.enabled=False'],
      launcher_log, MPE_JAX_LOG_DIR=log_dir, MPE_JAX_KILL_AFTER='20')
  logs = [os.path.join(log_dir, f'process_{i}.log') for i in (0, 1)]

  def tails():
    return '\n'.join(run_utils.tail(p) for p in [launcher_log] + logs)

  try:
    run_utils.wait_for_step(proc, metrics, COMPARED_STEPS, timeout_s=540)
    proc.send_signal(signal.SIGTERM)  # forwarded to both processes
    rc = proc.wait(timeout=240)
  except BaseException as e:
    run_utils.kill_group(proc)
    raise AssertionError(f'{e}\n{tails()}') from e
  assert rc == 0, tails()

  # Both processes stopped after the same step, the last one trained.
  stopped = [re.findall(r'Stopped at step (\d+)', open(p).read())
             for p in logs]
  assert all(len(s) == 1 for s in stopped), tails()
  step = int(stopped[0][0])
  assert int(stopped[1][0]) == step
  records = _records(metrics)
  train_records = [r for r in records if 'loss/total' in r]
  assert [r['step'] for r in train_records] == list(range(1, step + 1))
  assert any('val/synthetic_mixtures/valid/f1' in r for r in records)

  config = tiny_config.get_config('scaling')
  with config.unlocked():
    config.optim.plateau.enabled = False
  reference, losses = _single_process_run(config, step)
  for record, expected in zip(train_records[:COMPARED_STEPS], losses):
    for key, value in expected.items():
      np.testing.assert_allclose(record[key], value, rtol=1e-5,
                                 err_msg=f'step {record["step"]} {key}')

  # The 2-process checkpoint restores here (one process, 4 devices).
  step_dir = checkpointing.find_checkpoint(workdir, prefer='latest')
  assert step_dir.endswith(os.path.join('latest', str(step)))
  tx, _ = train.build_optimizer(config)
  repl = parallel.replicated(parallel.make_mesh())
  abstract = jax.tree.map(
      lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=repl),
      jax.eval_shape(lambda: train.init_train_state(config, tx)[1]))
  restored = checkpointing.restore_params_from(step_dir, abstract)
  assert int(restored.step) == step
  for got, want in zip(jax.tree.leaves(restored.params),
                       jax.tree.leaves(reference.params)):
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
