"""MAJL's Dynamic Weight Module: three pitch maps in, two task weights out.

The module reads, per sample, the pitch map estimated from the predicted
source, the ground truth and the pitch map estimated from the true source,
stacked as ``[B, 3, K, T]`` in that channel order, and returns ``[B, 2]``
weights ``(omega_1, omega_2)``: column 0 weights task 1 (source / the
self-supervised part), column 1 task 2 (pitch / the supervised part).

Layout: two 3x3 'SAME' convolutions with ReLU over channels-last
``[B, T, K, C]``, a pooling step, a hidden dense layer with ReLU and a dense
layer to two logits, mapped to ``omega_max * sigmoid(logits)``.

* Range. A bare sigmoid stays below 1, but the DWHS case losses ask for
  weights above 1 on hard samples (cases 3 and 4). Scaling by ``omega_max``
  (> 1, 2 by default) puts weight 1 at the sigmoid's centre and leaves room on
  both sides.
* Start. The last dense layer starts at zero (kernel and bias), so an
  untrained module gives ``omega_max / 2`` (1 by default) for every sample:
  at initialisation, DWHS-weighted training equals naive joint learning, and
  the weights move away from 1 only as the case losses ask them to.
* Pooling. ``'flatten'`` flattens the ``[T, K, C]`` features as the published
  module does; the hidden layer then has ``n_frames * n_bins * C`` inputs and
  the excerpt length is fixed. ``'mean'`` averages the features over frames and
  bins, so any ``T`` (and ``K``) works and the parameter count stays small.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from mpe_jax.models import layers

POOLINGS = ('flatten', 'mean')
N_MAPS = 3  # predicted_source2pitch, ground truth, target_source2pitch
N_TASKS = 2


def _validate(cfg: ml_collections.ConfigDict) -> None:
  """One-line ValueErrors for a bad ``config.dwhs.dwm``."""
  if len(tuple(cfg.channels)) != 2:
    raise ValueError(f'dwm.channels must hold 2 ints (one per 3x3 conv), got '
                     f'{tuple(cfg.channels)!r}')
  if min(int(c) for c in cfg.channels) < 1 or int(cfg.hidden) < 1:
    raise ValueError(f'dwm.channels and dwm.hidden must be positive, got '
                     f'{tuple(cfg.channels)!r} and {cfg.hidden!r}')
  if not float(cfg.omega_max) > 1.0:
    raise ValueError(f'dwm.omega_max must be > 1 (hard samples need weights '
                     f'above 1), got {cfg.omega_max!r}')
  if cfg.pooling not in POOLINGS:
    raise ValueError(f'dwm.pooling must be one of {POOLINGS}, got '
                     f'{cfg.pooling!r}')
  if cfg.pooling == 'flatten':
    for key in ('n_bins', 'n_frames'):
      value = cfg[key] if key in cfg else None
      if value is None or int(value) < 1:
        raise ValueError(f"dwm.pooling='flatten' needs a positive dwm.{key}, "
                         f'got {value!r}')


class DynamicWeightModule(nnx.Module):
  """``[B, 3, K, T]`` pitch maps -> ``[B, 2]`` weights in ``[0, omega_max]``.

  ``cfg`` (``config.dwhs.dwm``): ``channels`` (2 ints), ``hidden`` (int),
  ``omega_max`` (float > 1), ``pooling`` (``'flatten'`` | ``'mean'``) and, for
  ``'flatten'``, ``n_bins`` and ``n_frames``. Computes in float32.
  """

  def __init__(self, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    _validate(cfg)
    c1, c2 = (int(c) for c in cfg.channels)
    self.pooling = str(cfg.pooling)
    self.omega_max = float(cfg.omega_max)
    if self.pooling == 'flatten':
      self.n_bins, self.n_frames = int(cfg.n_bins), int(cfg.n_frames)
      features = self.n_frames * self.n_bins * c2
    else:
      self.n_bins = self.n_frames = None
      features = c2
    self.conv1 = layers.conv(N_MAPS, c1, (3, 3), rngs=rngs)
    self.conv2 = layers.conv(c1, c2, (3, 3), rngs=rngs)
    self.hidden = layers.linear(features, int(cfg.hidden), rngs=rngs)
    # Zero start: logits 0, omega = omega_max / 2 for every sample.
    self.out = nnx.Linear(int(cfg.hidden), N_TASKS,
                          kernel_init=nnx.initializers.zeros,
                          bias_init=nnx.initializers.zeros, rngs=rngs)

  def __call__(self, maps: jax.Array) -> jax.Array:
    """Pitch maps ``[B, 3, K, T]`` (values in [0, 1]) -> omega ``[B, 2]``."""
    if maps.ndim != 4 or maps.shape[1] != N_MAPS:
      raise ValueError(f'the DWM takes maps [B, 3, K, T], got shape '
                       f'{tuple(maps.shape)}')
    _, _, n_bins, n_frames = maps.shape
    if self.pooling == 'flatten' and (n_bins, n_frames) != (self.n_bins,
                                                             self.n_frames):
      raise ValueError(f"dwm.pooling='flatten' was built for K={self.n_bins}, "
                       f'T={self.n_frames}; got K={n_bins}, T={n_frames} '
                       f"(set dwm.n_bins/n_frames or use pooling='mean')")
    h = jnp.transpose(maps.astype(jnp.float32), (0, 3, 2, 1))  # [B, T, K, 3]
    h = jax.nn.relu(self.conv1(h))
    h = jax.nn.relu(self.conv2(h))  # [B, T, K, C2]
    if self.pooling == 'flatten':
      h = h.reshape(h.shape[0], -1)  # [B, T * K * C2]
    else:
      h = jnp.mean(h, axis=(1, 2))  # [B, C2]
    h = jax.nn.relu(self.hidden(h))
    return self.omega_max * jax.nn.sigmoid(self.out(h))  # [B, 2]
