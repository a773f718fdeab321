"""Binary cross-entropy on logits and the reference reduction.

Every loss map ``[B, K, T]`` is summed over frequency, averaged over frames and
then over the batch -- optionally only over the items selected by a per-item
mask (e.g. the items that carry ground truth).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def bce_with_logits(logits: jax.Array, targets: jax.Array, *,
                    pos_weight: float = 1.0, neg_weight: float = 1.0
                    ) -> jax.Array:
  """Elementwise ``-(pw * y log s(x) + nw * (1 - y) log(1 - s(x)))``.

  Soft targets ``y`` in [0, 1] are allowed; computed stably from logits.
  """
  log_p = jax.nn.log_sigmoid(logits)
  log_not_p = jax.nn.log_sigmoid(-logits)
  return -(pos_weight * targets * log_p + neg_weight * (1.0 - targets) * log_not_p)


def reduce_map(loss: jax.Array, item_mask: jax.Array | None = None
               ) -> jax.Array:
  """``[B, K, T] -> scalar``: sum over K, mean over T, mean over (masked) B.

  With ``item_mask [B]`` (0/1), the batch mean runs over selected items only;
  an all-zero mask gives 0.
  """
  per_item = jnp.mean(jnp.sum(loss, axis=-2), axis=-1)  # [B]
  if item_mask is None:
    return jnp.mean(per_item)
  m = item_mask.astype(per_item.dtype)
  return jnp.sum(per_item * m) / jnp.maximum(jnp.sum(m), 1.0)
