"""MAJL's joint cascade for singing voice: a separation (MSS) module feeding a
vocal-pitch (PE) module, each chosen by config (``config.model``).

``JointCascade`` holds ``mss``, ``pe`` and, with DWHS, MAJL's Dynamic Weight
Module ``dwm`` as top-level children (one optimizer group each). The STFT and
its inverse live outside the network (``mpe_jax.objectives.majl_vocal``):

* MSS modules map the mixture magnitude ``[B, F, T]`` (F = 1 + n_fft / 2) to
  a soft mask ``[B, F, T]`` in [0, 1] (the separated vocal magnitude is
  ``mask * |X|``, resynthesised with the mixture's phase):

  - ``'unet'``: the singing-voice U-Net of Jansson et al. (ISMIR 2017):
    strided 5x5 convolutions (stride 2 in time and frequency, leaky ReLU
    0.2) down, 5x5 transposed convolutions (ReLU) up with the encoder maps
    concatenated, a sigmoid mask; on ``log(1 + |X|)`` of the lowest
    ``mss.n_bins`` bins (the others get mask 0).
  - ``'resunet'``: the same U-Net with a residual block (two 3x3
    convolutions, ReLU, identity skip) after every down- and up-sampling: a
    small magnitude-mask stand-in for ResUNetDecouple+ (Kong et al., ISMIR
    2021), which also estimates phase and is 100x larger.

* PE modules map the separated source to pitch logits ``[B, K, T]`` on the
  label grid (K bins of ``1200 / bins_per_octave`` cents from ``fmin``):

  - ``'harmof0'``: HarmoF0-like (Wei et al., ICME 2022): the magnitude is
    mapped onto a log-frequency axis (K bins, triangular interpolation of the
    STFT bins), ``log(1 + 10 x)``, stacked with copies shifted down by the
    bins of harmonics ``1 .. n_harmonics`` (a harmonic stack), then 3x3
    convolutions with frequency dilations ``pe.dilations`` (ReLU) and a 1x1
    convolution to one logit per bin.
  - ``'crepe'``: CREPE-like (Kim et al., ICASSP 2018): 1024-sample frames of
    the separated waveform centred on each STFT frame, each normalised to
    zero mean and unit variance, through 1-D convolutions (the first with
    stride 4), ReLU and max-pooling by 2 after each, and a dense layer to K
    logits; ``pe.channels`` scales the capacity (CREPE 'full' is
    (1024, 128, 128, 128, 256, 512)).

Layout inside the networks: channels-last ``[B, T, F, C]``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from mpe_jax.models import layers
from mpe_jax.models.dwm import DynamicWeightModule

MSS_MODULES = ('unet', 'resunet')
PE_MODULES = ('harmof0', 'crepe')
CREPE_FRAME = 1024  # samples per CREPE frame (64 ms at 16 kHz)


def prior_logit(n_bins: int) -> float:
  """The PE modules' initial output bias: every bin starts at probability
  ``1 / n_bins`` (one sung pitch per frame), ``-log(n_bins - 1)``.

  With a bias near 0 (probability 0.5 everywhere) the BCE first drives every
  logit down, and a ReLU network does that most cheaply with features that
  only lower the output: the salience then tops out at ``sigmoid(bias)`` <
  0.5 and no frame is voiced for hundreds of steps. Starting at the prior,
  the loss asks for features that raise the sung bin instead (the prior
  initialisation of RetinaNet's classifier).
  """
  return -float(np.log(n_bins - 1))


def _conv(in_ch, out_ch, kernel, *, rngs, strides=(1, 1), dilation=(1, 1)):
  return layers.conv(in_ch, out_ch, kernel, rngs=rngs, strides=strides,
                     dilation=dilation, impl='xla')


class ResidualBlock(nnx.Module):
  """``x + conv3x3(relu(conv3x3(x)))`` followed by ReLU, ``[B, T, F, C]``."""

  def __init__(self, channels: int, *, rngs: nnx.Rngs):
    self.a = _conv(channels, channels, (3, 3), rngs=rngs)
    self.b = _conv(channels, channels, (3, 3), rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return jax.nn.relu(x + self.b(jax.nn.relu(self.a(x))))


class UNetSeparator(nnx.Module):
  """Mixture magnitude ``[B, F, T]`` -> vocal mask ``[B, F, T]`` (module
  docstring: 'unet', and 'resunet' with ``residual=True``)."""

  def __init__(self, cfg: ml_collections.ConfigDict, n_bins_total: int, *,
               residual: bool, rngs: nnx.Rngs):
    channels = tuple(int(c) for c in cfg.channels)
    self.n_bins = int(cfg.n_bins)
    self.n_bins_total = int(n_bins_total)
    self.depth = len(channels)
    if self.n_bins > self.n_bins_total or self.n_bins % 2 ** self.depth:
      raise ValueError(f'model.mss.n_bins={self.n_bins} must be <= '
                       f'{self.n_bins_total} and a multiple of '
                       f'2 ** len(model.mss.channels) = {2 ** self.depth}.')
    ins = (1,) + channels[:-1]
    self.down = nnx.List([_conv(i, o, (5, 5), strides=(2, 2), rngs=rngs)
                          for i, o in zip(ins, channels)])
    # Up path: level l receives channels[l] (+ the skip of level l - 1).
    self.up = nnx.List()
    for level in reversed(range(self.depth)):
      c_in = channels[level] * (1 if level == self.depth - 1 else 2)
      c_out = ins[level] if level > 0 else 8
      self.up.append(nnx.ConvTranspose(c_in, c_out, (5, 5), strides=(2, 2),
                                       padding='SAME', rngs=rngs))
    self.res_down = (nnx.List([ResidualBlock(c, rngs=rngs) for c in channels])
                     if residual else None)
    self.res_up = (nnx.List([ResidualBlock(ins[level] if level else 8,
                                           rngs=rngs)
                             for level in reversed(range(self.depth))])
                   if residual else None)
    self.out = _conv(8, 1, (1, 1), rngs=rngs)

  def __call__(self, mag: jax.Array) -> jax.Array:
    _, n_f, n_t = mag.shape
    if n_f != self.n_bins_total:
      raise ValueError(f'the separator takes [B, {self.n_bins_total}, T] '
                       f'magnitudes, got {tuple(mag.shape)}')
    step = 2 ** self.depth
    t_pad = -n_t % step
    x = jnp.log1p(mag[:, :self.n_bins, :])
    x = jnp.pad(x, ((0, 0), (0, 0), (0, t_pad)))
    h = jnp.transpose(x, (0, 2, 1))[..., None]  # [B, T', F', 1]
    skips = []
    for level, conv in enumerate(self.down):
      h = jax.nn.leaky_relu(conv(h), 0.2)
      if self.res_down is not None:
        h = self.res_down[level](h)
      skips.append(h)
    for i, conv in enumerate(self.up):
      level = self.depth - 1 - i
      if level < self.depth - 1:
        h = jnp.concatenate([h, skips[level]], axis=-1)
      h = jax.nn.relu(conv(h))
      if self.res_up is not None:
        h = self.res_up[i](h)
    mask = jax.nn.sigmoid(self.out(h))[..., 0]  # [B, T', F']
    mask = jnp.transpose(mask, (0, 2, 1))[:, :, :n_t]  # [B, F', T]
    return jnp.pad(mask, ((0, 0), (0, self.n_bins_total - self.n_bins),
                          (0, 0)))


@functools.lru_cache(maxsize=8)
def log_frequency_matrix(n_fft: int, sample_rate: int, fmin: float,
                         bins_per_octave: int, n_bins: int) -> np.ndarray:
  """``[F, K]`` linear-interpolation weights from STFT bins to log bins.

  Log bin k (``fmin * 2 ** (k / bins_per_octave)`` Hz) takes the linear
  interpolation of the two STFT bins around its frequency.
  """
  n_stft = 1 + n_fft // 2
  freqs = fmin * 2.0 ** (np.arange(n_bins) / bins_per_octave)
  position = freqs * n_fft / sample_rate  # fractional STFT bin
  lo = np.clip(np.floor(position).astype(int), 0, n_stft - 2)
  frac = np.clip(position - lo, 0.0, 1.0)
  w = np.zeros((n_stft, n_bins), np.float32)
  w[lo, np.arange(n_bins)] += 1.0 - frac
  w[lo + 1, np.arange(n_bins)] += frac
  return w


class HarmoF0Like(nnx.Module):
  """Separated magnitude ``[B, F, T]`` -> pitch logits ``[B, K, T]``."""

  def __init__(self, cfg: ml_collections.ConfigDict,
               grid: ml_collections.ConfigDict,
               stft_cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    self.n_bins = int(grid.n_bins)
    # The fixed STFT -> log-frequency map (a constant, not a parameter).
    self.grid = (int(stft_cfg.n_fft), int(stft_cfg.sample_rate),
                 float(grid.fmin), int(grid.bins_per_octave), self.n_bins)
    self.shifts = tuple(int(round(grid.bins_per_octave * np.log2(h)))
                        for h in range(1, int(cfg.n_harmonics) + 1))
    channels = tuple(int(c) for c in cfg.channels)
    dilations = tuple(int(d) for d in cfg.dilations)
    if len(dilations) != len(channels):
      raise ValueError(f'model.pe.dilations {dilations} needs one entry per '
                       f'model.pe.channels {channels}.')
    ins = (len(self.shifts),) + channels[:-1]
    self.convs = nnx.List([_conv(i, o, (3, 3), dilation=(1, d), rngs=rngs)
                           for i, o, d in zip(ins, channels, dilations)])
    self.out = _conv(channels[-1], 1, (1, 1), rngs=rngs)
    self.out.bias.value = jnp.full_like(self.out.bias.value,
                                        prior_logit(self.n_bins))

  def __call__(self, mag: jax.Array, wave: jax.Array | None = None
               ) -> jax.Array:
    del wave
    matrix = jnp.asarray(log_frequency_matrix(*self.grid))
    logspec = jnp.einsum('bft,fk->btk', mag, matrix)  # [B, T, K]
    x = jnp.log1p(10.0 * logspec)
    stack = [jnp.pad(x[..., s:], ((0, 0), (0, 0), (0, s)))
             for s in self.shifts]
    h = jnp.stack(stack, axis=-1)  # [B, T, K, H]
    for conv in self.convs:
      h = jax.nn.relu(conv(h))
    return jnp.transpose(self.out(h)[..., 0], (0, 2, 1))  # [B, K, T]


class CrepeLike(nnx.Module):
  """Separated waveform ``[B, N]`` -> pitch logits ``[B, K, T]``
  (``T = 1 + N // hop``)."""

  def __init__(self, cfg: ml_collections.ConfigDict,
               grid: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    channels = tuple(int(c) for c in cfg.channels)
    self.hop = int(grid.hop_length)
    kernels = (int(cfg.first_kernel),) + (int(cfg.kernel),) * (
        len(channels) - 1)
    ins = (1,) + channels[:-1]
    self.convs = nnx.List([
        nnx.Conv(i, o, (k,), strides=(4 if n == 0 else 1,), padding='SAME',
                 rngs=rngs)
        for n, (i, o, k) in enumerate(zip(ins, channels, kernels))])
    length = CREPE_FRAME // 4
    for _ in channels:
      length //= 2
    if length < 1:
      raise ValueError(f'model.pe.channels {channels}: too many layers for '
                       f'{CREPE_FRAME}-sample frames (max-pooling by 2 each).')
    self.dense = layers.linear(length * channels[-1], int(grid.n_bins),
                               rngs=rngs)
    self.dense.bias.value = jnp.full_like(self.dense.bias.value,
                                          prior_logit(int(grid.n_bins)))

  def __call__(self, mag: jax.Array | None, wave: jax.Array) -> jax.Array:
    del mag
    b, n = wave.shape
    n_frames = 1 + n // self.hop
    half = CREPE_FRAME // 2
    x = jnp.pad(wave, ((0, 0), (half, half)))
    index = (np.arange(n_frames)[:, None] * self.hop
             + np.arange(CREPE_FRAME)[None, :])
    frames = x[:, index]  # [B, T, 1024]
    frames = frames - jnp.mean(frames, axis=-1, keepdims=True)
    frames = frames / (jnp.std(frames, axis=-1, keepdims=True) + 1e-6)
    h = frames.reshape(b * n_frames, CREPE_FRAME, 1)
    for conv in self.convs:
      h = jax.nn.relu(conv(h))
      h = nnx.max_pool(h, (2,), strides=(2,))
    logits = self.dense(h.reshape(b * n_frames, -1))  # [B * T, K]
    return jnp.transpose(logits.reshape(b, n_frames, -1), (0, 2, 1))


class JointCascade(nnx.Module):
  """MSS module, PE module and (with DWHS) the DWM of ``config.model``.

  ``cfg``: ``mss`` (module, channels, n_bins), ``pe`` (module and its
  settings), ``grid`` (the label grid: ``config.hcqt``), ``stft``
  (``config.stft``), ``dwm``.
  """

  def __init__(self, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    if cfg.mss.module not in MSS_MODULES:
      raise ValueError(f'config.model.mss.module must be one of '
                       f'{MSS_MODULES}, got {cfg.mss.module!r}.')
    if cfg.pe.module not in PE_MODULES:
      raise ValueError(f'config.model.pe.module must be one of '
                       f'{PE_MODULES}, got {cfg.pe.module!r}.')
    n_stft = 1 + int(cfg.stft.n_fft) // 2
    self.mss = UNetSeparator(cfg.mss, n_stft,
                             residual=cfg.mss.module == 'resunet', rngs=rngs)
    if cfg.pe.module == 'harmof0':
      self.pe = HarmoF0Like(cfg.pe, cfg.grid, cfg.stft, rngs=rngs)
    else:
      self.pe = CrepeLike(cfg.pe, cfg.grid, rngs=rngs)
    self.dwm = (DynamicWeightModule(cfg.dwm, rngs=rngs)
                if bool(cfg.dwm.enabled) else None)
    self.pe_reads_waveform = cfg.pe.module == 'crepe'

  def __call__(self, mag: jax.Array) -> jax.Array:
    """The separation mask of a mixture magnitude ``[B, F, T]``."""
    return self.mss(mag)
