"""The train state and its optimizer: what training changes, saves and
restores, and what inference and the shipped-model loader rebuild.

``init_train_state(config, tx)`` builds the model and the one train-state
pytree (``TrainState``) the jitted step donates; ``abstract_state(config)``
is its shapes and dtypes only, for restoring a checkpoint;
``restore_run(checkpoint)`` reads a run's stored config and parameters.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx, struct

from mpe_jax import checkpointing, schedules, systems
from mpe_jax.models import build_model, param_groups
from mpe_jax.models.skeleton import config_from_dict


# PRNG implementation of every key the trainer makes: 'rbg' compiles several
# times faster than threefry on XLA:CPU (parameter init, augmentation draws).
PRNG_IMPL = 'rbg'
@struct.dataclass
class TrainState:
  """Everything that changes during training (what is donated and saved)."""
  step: jax.Array  # int32 []
  params: Any  # nested dict of float32 arrays
  opt_state: Any
  rng: jax.Array  # uint32 [4]: raw 'rbg' PRNG key data
  lr_scale: jax.Array  # float32 []: plateau multiplier of every LR
  plateau_best: jax.Array  # float32 []: best plateau-monitored value
  plateau_bad: jax.Array  # int32 []: validations without improvement
  best_value: jax.Array  # float32 []: best value of config.eval.best_metric
  best_age: jax.Array  # int32 []: validations since best_value improved


def _param_labels(params: Mapping[str, Any]) -> Mapping[str, Any]:
  """'encoder' / 'decoder' (/ 'dwm') label for every leaf (by top-level
  module)."""
  return {name: jax.tree.map(lambda _, n=name: n, sub)
          for name, sub in params.items()}


def build_optimizer(config: ml_collections.ConfigDict
                    ) -> tuple[optax.GradientTransformation,
                               dict[str, optax.Schedule]]:
  """AdamW per module group, global-norm clipping.

  Groups (``models.param_groups``): encoder and decoder (``optim.encoder_lr``
  / ``decoder_lr``), or MAJL's vocal cascade's mss and pe
  (``optim.mss_lr`` / ``pe_lr``); and, when the model carries MAJL's DWM
  (``model.dwm.enabled``), 'dwm' with ``optim.dwm_lr``. Every group follows
  the same schedule shape.
  """
  o = config.optim
  scheds = {g: schedules.make_schedule(o[f'{g}_lr'], o)
            for g in param_groups(config.model)}

  def adamw(schedule):
    return optax.adamw(schedule, b1=o.b1, b2=o.b2, eps=o.eps,
                       weight_decay=o.weight_decay)

  tx = optax.chain(
      optax.clip_by_global_norm(o.clip_norm),
      optax.multi_transform({k: adamw(s) for k, s in scheds.items()},
                            _param_labels))
  return tx, scheds


def init_train_state(config: ml_collections.ConfigDict,
                     tx: optax.GradientTransformation
                     ) -> tuple[nnx.GraphDef, TrainState]:
  """Builds the model from ``config.model`` and the initial train state."""
  root = jax.random.key(config.seed, impl=PRNG_IMPL)
  k_init, k_train = jax.random.split(root)
  model = build_model(config.model, k_init)
  graphdef, state = nnx.split(model)
  params = nnx.to_pure_dict(state)
  worst = math.inf if config.eval.best_mode == 'min' else -math.inf
  plateau_worst = math.inf if config.optim.plateau.mode == 'min' else -math.inf
  return graphdef, TrainState(
      step=jnp.zeros((), jnp.int32), params=params,
      opt_state=tx.init(params), rng=jax.random.key_data(k_train),
      lr_scale=jnp.ones((), jnp.float32),
      plateau_best=jnp.asarray(plateau_worst, jnp.float32),
      plateau_bad=jnp.zeros((), jnp.int32),
      best_value=jnp.asarray(worst, jnp.float32),
      best_age=jnp.zeros((), jnp.int32))


def abstract_state(config: ml_collections.ConfigDict,
                   sharding: Any = None) -> TrainState:
  """The ``TrainState`` of ``config`` as ``jax.ShapeDtypeStruct`` leaves
  (nothing is computed), placed with ``sharding`` when given."""
  tx, _ = build_optimizer(config)
  abstract = jax.eval_shape(lambda: init_train_state(config, tx)[1])
  if sharding is None:
    return abstract
  return jax.tree.map(
      lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding),
      abstract)


def restore_run(checkpoint: str, prefer: str = 'best'
                ) -> tuple[ml_collections.ConfigDict, Any, str]:
  """``(config, params, step_dir)`` of a training run's checkpoint
  (workdir, checkpoints dir or step dir; ``prefer`` 'best' or 'latest' in a
  workdir), the parameters on the host.

  Raises:
    checkpointing.CheckpointError: missing path, no checkpoint inside,
      unreadable files, a config this version cannot build, or non-finite
      parameters (one line naming the directory).
  """
  step_dir = checkpointing.find_checkpoint(os.fspath(checkpoint),
                                           prefer=prefer)
  try:
    config = config_from_dict(checkpointing.read_checkpoint_config(step_dir))
  except checkpointing.CheckpointError:
    raise
  except (ValueError, TypeError, OSError) as e:
    raise checkpointing.CheckpointError(
        f'the config stored in {step_dir} is unreadable ({type(e).__name__}: '
        f'{_first_line(e)}).') from e
  try:
    systems.get_system(config).validate(config)
    # Restore onto this process's first device, whatever the saving topology.
    abstract = abstract_state(
        config, jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))
  except (AttributeError, KeyError, ValueError, TypeError) as e:
    raise checkpointing.CheckpointError(
        f'the config stored in {step_dir} does not describe a model this '
        f'version of mpe_jax can build ({type(e).__name__}: '
        f'{_first_line(e)}).') from e
  state = checkpointing.restore_params_from(step_dir, abstract)
  params = jax.device_get(state.params)
  bad = [jax.tree_util.keystr(path) for path, leaf in
         jax.tree_util.tree_leaves_with_path(params)
         if not np.all(np.isfinite(leaf))]
  if bad:
    raise checkpointing.CheckpointError(
        f'{step_dir} holds non-finite parameters ({bad[0]} and '
        f'{len(bad) - 1} more); use an earlier checkpoint step.')
  return config, params, step_dir


def _first_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return text[0][:300] if text else type(error).__name__
