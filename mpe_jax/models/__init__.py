"""Model construction from ``config.model``."""

from __future__ import annotations

from typing import Callable

import jax
import ml_collections
import numpy as np
from flax import nnx

from mpe_jax.models.autoencoder import (Autoencoder, WeightedAutoencoder,
                                       frequency_sizes)
from mpe_jax.models.dwm import DynamicWeightModule
from mpe_jax.models.vocal import JointCascade


def dwm_enabled(model_config: ml_collections.ConfigDict) -> bool:
  """Whether ``model_config.dwm.enabled`` asks for MAJL's DWM (configs
  without a ``dwm`` block have none)."""
  return 'dwm' in model_config and bool(model_config.dwm.enabled)


def _autoencoder(model_config: ml_collections.ConfigDict, *,
                 rngs: nnx.Rngs) -> Autoencoder:
  """The autoencoder family; with ``dwm.enabled`` the same backbone (same
  parameters for the same key) plus a top-level ``dwm``."""
  if dwm_enabled(model_config):
    return WeightedAutoencoder(model_config, rngs=rngs)
  return Autoencoder(model_config, rngs=rngs)


# One entry per kind of model (``config.model.kind``): adding a model is
# adding an entry; systems name the kinds they train (``System.model_kinds``).
MODELS: dict[str, Callable[..., nnx.Module]] = {
    'autoencoder': _autoencoder,  # SS-MPE, ISMIR 2025, Timbre-Trap, MAJL
    'joint_cascade': JointCascade,  # MAJL's singing-voice MSS -> PE cascade
}


def model_kind(model_config: ml_collections.ConfigDict) -> str:
  """``model_config.kind``; configs written before the key (checkpoints,
  shipped models) are a 'joint_cascade' when they have an ``mss`` block,
  else an 'autoencoder'."""
  if 'kind' in model_config:
    return str(model_config.kind)
  return 'joint_cascade' if 'mss' in model_config else 'autoencoder'


def is_joint_cascade(model_config: ml_collections.ConfigDict) -> bool:
  """Whether ``model_config`` describes MAJL's vocal cascade."""
  return model_kind(model_config) == 'joint_cascade'


def param_groups(model_config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """Top-level children of the model, one optimizer group each (the
  learning rate of group g is ``config.optim.<g>_lr``)."""
  base = (('mss', 'pe') if is_joint_cascade(model_config)
          else ('encoder', 'decoder'))
  return base + (('dwm',) if dwm_enabled(model_config) else ())


def build_model(model_config: ml_collections.ConfigDict,
                key: jax.Array) -> nnx.Module:
  """Builds the model described by ``model_config`` with PRNG ``key``: the
  ``MODELS`` entry of its kind (``model_kind``).

  Raises:
    ValueError: an unknown kind (one line listing the known ones).
  """
  kind = model_kind(model_config)
  if kind not in MODELS:
    raise ValueError(f'config.model.kind must be one of {sorted(MODELS)}, '
                     f'got {kind!r}.')
  return MODELS[kind](model_config, rngs=nnx.Rngs(params=key))


def count_params(model_or_state) -> int:
  """Number of trainable parameters of an NNX module or a parameter pytree."""
  if isinstance(model_or_state, nnx.Module):
    model_or_state = nnx.state(model_or_state, nnx.Param)
  return int(sum(np.prod(np.shape(x))
                 for x in jax.tree.leaves(model_or_state)))


__all__ = ['MODELS', 'Autoencoder', 'DynamicWeightModule', 'JointCascade',
           'WeightedAutoencoder', 'build_model', 'count_params',
           'dwm_enabled', 'frequency_sizes', 'is_joint_cascade',
           'model_kind', 'param_groups']
