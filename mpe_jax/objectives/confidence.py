"""Per-frame confidence of pitch estimates and the Stage-II filter (MAJL).

A salience frame's confidence (MAJL Eq. 4) is its largest salience ``m`` when
the frame counts as voiced (``m >= threshold``) and ``1 - m`` otherwise, so it
lies in ``[min(threshold, 1 - threshold), 1]`` and measures how decisively the
frame was called voiced or silent. Stage II keeps a pseudo-labelled frame only
where its confidence reaches ``th`` (Eq. 8; 0.7 by default): the mask is 1
there and 0 elsewhere. Ground-truth frames carry confidence 1 and always pass.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Presence threshold of Eq. 4 and the default filter threshold th of Eq. 8.
PRESENCE_THRESHOLD = 0.5
FILTER_THRESHOLD = 0.7


def confidence(salience: jax.Array,
               threshold: float = PRESENCE_THRESHOLD) -> jax.Array:
  """Eq. 4 per frame: ``[..., K, T]`` salience in [0, 1] -> ``[..., T]``.

  Args:
    salience: ``[B, K, T]`` (any leading axes) salience in [0, 1].
    threshold: a frame is voiced when its maximum over K is ``>= threshold``.

  Returns:
    ``m`` where ``m = max_K salience >= threshold``, else ``1 - m``; the
    salience's dtype.

  Raises:
    ValueError: ``threshold`` outside [0, 1] or salience of rank < 2.
  """
  if not 0.0 <= float(threshold) <= 1.0:
    raise ValueError(f'confidence threshold must be in [0, 1], got '
                     f'{threshold}.')
  if jnp.ndim(salience) < 2:
    raise ValueError(f'salience must be [..., K, T], got shape '
                     f'{jnp.shape(salience)}.')
  m = jnp.max(salience, axis=-2)  # [..., T]
  return jnp.where(m >= threshold, m, 1.0 - m)


def confidence_mask(conf: jax.Array,
                    threshold: float = FILTER_THRESHOLD) -> jax.Array:
  """Eq. 8 filter: float32 1 where ``conf >= threshold``, else 0 (same shape).

  Raises:
    ValueError: ``threshold`` outside (0, 1].
  """
  if not 0.0 < float(threshold) <= 1.0:
    raise ValueError(f'confidence filter threshold th must be in (0, 1], '
                     f'got {threshold}.')
  return (jnp.asarray(conf) >= threshold).astype(jnp.float32)
