"""Random equalization of HCQT features for timbre invariance.

Curves are drawn on one absolute-frequency grid of pseudo-bins that spans every
channel of the HCQT (from the lowest sub-harmonic bin upward, at the HCQT's
resolution), and each ``(harmonic, bin)`` reads the curve at its own absolute
frequency. Equal physical frequencies therefore get equal gains in every
channel. For the reference HCQT the grid has 11 octaves = 660 points.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from mpe_jax.features.hcqt import HCQTConfig


def eq_grid(cfg: HCQTConfig) -> tuple[int, np.ndarray]:
  """Number of curve points and the curve index of each bin, ``[H, K]`` int32.

  Index = round(bins_per_semitone * (MIDI(h, k) - lowest MIDI)); the number of
  points is the pseudo-bin span rounded up to whole octaves.
  """
  midi = np.stack([cfg.bin_midi(h) for h in cfg.harmonics])  # [H, K]
  per_semitone = cfg.bins_per_octave / 12.0
  span = round(per_semitone * (midi.max() - midi.min()))
  n_points = int(math.ceil(span / cfg.bins_per_octave)) * cfg.bins_per_octave
  index = np.round(per_semitone * (midi - midi.min())).astype(np.int32)
  return n_points, index


def gaussian_curves(key: jax.Array, batch: int, n_points: int, *,
                    max_amplitude: float, max_std: float) -> jax.Array:
  """SS-MPE curves ``1 + A exp(-(i - mu)^2 / (2 sigma^2))``, ``[B, n_points]``.

  A ~ U(-max_amplitude, max_amplitude), mu ~ U(0, n_points - 1),
  sigma ~ U(0, max_std) (pseudo-bins).
  """
  ka, km, ks = jax.random.split(key, 3)
  amp = max_amplitude * jax.random.uniform(ka, (batch, 1), minval=-1.0,
                                           maxval=1.0)
  mu = (n_points - 1) * jax.random.uniform(km, (batch, 1))
  sigma = max_std * jax.random.uniform(ks, (batch, 1))
  i = jnp.arange(n_points, dtype=jnp.float32)[None]
  z = jnp.square(i - mu) / (2.0 * jnp.maximum(jnp.square(sigma), 1e-12))
  return 1.0 + amp * jnp.exp(-z)


def parabolic_curves(key: jax.Array, batch: int, n_points: int, *,
                     pointiness: float) -> jax.Array:
  """ISMIR 2025 curves ``1 - p * alpha * (i - beta)^2``, ``[B, n_points]``.

  alpha ~ U(0, 1) / (n_points - 1)^2, beta ~ U(0, n_points - 1); the curve can
  go negative (products are clipped to [0, 1] by ``equalize``).
  """
  ka, kb = jax.random.split(key)
  alpha = jax.random.uniform(ka, (batch, 1)) / float(n_points - 1) ** 2
  beta = jax.random.uniform(kb, (batch, 1)) * (n_points - 1)
  i = jnp.arange(n_points, dtype=jnp.float32)[None]
  return 1.0 - pointiness * alpha * jnp.square(i - beta)


def sample_curves(key: jax.Array, batch: int, n_points: int, eq_cfg
                  ) -> jax.Array:
  """Curves of the kind named by ``eq_cfg.kind`` ('gaussian' | 'parabolic')."""
  if eq_cfg.kind == 'gaussian':
    return gaussian_curves(key, batch, n_points,
                           max_amplitude=eq_cfg.max_amplitude,
                           max_std=eq_cfg.max_std_bins)
  if eq_cfg.kind == 'parabolic':
    return parabolic_curves(key, batch, n_points,
                            pointiness=eq_cfg.pointiness)
  raise ValueError(f"augment.eq.kind must be 'gaussian' or 'parabolic', "
                   f'got {eq_cfg.kind!r}')


def equalize(features: jax.Array, curves: jax.Array, index: np.ndarray
             ) -> jax.Array:
  """Applies ``curves [B, P]`` to ``features [B, H, K, T]`` in [0, 1].

  Gain of bin (h, k) = ``curves[:, index[h, k]]``; the product is clipped to
  [0, 1]. One curve per item, constant over time.
  """
  gains = curves[:, jnp.asarray(index)]  # [B, H, K]
  return jnp.clip(features * gains[..., None], 0.0, 1.0)
