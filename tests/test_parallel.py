"""Data parallelism on 4 fake CPU devices: shardings, equivalence, bf16, SIGTERM.

The sharded train step must compute what one device computes on the same
global batch; mixed precision must keep parameters and optimizer state in
float32 and stay close to the float32 step.
"""

import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mpe_jax import parallel, systems, train
import tiny_config

NUM_STEPS = 3


def _batches(config, n):
  """``n`` global batches of tiny audio: harmonic tones in noise (numpy)."""
  rng = np.random.default_rng(0)
  b = config.train.batch_size
  n_samples = int(round(config.data.excerpt_seconds * config.hcqt.sample_rate))
  t = np.arange(n_samples) / config.hcqt.sample_rate
  out = []
  for _ in range(n):
    f0 = rng.uniform(120.0, 400.0, size=(b, 1))
    audio = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in (1, 2, 3))
    audio = audio + 0.05 * rng.standard_normal((b, n_samples))
    out.append({'audio': (audio / np.abs(audio).max(-1, keepdims=True)
                          ).astype(np.float32)})
  return out


def _run(config, mesh, batches):
  """Initial state -> ``len(batches)`` jitted steps on ``mesh``.

  Returns the final state (numpy) and each step's metrics (floats).
  """
  tx, scheds = train.build_optimizer(config)
  graphdef, state = train.init_train_state(config, tx)
  frontend = systems.get_system(config).make_frontend(config)
  step = parallel.jit_train_step(
      train.make_train_step(graphdef, frontend, tx, scheds, config), mesh)
  # From host values, so that no buffer is shared between runs (donation).
  state = parallel.replicate(jax.device_get(state), mesh)
  history = []
  for batch in batches:
    global_batch = parallel.to_global(batch, mesh)
    state, metrics = step(state, global_batch)
    history.append({k: float(v) for k, v in jax.device_get(metrics).items()})
  return jax.device_get(state), history, global_batch


@pytest.fixture(scope='module')
def config():
  return tiny_config.get_config('scaling')


@pytest.fixture(scope='module')
def sharded_run(config):
  """3 steps with the global batch split over the 4 devices."""
  assert jax.device_count() == 4
  return _run(config, parallel.make_mesh(), _batches(config, NUM_STEPS))


def test_batch_is_split_over_all_devices(config, sharded_run):
  _, _, global_batch = sharded_run
  audio = global_batch['audio']
  assert audio.shape[0] == config.train.batch_size
  shards = audio.addressable_shards
  assert len(shards) == 4
  assert {s.device for s in shards} == set(jax.devices())
  assert all(s.data.shape[0] == config.train.batch_size // 4 for s in shards)


def test_sharded_steps_equal_single_device_steps(config, sharded_run):
  state4, hist4, _ = sharded_run
  state1, hist1, _ = _run(config, parallel.make_mesh(jax.devices()[:1]),
                          _batches(config, NUM_STEPS))
  assert int(state4.step) == int(state1.step) == NUM_STEPS
  for m4, m1 in zip(hist4, hist1):
    for key in ('loss/total', 'loss/timbre', 'loss/geometric', 'norm/grad'):
      np.testing.assert_allclose(m4[key], m1[key], rtol=1e-5, err_msg=key)
  leaves4 = jax.tree.leaves(state4.params)
  leaves1 = jax.tree.leaves(state1.params)
  diff = max(float(np.abs(a - b).max()) for a, b in zip(leaves4, leaves1))
  assert diff < 1e-5, diff
  # The comparison is meaningful: training moved the parameters far more.
  _, init = train.init_train_state(config, train.build_optimizer(config)[0])
  moved = max(float(np.abs(a - b).max())
              for a, b in zip(leaves1, jax.tree.leaves(init.params)))
  assert moved > 100 * 1e-5, moved
  for a, b in zip(jax.tree.leaves(state4.opt_state),
                  jax.tree.leaves(state1.opt_state)):
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_bfloat16_compute_keeps_float32_state_and_losses(config, sharded_run):
  _, hist32, _ = sharded_run
  bf16 = tiny_config.get_config('scaling')
  with bf16.unlocked():
    bf16.model.compute_dtype = 'bfloat16'
  train.validate_config(bf16)
  state, hist16, _ = _run(bf16, parallel.make_mesh(), _batches(bf16, 1))
  for leaf in jax.tree.leaves(state.params) + jax.tree.leaves(
      state.opt_state):
    if jnp.issubdtype(leaf.dtype, jnp.floating):
      assert leaf.dtype == jnp.float32, leaf.dtype
  first16, first32 = hist16[0], hist32[0]
  for key in ('loss/total', 'loss/support', 'loss/harmonic', 'loss/sparsity',
              'loss/timbre', 'loss/geometric'):
    rel = abs(first16[key] - first32[key]) / abs(first32[key])
    assert rel < 2e-2, (key, first16[key], first32[key])
  # bf16 really was used: the losses are close, not bit-identical.
  assert first16['loss/total'] != first32['loss/total']


def test_unknown_compute_dtype_is_a_config_error(config):
  bad = tiny_config.get_config('scaling')
  with bad.unlocked():
    bad.model.compute_dtype = 'float16'
  with pytest.raises(ValueError, match='config.model.compute_dtype'):
    train.validate_config(bad)


def test_per_process_batch_size_validates_the_global_batch():
  mesh = parallel.make_mesh()
  assert parallel.per_process_batch_size(8, mesh) == 8  # one process
  with pytest.raises(ValueError, match='batch_size=6 must be divisible.*4'):
    parallel.per_process_batch_size(6, mesh)


def test_to_global_and_replicate():
  mesh = parallel.make_mesh()
  local = {'audio': np.arange(8 * 3, dtype=np.float32).reshape(8, 3)}
  g = parallel.to_global(local, mesh)['audio']
  assert g.sharding.spec == jax.sharding.PartitionSpec(parallel.DATA_AXIS)
  np.testing.assert_array_equal(np.asarray(g), local['audio'])
  rows = sorted((s.index[0].start, s.data.shape[0])
                for s in g.addressable_shards)
  assert rows == [(0, 2), (2, 2), (4, 2), (6, 2)]
  r = parallel.replicate({'w': np.ones(3, np.float32)}, mesh)['w']
  assert r.sharding.is_fully_replicated and len(r.addressable_shards) == 4
  assert parallel.broadcast_from_first({'x': np.float32(1.5)}) == {'x': 1.5}


def test_initialize_distributed_rejects_partial_flags():
  with pytest.raises(ValueError, match='must be given together'):
    parallel.initialize_distributed(num_processes=2)
  with pytest.raises(ValueError, match='process_id=2 must be in'):
    parallel.initialize_distributed(coordinator_address='127.0.0.1:1',
                                    num_processes=2, process_id=2)


def test_preemption_watch_turns_sigterm_into_a_stop():
  before = signal.getsignal(signal.SIGTERM)
  with parallel.PreemptionWatch() as watch:
    assert not watch.reached(1)
    os.kill(os.getpid(), signal.SIGTERM)
    assert watch.reached(2)
  assert signal.getsignal(signal.SIGTERM) is before


def test_cpu_device_count_is_one_per_core_dividing_the_batch():
  assert parallel.cpu_device_count(4, 2) == 2
  assert parallel.cpu_device_count(20, 16) == 10  # 16 does not divide 20
  assert parallel.cpu_device_count(7, 4) == 1
  assert parallel.cpu_device_count(2, 8) == 2  # never more than the batch
  assert parallel.cpu_device_count(20, 1) == 1
  assert parallel.cpu_device_count(20, 16, requested=3) == 3
  with pytest.raises(ValueError, match='cpu_devices must be >= 0'):
    parallel.cpu_device_count(4, 2, requested=-1)
  assert parallel.available_cpus() >= 1


def test_set_cpu_devices_defers_to_xla_flags_and_to_started_backends():
  # The suite runs with --xla_force_host_platform_device_count=4 (conftest),
  # and the backends exist by now: either way nothing changes.
  assert jax.device_count() == 4
  assert parallel.set_cpu_devices(2) is False
  assert jax.device_count() == 4


def test_evaluation_mesh_is_one_device_for_cpu_devices_sharing_cores():
  mesh = parallel.make_mesh()
  eval_mesh = parallel.evaluation_mesh(mesh)
  assert list(eval_mesh.devices.flat) == [jax.devices()[0]]
  single = parallel.make_mesh(jax.devices()[:1])
  assert parallel.evaluation_mesh(single) is single


def test_set_cpu_devices_in_a_fresh_process():
  """A fresh process without XLA_FLAGS gets cpu_device_count's devices."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  code = ('import jax\n'
          'from mpe_jax import parallel\n'
          'n = parallel.cpu_device_count(6, 3)\n'
          'assert parallel.set_cpu_devices(n)\n'
          'print(jax.device_count())\n')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                       text=True, env=env, timeout=300, check=True)
  assert out.stdout.split()[-1] == '3'


def test_validate_config_rejects_a_negative_cpu_device_count(config):
  bad = config.copy_and_resolve_references()
  bad.train.cpu_devices = -2
  with pytest.raises(ValueError, match=r'cpu_devices must be >= 0 .*got -2'):
    train.validate_config(bad)
