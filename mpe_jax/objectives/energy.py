"""Energy-concentration objectives computed from the input's own HCQT.

``db_1`` is the scaled-dB h = 1 channel and ``db_h`` the scaled-dB weighted
harmonic sum, both ``[B, K, T]`` in [0, 1]; logits are ``[B, K, T]``.
"""

from __future__ import annotations

import jax

from mpe_jax.objectives.reductions import bce_with_logits, reduce_map


def support_loss(logits: jax.Array, db_1: jax.Array,
                 item_mask: jax.Array | None = None) -> jax.Array:
  """``-(1 - db_1) log(1 - s(logits))``: no activation where h1 is weak."""
  return reduce_map(bce_with_logits(logits, db_1, pos_weight=0.0), item_mask)


def harmonic_loss(logits: jax.Array, db_h: jax.Array,
                  item_mask: jax.Array | None = None) -> jax.Array:
  """``-db_h log s(logits)``: activation where the harmonic sum is strong."""
  return reduce_map(bce_with_logits(logits, db_h, neg_weight=0.0), item_mask)


def sparsity_loss(logits: jax.Array,
                  item_mask: jax.Array | None = None) -> jax.Array:
  """L1 norm of the salience ``s(logits)`` over frequency."""
  return reduce_map(jax.nn.sigmoid(logits), item_mask)


def energy_loss(logits: jax.Array, db_h: jax.Array,
                item_mask: jax.Array | None = None) -> jax.Array:
  """Two-sided BCE against the weighted harmonic target (ISMIR 2025 L_eg)."""
  return reduce_map(bce_with_logits(logits, db_h), item_mask)

