"""Weighted sum of named loss terms."""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp


def combine(parts: Mapping[str, jax.Array], weights: Mapping[str, float]
            ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Returns ``(sum_i w_i * parts[i], parts)`` over the terms with ``w_i != 0``.

  Every part is returned (also those with weight 0, for logging).
  """
  total = jnp.zeros((), jnp.float32)
  for name, value in parts.items():
    w = float(weights[name])
    if w != 0.0:
      total = total + w * value
  return total, dict(parts)
