"""Geometric transforms of time-frequency maps for equivariance objectives.

Per item: a shift along frequency (bins), a shift along time (frames), then a
time stretch by linear interpolation. Shifts never wrap: vacated positions are
0. A stretch by ``s`` resamples to ``floor(T * s)`` frames (source coordinate
``(i + 0.5) / s - 0.5``, clamped at 0, as ``align_corners=False``), then
centre-crops (``s >= 1``, start ``(L - T) // 2``) or zero-pads (``s < 1``,
``(T - L) // 2`` frames on the left) back to ``T``. The same parameters applied
to features ``[B, C, K, T]`` and to salience ``[B, K, T]`` make the two commute
with an ideal equivariant model.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class GeometricParams:
  """Per-item transform parameters (each ``[B]``)."""
  freq_shift: jax.Array  # int32 bins, + moves content up in frequency
  time_shift: jax.Array  # int32 frames, + moves content later
  stretch: jax.Array  # float32 factor > 0; > 1 slows down (stretches)


def sample_params(key: jax.Array, batch: int, *, max_freq_shift: int,
                  max_time_shift: int, max_stretch: float) -> GeometricParams:
  """Integer shifts uniform in [-max, max]; stretch from U(1/max, 1) or
  U(1, max) with equal probability."""
  kv, kh, ks = jax.random.split(key, 3)
  v = jax.random.randint(kv, (batch,), -max_freq_shift, max_freq_shift + 1)
  h = jax.random.randint(kh, (batch,), -max_time_shift, max_time_shift + 1)
  u = jax.random.uniform(ks, (batch,))
  lo = 1.0 / max_stretch
  s = lo + 2.0 * jnp.minimum(u, 0.5) * (1.0 - lo)
  s = s + 2.0 * jnp.maximum(u - 0.5, 0.0) * (max_stretch - 1.0)
  return GeometricParams(v.astype(jnp.int32), h.astype(jnp.int32),
                         s.astype(jnp.float32))


def _shift(x: jax.Array, shift: jax.Array, axis: int) -> jax.Array:
  """Zero-filled translation of one item along ``axis``."""
  n = x.shape[axis]
  src = jnp.arange(n) - shift
  valid = (src >= 0) & (src < n)
  out = jnp.take(x, jnp.clip(src, 0, n - 1), axis=axis)
  shape = [1] * x.ndim
  shape[axis] = n
  return jnp.where(valid.reshape(shape), out, 0.0)


def _stretch(x: jax.Array, s: jax.Array) -> jax.Array:
  """Linear time stretch of one item ``[..., T]`` back to T frames."""
  t = x.shape[-1]
  length = jnp.floor(t * s).astype(jnp.int32)  # resampled length L
  j = jnp.arange(t)
  offset = jnp.where(length >= t, (length - t) // 2, -((t - length) // 2))
  i = j + offset  # index into the resampled signal
  inside = (i >= 0) & (i < length)
  src = jnp.maximum((i.astype(jnp.float32) + 0.5) / s - 0.5, 0.0)
  i0 = jnp.clip(jnp.floor(src).astype(jnp.int32), 0, t - 1)
  i1 = jnp.minimum(i0 + 1, t - 1)
  lam = src - i0
  y = x[..., i0] * (1.0 - lam) + x[..., i1] * lam
  return jnp.where(inside, y, 0.0)


def _transform_one(x: jax.Array, v: jax.Array, h: jax.Array, s: jax.Array
                   ) -> jax.Array:
  x = _shift(x, v, axis=x.ndim - 2)
  x = _shift(x, h, axis=x.ndim - 1)
  return _stretch(x, s)


def apply(x: jax.Array, params: GeometricParams) -> jax.Array:
  """Transforms ``x [B, ..., K, T]`` item by item (freq shift, time shift,
  stretch)."""
  return jax.vmap(_transform_one)(x, params.freq_shift, params.time_shift,
                                  params.stretch)
