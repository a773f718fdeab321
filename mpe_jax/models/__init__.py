"""Model construction from ``config.model``."""

from __future__ import annotations

import jax
import ml_collections
import numpy as np
from flax import nnx

from mpe_jax.models.autoencoder import Autoencoder, frequency_sizes
from mpe_jax.models.dwm import DynamicWeightModule


def build_model(model_config: ml_collections.ConfigDict,
                key: jax.Array) -> Autoencoder:
  """Builds the autoencoder described by ``model_config`` with PRNG ``key``."""
  return Autoencoder(model_config, rngs=nnx.Rngs(params=key))


def count_params(model_or_state) -> int:
  """Number of trainable parameters of an NNX module or a parameter pytree."""
  if isinstance(model_or_state, nnx.Module):
    model_or_state = nnx.state(model_or_state, nnx.Param)
  return int(sum(np.prod(np.shape(x))
                 for x in jax.tree.leaves(model_or_state)))


__all__ = ['Autoencoder', 'DynamicWeightModule', 'build_model', 'count_params',
           'frequency_sizes']
