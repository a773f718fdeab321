"""Model construction from ``config.model``."""

from __future__ import annotations

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


def is_joint_cascade(model_config: ml_collections.ConfigDict) -> bool:
  """Whether ``model_config`` describes MAJL's vocal cascade (it has an
  ``mss`` block) rather than a Timbre-Trap autoencoder."""
  return 'mss' in model_config


def param_groups(model_config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """Top-level children of the model, one optimizer group each (the
  learning rate of group g is ``config.optim.<g>_lr``)."""
  base = (('mss', 'pe') if is_joint_cascade(model_config)
          else ('encoder', 'decoder'))
  return base + (('dwm',) if dwm_enabled(model_config) else ())


def build_model(model_config: ml_collections.ConfigDict,
                key: jax.Array) -> Autoencoder | JointCascade:
  """Builds the model described by ``model_config`` with PRNG ``key``.

  A config with an ``mss`` block builds the vocal ``JointCascade`` (MSS and
  PE modules, and the DWM when ``dwm.enabled``). Otherwise the autoencoder;
  with ``model_config.dwm.enabled`` it is a ``WeightedAutoencoder``: the same
  backbone (same parameters for the same key) plus a top-level ``dwm``.
  """
  if is_joint_cascade(model_config):
    return JointCascade(model_config, rngs=nnx.Rngs(params=key))
  if dwm_enabled(model_config):
    return WeightedAutoencoder(model_config, rngs=nnx.Rngs(params=key))
  return Autoencoder(model_config, rngs=nnx.Rngs(params=key))


def count_params(model_or_state) -> int:
  """Number of trainable parameters of an NNX module or a parameter pytree."""
  if isinstance(model_or_state, nnx.Module):
    model_or_state = nnx.state(model_or_state, nnx.Param)
  return int(sum(np.prod(np.shape(x))
                 for x in jax.tree.leaves(model_or_state)))


__all__ = ['Autoencoder', 'DynamicWeightModule', 'JointCascade',
           'WeightedAutoencoder', 'build_model', 'count_params',
           'dwm_enabled', 'frequency_sizes', 'is_joint_cascade',
           'param_groups']
