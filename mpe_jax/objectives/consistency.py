"""Self-supervised consistency objectives: invariance and equivariance.

Both compare the logits of a transformed input with a target salience derived
from the logits of the original input:

* invariance (timbre EQ, percussion mixing): target = s(logits_orig);
* equivariance (geometric): target = T(s(logits_orig)), the same transform T
  applied to the original salience.

The reference released code lets gradients flow through the target as well
(``stop_gradient=False``); ``stop_gradient=True`` detaches it.
"""

from __future__ import annotations

import jax

from mpe_jax.objectives.reductions import bce_with_logits, reduce_map


def target_salience(logits: jax.Array, *, stop_gradient: bool) -> jax.Array:
  """``s(logits)``, detached when ``stop_gradient``."""
  s = jax.nn.sigmoid(logits)
  return jax.lax.stop_gradient(s) if stop_gradient else s


def consistency_loss(logits_transformed: jax.Array, target: jax.Array,
                     item_mask: jax.Array | None = None) -> jax.Array:
  """BCE of the transformed input's logits against a target salience."""
  return reduce_map(bce_with_logits(logits_transformed, target), item_mask)
