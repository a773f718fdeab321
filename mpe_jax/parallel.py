"""Device mesh, shardings, the host -> device batch boundary, multi-host set-up.

One ``data`` mesh axis spans every device of every process. Batches are
sharded along it; parameters and optimizer state are replicated. The train
step is one ``jax.jit`` with explicit input/output shardings and a donated
train state: the jit/sharding form of classic data parallelism (what ``pmap``
used to do). The same code runs on one CPU, one GPU, a multi-GPU node, a SLURM
cluster and a multi-host TPU pod slice.

Multi-host runs are opt-in: ``initialize_distributed`` (``--distributed`` in
``mpe_jax.main``) starts JAX's distributed runtime before the first JAX
computation. Every process then runs the same program on its own devices and
feeds its own shard of the global batch (``to_global``).

Devices of the mesh are ordered by process (``jax.devices()`` order), so the
global batch is the concatenation of the per-process batches in process order:
process ``p`` holds rows ``[p * b, (p + 1) * b)`` of a global batch of ``B``
items (``b = B / process_count``).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
from typing import Any, Callable, Mapping

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = 'data'


# ------------------------------------------------------ distributed set-up ---


def initialize_distributed(*, coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> None:
  """Starts JAX's distributed runtime (call before any JAX computation).

  With no arguments JAX detects the cluster itself (Cloud TPU VMs, SLURM,
  Open MPI, Kubernetes). Elsewhere (a cluster without auto-detection, or
  several local processes on ``127.0.0.1``) pass all three arguments.
  Collectives between CPU devices of different processes use gloo, so the
  same code also runs as several local CPU processes.

  On SLURM JAX gives each process one GPU (``SLURM_LOCALID``): start one task
  per GPU (see ``launch/slurm_gpu.sbatch``).

  Args:
    coordinator_address: ``host:port`` of process 0, reachable by every
      process.
    num_processes: total number of processes.
    process_id: this process's index in ``[0, num_processes)``.

  Raises:
    ValueError: one line naming the flags when the arguments are incomplete or
      inconsistent, or the runtime cannot start.
  """
  explicit = (coordinator_address, num_processes, process_id)
  if any(v is not None for v in explicit) and None in explicit:
    raise ValueError('--coordinator_address, --num_processes and --process_id '
                     'must be given together (or none of them, to let JAX '
                     'detect a TPU / SLURM / MPI cluster).')
  if num_processes is not None and not 0 <= process_id < num_processes:
    raise ValueError(f'--process_id={process_id} must be in [0, '
                     f'--num_processes={num_processes}).')
  if jax.distributed.is_initialized():
    raise ValueError('jax.distributed is already initialised in this '
                     'process; call initialize_distributed once, first.')
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  try:
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes,
                               process_id=process_id)
  except (ValueError, RuntimeError) as e:
    first = str(e).strip().splitlines()[0] if str(e).strip() else ''
    raise ValueError(
        f'cannot start the distributed runtime ({type(e).__name__}: '
        f'{first[:300]}); outside TPU / SLURM / MPI clusters pass '
        '--coordinator_address=HOST:PORT --num_processes=N --process_id=I.'
    ) from e
  logging.info('Distributed runtime: process %d of %d, %d local / %d global '
               'devices.', jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count())


# ------------------------------------------------- CPU devices per process ---
# XLA:CPU runs one program per device, each op spread over the cores by an
# intra-op thread pool; this model's ops (small convolutions, elementwise
# passes) spread poorly, and its step has serial stretches. Splitting the
# batch over one CPU device per core instead runs the programs side by side:
# the SS-MPE step at batch 4 on 2 cores ran 1.07-1.34x faster (paired
# medians) with 2 devices than with 1 (docs/scaling.md, "One CPU device per
# core").


def check_cpu_devices(requested: int) -> None:
  """Raises a one-line ValueError unless ``config.train.cpu_devices >= 0``."""
  if requested < 0:
    raise ValueError(f'config.train.cpu_devices must be >= 0 (0: one per '
                     f'core), got {requested}')


def cpu_device_count(batch_size: int, cpus: int, requested: int = 0) -> int:
  """CPU devices for a process: ``requested`` if > 0, else the largest count
  that is at most ``cpus`` and divides ``batch_size`` (at least 1)."""
  check_cpu_devices(requested)
  if requested:
    return requested
  return max(d for d in range(1, max(1, min(cpus, batch_size)) + 1)
             if batch_size % d == 0)


def available_cpus() -> int:
  """CPU cores this process may run on (its affinity mask where known)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


def set_cpu_devices(count: int) -> bool:
  """Asks JAX for ``count`` CPU devices; must run before JAX's first device
  query. A device count already given in ``XLA_FLAGS``
  (``--xla_force_host_platform_device_count``) wins: False then, or when the
  backends already exist; True when set. Accelerators are unaffected."""
  if 'xla_force_host_platform_device_count' in os.environ.get('XLA_FLAGS',
                                                              ''):
    return False
  try:
    jax.config.update('jax_num_cpu_devices', int(count))
  except RuntimeError:  # backends initialised: too late, keep what exists
    return False
  return True


def evaluation_mesh(mesh: Mesh) -> Mesh:
  """The mesh for validation and evaluation programs.

  Those run replicated (every device computes the whole batch). On a single
  process with several CPU devices that would repeat the same work once per
  device on the same cores, so there it is the first device alone (whose
  program still uses every core); otherwise ``mesh`` itself.
  """
  devices = list(mesh.devices.flat)
  if (len(devices) > 1 and jax.process_count() == 1
      and all(d.platform == 'cpu' for d in devices)):
    return make_mesh(devices[:1])
  return mesh


# ------------------------------------------------------- mesh & shardings ---


def make_mesh(devices: list | None = None) -> Mesh:
  """A 1-D mesh named ``data`` over ``devices`` (default: all devices).

  The default order is ``jax.devices()``: grouped by process, so each
  process's devices hold one contiguous block of the global batch.
  """
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over ``data``."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  """Fully replicated over the mesh."""
  return NamedSharding(mesh, P())


def per_process_batch_size(global_batch_size: int, mesh: Mesh) -> int:
  """Validates ``global_batch_size`` against the mesh; returns the per-host size.

  The per-device batch is ``global_batch_size / mesh.size``; every process
  must own the same number of mesh devices.

  Raises:
    ValueError: one line, when the global batch cannot be split evenly over
      processes and devices.
  """
  n_dev = mesh.devices.size
  n_proc = jax.process_count()
  if global_batch_size % n_dev or global_batch_size % n_proc:
    raise ValueError(
        f'config.train.batch_size={global_batch_size} must be divisible by '
        f'the number of devices ({n_dev}) and processes ({n_proc}); '
        f'use a multiple of {np.lcm(n_dev, n_proc)}.')
  owners = [d.process_index for d in mesh.devices.flat]
  local = {p: owners.count(p) for p in set(owners)}
  if len(set(local.values())) > 1:
    raise ValueError(f'every process must own the same number of mesh '
                     f'devices; got {local} (devices per process).')
  return global_batch_size // n_proc


# ---------------------------------------------------- host <-> device data ---


def to_global(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, Any]:
  """Per-process numpy batch -> global arrays sharded over ``data``.

  Each process passes only its own rows ``[b, ...]``; the result has the
  global shape ``[b * process_count, ...]``.
  """
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places a pytree of host values on every device of the mesh.

  Every process must pass the same values (e.g. initialised from the same
  seed). Leaves already replicated over ``mesh`` are left as they are.
  """
  return jax.device_put(tree, replicated(mesh))


# Every process makes the same sequence of barrier/broadcast calls, so the
# n-th call has the same key everywhere.
_SYNC_IDS = itertools.count()
_SYNC_TIMEOUT_S = 1800.0  # processes may be minutes apart (compilation)


def _runtime_client():
  # The distributed runtime's client is only reachable through jax._src
  # (Orbax uses it the same way for its own barriers).
  from jax._src import distributed  # pylint: disable=g-import-not-at-top
  return distributed.global_state.client


def barrier(name: str, *, timeout_s: float = _SYNC_TIMEOUT_S) -> None:
  """Blocks until every process has reached this call (no-op in one process).

  A barrier of the distributed runtime's coordination service, not a device
  collective: it waits up to ``timeout_s`` for a process that is still
  compiling, where the first device collective between CPU processes (gloo)
  gives up after 30 s. Every process must make the same sequence of calls.
  """
  if jax.process_count() == 1:
    return
  _runtime_client().wait_at_barrier(f'mpe_jax/{name}/{next(_SYNC_IDS)}',
                                    int(timeout_s * 1000))


def broadcast_from_first(values: Mapping[str, float]) -> dict[str, float]:
  """Process 0's ``{name: number}``, on every process (identity in one).

  Host-side decisions that trigger collective work (best checkpoint, LR
  plateau, early stop) are taken from process 0's numbers so that every
  process takes the same branch even if floating-point results differed.
  Sent through the coordination service's key-value store (no device
  program, no compilation).
  """
  values = {k: float(v) for k, v in values.items()}
  if jax.process_count() == 1:
    return values
  client = _runtime_client()
  key = f'mpe_jax/broadcast/{next(_SYNC_IDS)}'
  if jax.process_index() == 0:
    client.key_value_set(key, json.dumps(values))
    return values
  return json.loads(client.blocking_key_value_get(
      key, int(_SYNC_TIMEOUT_S * 1000)))


# ------------------------------------------------------------- jitted steps --


def jit_train_step(step_fn: Callable, mesh: Mesh) -> Callable:
  """``jax.jit`` of ``(state, batch) -> (state, metrics)`` over ``mesh``.

  The state is replicated and donated (updated in place), the batch sharded
  over ``data``, the metrics replicated (readable on every host). Gradients of
  the batch-mean loss are summed across devices by the compiler.
  """
  repl = replicated(mesh)
  jitted = jax.jit(step_fn, in_shardings=(repl, batch_sharding(mesh)),
                   out_shardings=(repl, repl), donate_argnums=(0,))
  if jax.process_count() == 1:
    return jitted
  compiled = []

  def step(state, batch):
    # Compile once, then wait for every process before the first collective:
    # compilation can take very different times on different hosts.
    if not compiled:
      compiled.append(jitted.lower(state, batch).compile())
      barrier('train_step_compiled')
    return compiled[0](state, batch)

  return step


def jit_eval_step(eval_fn: Callable, mesh: Mesh) -> Callable:
  """``jax.jit`` of ``(params, batch, key) -> metrics``, all replicated.

  Validation batches are small and their size need not divide the device
  count, so every device evaluates the whole batch; every process must call
  it (it is one program over the whole mesh) with the same host batch.
  """
  repl = replicated(mesh)
  return jax.jit(eval_fn, in_shardings=repl, out_shardings=repl)


# --------------------------------------------------------------- preemption --


class PreemptionWatch:
  """Turns SIGTERM (preemption notice) into one agreed step to stop at.

  Use as a context manager around the training loop and call ``reached(step)``
  once after every step, on every process.

  * Single process (no distributed runtime): a Python SIGTERM handler (main
    thread only) sets a flag; ``reached`` returns it.
  * Distributed runtime: JAX's preemption service catches SIGTERM on any
    process and agrees on a step with all others;
    ``reached(step)`` becomes True on every process at that same step
    (``multihost_utils.reached_preemption_sync_point``), so that all of them
    save the same checkpoint together. No Python handler is installed (it
    would hide the signal from the service).
  """

  def __init__(self):
    self._requested = False
    self._previous = None
    self._installed = False

  @property
  def distributed(self) -> bool:
    return jax.distributed.is_initialized()

  def __enter__(self) -> PreemptionWatch:
    if self.distributed:
      return self
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
      self._installed = True
    except ValueError:  # not in the main thread: SIGTERM keeps its default.
      logging.warning('Not in the main thread: SIGTERM will not save a '
                      'checkpoint.')
    return self

  def _handle(self, signum, frame) -> None:
    del signum, frame
    logging.warning('SIGTERM received: saving a checkpoint and stopping.')
    self._requested = True

  def reached(self, step: int) -> bool:
    """Whether to save and stop after ``step`` (call once per step)."""
    if self.distributed:
      stop = multihost_utils.reached_preemption_sync_point(int(step))
      if stop:
        logging.warning('Preemption notice: every process stops after step '
                        '%d.', step)
      return stop
    return self._requested

  def __exit__(self, *exc) -> None:
    if self._installed:
      signal.signal(signal.SIGTERM, self._previous)
      self._installed = False
