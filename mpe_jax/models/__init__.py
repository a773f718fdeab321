"""Model construction from ``config.model``."""

from __future__ import annotations

import jax
import ml_collections
import numpy as np
from flax import nnx

from mpe_jax.models.autoencoder import (Autoencoder, WeightedAutoencoder,
                                       frequency_sizes)
from mpe_jax.models.dwm import DynamicWeightModule


def dwm_enabled(model_config: ml_collections.ConfigDict) -> bool:
  """Whether ``model_config.dwm.enabled`` asks for MAJL's DWM (configs
  without a ``dwm`` block have none)."""
  return 'dwm' in model_config and bool(model_config.dwm.enabled)


def build_model(model_config: ml_collections.ConfigDict,
                key: jax.Array) -> Autoencoder:
  """Builds the autoencoder described by ``model_config`` with PRNG ``key``.

  With ``model_config.dwm.enabled`` it is a ``WeightedAutoencoder``: the same
  backbone (same parameters for the same key) plus a top-level ``dwm``.
  """
  if dwm_enabled(model_config):
    return WeightedAutoencoder(model_config, rngs=nnx.Rngs(params=key))
  return Autoencoder(model_config, rngs=nnx.Rngs(params=key))


def count_params(model_or_state) -> int:
  """Number of trainable parameters of an NNX module or a parameter pytree."""
  if isinstance(model_or_state, nnx.Module):
    model_or_state = nnx.state(model_or_state, nnx.Param)
  return int(sum(np.prod(np.shape(x))
                 for x in jax.tree.leaves(model_or_state)))


__all__ = ['Autoencoder', 'DynamicWeightModule', 'WeightedAutoencoder',
           'build_model', 'count_params', 'dwm_enabled', 'frequency_sizes']
