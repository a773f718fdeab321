"""Device mesh, shardings and the host -> device batch boundary.

One ``data`` mesh axis spans every device of every process. Batches are
sharded along it; parameters and optimizer state are replicated. This is the
jit/sharding form of classic data parallelism (what ``pmap`` used to do).
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = 'data'


def make_mesh(devices: list | None = None) -> Mesh:
  """A 1-D mesh named ``data`` over ``devices`` (default: all devices)."""
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

  Raises a one-line ValueError when the global batch cannot be split evenly
  over processes and devices.
  """
  n_dev = mesh.devices.size
  n_proc = jax.process_count()
  if global_batch_size % n_dev or global_batch_size % n_proc:
    raise ValueError(
        f'config.train.batch_size={global_batch_size} must be divisible by '
        f'the number of devices ({n_dev}) and processes ({n_proc}); '
        f'use a multiple of {np.lcm(n_dev, n_proc)}.')
  return global_batch_size // n_proc


def to_global(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, Any]:
  """Per-process numpy batch -> global arrays sharded over ``data``."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places a pytree of host values on every device of the mesh."""
  return jax.device_put(tree, replicated(mesh))
