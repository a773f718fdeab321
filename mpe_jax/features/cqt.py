"""Invertible complex constant-Q transform (Timbre-Trap front end).

A non-stationary Gabor transform (NSGT) in the painless case, evaluated on
fixed-length slices ("sliCQ") as in the released Timbre-Trap, whose CQT came
from ``cqt_pytorch``:

* Audio ``[batch, sample]`` is zero-padded to a whole number of slices of
  ``t = int(block_seconds * sample_rate)`` samples; every slice is transformed
  on its own (rectangular slicing, no overlap), as one period of a circular
  signal.
* Bin ``k`` (``0 <= k < K``, ``K = n_octaves * bins_per_octave``) has centre
  ``f_k = fmin * 2 ** (k / bins_per_octave)`` with ``fmin = (sr / 2) /
  2 ** n_octaves`` (21.53 Hz: 9 octaves below Nyquist at 22,050 Hz) and a Hann
  window over the slice's spectrum of width ``W_k = f_{k+1} / Q`` Hz,
  ``Q = 1 / (2 ** (1 / bpo) - 2 ** (-1 / bpo))`` (the released code takes the
  width from the *next* bin's centre; kept). The window multiplies a crop of
  ``l`` FFT bins starting at ``round(f_k t / sr) - l // 2``; the inverse FFT of
  the windowed crop gives ``l`` complex coefficients per slice and bin, so
  frame ``m`` of slice ``s`` sits at ``(s t + m t / l) / sr`` seconds.
  ``l`` is the reference rule ``2 ** bit_length(max_k round(W_k t / sr))``
  (1,024 for 3-s slices: a hop of 64.6 samples, 2.93 ms; 256 for 1-s
  slices), doubled only if a window's support is longer than ``l``; a window
  that does not fit in the reference crop position is re-centred in its crop.
* Coefficients are not normalised: ``c = ifft_l(g_k X_crop)`` with the
  unscaled slice FFT ``X`` (a unit-amplitude tone on bin centre gives
  ``|c| = t / (2 l) * g_k``; about 32 for 3-s slices).
* Two extra windows complete the frame: a low-pass window centred at 0 Hz
  (width ``4 f_0``) and a high-pass window centred at Nyquist (width
  ``2 (sr / 2 - f_{K-1})``). They are not part of the model's 540 bins; keep
  their coefficients (``edge_bands``) to invert the full transform exactly.

Windows are the continuous Hann ``cos^2(pi (nu - c) / W)`` sampled on the FFT
grid (the NSGT definition); the released code rounded centres and widths to
whole FFT bins, which leaves a few FFT bins below ~40 Hz uncovered, so it is
not exactly invertible. With continuous windows every FFT bin in
``[0, sr / 2]`` is covered (frame bounds ~0.27 and ~1.2), and the inverse with
the canonical dual windows ``g_k / sum_j g_j ** 2`` reconstructs any signal
to float precision when the edge bands are kept, and any signal band-limited
to the CQT range without them.

Shapes: audio ``[batch, sample]``; coefficients ``[batch, 2, bin, frame]``
(real and imaginary parts as channels); edge bands ``[batch, 2, 2, frame]``
(low-pass, high-pass).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@dataclasses.dataclass(frozen=True)
class CQTConfig:
  """Parameters of the sliced constant-Q transform.

  Attributes:
    sample_rate: audio sampling rate in Hz.
    n_octaves: octaves spanned below Nyquist (9 -> fmin = 21.53 Hz at 22,050).
    bins_per_octave: frequency resolution (60 = 5 bins per semitone).
    block_seconds: slice length in seconds (3 in the reference); audio is
      zero-padded to a whole number of slices.
  """

  sample_rate: int = 22050
  n_octaves: int = 9
  bins_per_octave: int = 60
  block_seconds: float = 3.0

  def __post_init__(self):
    if (self.sample_rate <= 0 or self.n_octaves <= 0 or
        self.bins_per_octave <= 0 or self.block_seconds <= 0):
      raise ValueError(f'invalid CQTConfig: {self}')

  @property
  def n_bins(self) -> int:
    return self.n_octaves * self.bins_per_octave

  @property
  def fmin(self) -> float:
    """Centre frequency of bin 0 in Hz: Nyquist / 2 ** n_octaves."""
    return 0.5 * self.sample_rate / 2.0 ** self.n_octaves

  @property
  def block_length(self) -> int:
    """Samples per slice (``int(block_seconds * sample_rate)``)."""
    return int(self.block_seconds * self.sample_rate)

  def bin_frequencies(self) -> np.ndarray:
    """Centre frequency (Hz) of every bin, ``[n_bins]``."""
    k = np.arange(self.n_bins)
    return self.fmin * 2.0 ** (k / self.bins_per_octave)

  @classmethod
  def from_config(cls, cfg) -> 'CQTConfig':
    """From a ``config.cqt`` ConfigDict (keys other than the fields ignored)."""
    return cls(sample_rate=int(cfg.sample_rate),
               n_octaves=int(cfg.n_octaves),
               bins_per_octave=int(cfg.bins_per_octave),
               block_seconds=float(cfg.block_seconds))


@struct.dataclass
class CQT:
  """Precomputed windows of the transform (a pytree; pass it to jit).

  Rows ``0 .. K-1`` are the CQT bins, row ``K`` the low-pass (0 Hz) window and
  row ``K + 1`` the high-pass (Nyquist) window.
  """
  index: jax.Array  # [K + 2, l] int32: FFT bin of each crop sample (mod t)
  window: jax.Array  # [K + 2, l] float32: analysis windows g
  dual: jax.Array  # [K + 2, l] float32: canonical dual windows
  config: CQTConfig = struct.field(pytree_node=False)
  frames_per_block: int = struct.field(pytree_node=False)  # l

  @property
  def n_bins(self) -> int:
    return self.config.n_bins

  @property
  def block_length(self) -> int:
    return self.config.block_length

  @property
  def hop_length(self) -> float:
    """Samples between frames, ``t / l`` (not an integer in general)."""
    return self.block_length / self.frames_per_block

  def num_blocks(self, num_samples: int) -> int:
    return max(1, math.ceil(int(num_samples) / self.block_length))

  def num_frames(self, num_samples: int) -> int:
    """Frames for ``num_samples`` samples (padded to whole slices)."""
    return self.num_blocks(num_samples) * self.frames_per_block

  def frame_times(self, num_frames: int) -> np.ndarray:
    """Time (s) of each frame: ``m * t / (l * sr)``."""
    return np.arange(num_frames) * self.hop_length / self.config.sample_rate

  def bin_frequencies(self) -> np.ndarray:
    return self.config.bin_frequencies()


def _windows(cfg: CQTConfig) -> tuple[np.ndarray, np.ndarray, int]:
  """Centres and widths (in FFT bins of a slice) of all K + 2 windows, and l."""
  t, sr, bpo, k = cfg.block_length, cfg.sample_rate, cfg.bins_per_octave, cfg.n_bins
  q = 1.0 / (2.0 ** (1.0 / bpo) - 2.0 ** (-1.0 / bpo))
  freqs = cfg.fmin * 2.0 ** (np.arange(k + 1) / bpo)  # f_K = Nyquist
  centres = freqs[:k] * t / sr
  widths = freqs[1:] / q * t / sr
  # The reference's frames per slice: next power of two of the longest
  # (rounded) window, with Python's bit_length rule.
  frames = 1 << int(math.ceil(np.round(widths).max())).bit_length()
  nyquist = 0.5 * t
  centres = np.concatenate([centres, [0.0, nyquist]])
  widths = np.concatenate([widths, [4.0 * centres[0],
                                    2.0 * (nyquist - centres[k - 1])]])
  return centres, widths, frames


def _crop_windows(centres: np.ndarray, widths: np.ndarray, frames: int
                  ) -> tuple[np.ndarray, np.ndarray] | None:
  """Absolute FFT positions ``[n, l]`` of each crop and the Hann values.

  A crop starts at ``round(c) - l // 2`` (the reference placement); a window
  whose support does not fit there is re-centred in its crop. Returns None
  when some support is longer than ``l`` samples.
  """
  lo = np.floor(centres - 0.5 * widths).astype(np.int64) + 1  # first g > 0
  hi = np.ceil(centres + 0.5 * widths).astype(np.int64) - 1  # last g > 0
  if np.any(hi - lo + 1 > frames):
    return None
  starts = np.round(centres).astype(np.int64) - frames // 2
  outside = (lo < starts) | (hi > starts + frames - 1)
  starts = np.where(outside, lo - (frames - (hi - lo + 1)) // 2, starts)
  nu = starts[:, None] + np.arange(frames)[None, :]
  d = (nu - centres[:, None]) / widths[:, None]
  g = np.where(np.abs(d) < 0.5, np.cos(np.pi * d) ** 2, 0.0)
  return nu, g


def make_cqt(cfg: CQTConfig | None = None) -> CQT:
  """Builds the transform once, in numpy (float64); cached per config."""
  return _make_cqt(cfg or CQTConfig())


@functools.lru_cache(maxsize=8)
def _make_cqt(cfg: CQTConfig) -> CQT:
  t = cfg.block_length
  if cfg.fmin * t / cfg.sample_rate < 1.0:
    raise ValueError(f'CQT slice of {cfg.block_seconds} s is too short for '
                     f'fmin={cfg.fmin:.2f} Hz: use a longer block_seconds.')
  centres, widths, frames = _windows(cfg)
  crops = _crop_windows(centres, widths, frames)
  while crops is None:  # a window longer than the crop: double l
    frames *= 2
    crops = _crop_windows(centres, widths, frames)
  nu, g = crops
  index = np.mod(nu, t)
  overlap = np.zeros(t)
  np.add.at(overlap, index, g ** 2)
  half = overlap[:t // 2 + 1]
  if half.min() <= 1e-3:
    raise ValueError(f'CQT windows do not cover the spectrum of {cfg}: '
                     f'lower frame bound {half.min():.3g}.')
  dual = np.where(g > 0, g / np.maximum(overlap[index], 1e-12), 0.0)
  return CQT(index=jnp.asarray(index, jnp.int32),
             window=jnp.asarray(g, jnp.float32),
             dual=jnp.asarray(dual, jnp.float32),
             config=cfg, frames_per_block=frames)


def frame_bounds(cqt: CQT) -> tuple[float, float]:
  """Lower and upper frame bounds ``min/max sum_k g_k ** 2`` on [0, sr/2]."""
  t = cqt.block_length
  overlap = np.zeros(t)
  np.add.at(overlap, np.asarray(cqt.index), np.asarray(cqt.window,
                                                       np.float64) ** 2)
  half = overlap[:t // 2 + 1]
  return float(half.min()), float(half.max())


# ------------------------------------------------------------- transforms --


def _blocks(cqt: CQT, audio: jax.Array) -> jax.Array:
  """``[B, N] -> [B, n, t]`` zero-padded slices."""
  audio = jnp.asarray(audio, jnp.float32)
  if audio.ndim != 2:
    raise ValueError(f'audio must be [batch, samples], got {audio.shape}')
  batch, n = audio.shape
  t = cqt.block_length
  blocks = cqt.num_blocks(n)
  audio = jnp.pad(audio, ((0, 0), (0, blocks * t - n)))
  return audio.reshape(batch, blocks, t)


def _analysis(cqt: CQT, audio: jax.Array, rows: slice) -> jax.Array:
  """Complex coefficients ``[B, R, T]`` of the window rows ``rows``."""
  x = _blocks(cqt, audio)  # [B, n, t]
  batch, blocks, _ = x.shape
  spec = jnp.fft.fft(x.astype(jnp.complex64), axis=-1)  # [B, n, t]
  crops = spec[..., cqt.index[rows]] * cqt.window[rows]  # [B, n, R, l]
  coef = jnp.fft.ifft(crops, axis=-1)
  coef = jnp.transpose(coef, (0, 2, 1, 3))  # [B, R, n, l]
  return coef.reshape(batch, coef.shape[1], blocks * cqt.frames_per_block)


def _to_channels(coef: jax.Array) -> jax.Array:
  return jnp.stack([coef.real, coef.imag], axis=1)  # [B, 2, R, T]


@jax.jit
def cqt_transform(cqt: CQT, audio: jax.Array) -> jax.Array:
  """CQT of audio ``[B, N]`` -> ``[B, 2, K, T]`` float32 (real, imaginary).

  ``T = ceil(N / t) * l``; compiled once per audio shape, inlined in an
  outer jit.
  """
  return _to_channels(_analysis(cqt, audio, slice(0, cqt.n_bins)))


@jax.jit
def cqt_with_edges(cqt: CQT, audio: jax.Array
                   ) -> tuple[jax.Array, jax.Array]:
  """``(coefficients [B, 2, K, T], edge_bands [B, 2, 2, T])`` of ``[B, N]``."""
  full = _to_channels(_analysis(cqt, audio, slice(None)))
  return full[:, :, :cqt.n_bins], full[:, :, cqt.n_bins:]


def icqt(cqt: CQT, coefficients: jax.Array, edge_bands: jax.Array | None = None,
         *, num_samples: int | None = None) -> jax.Array:
  """Inverse transform with the canonical dual windows -> audio ``[B, N]``.

  Args:
    cqt: the transform.
    coefficients: ``[B, 2, K, T]`` real/imaginary channels, ``T`` a multiple
      of ``frames_per_block``.
    edge_bands: optional ``[B, 2, 2, T]`` low/high-pass coefficients (from
      ``cqt_with_edges``); without them the output is band-limited to the
      CQT range (about ``0.98 fmin`` to ``sr / 2 - bandwidth``).
    num_samples: crop the output to this length (default: whole slices).

  Returns:
    float32 ``[B, N]``.
  """
  return _icqt(cqt, coefficients, edge_bands, num_samples)


@functools.partial(jax.jit, static_argnums=(3,))
def _icqt(cqt, coefficients, edge_bands, num_samples):
  coefficients = jnp.asarray(coefficients, jnp.float32)
  if coefficients.ndim != 4 or coefficients.shape[1] != 2:
    raise ValueError('coefficients must be [batch, 2, bin, frame], got '
                     f'{coefficients.shape}')
  if edge_bands is not None:
    coefficients = jnp.concatenate(
        [coefficients, jnp.asarray(edge_bands, jnp.float32)], axis=2)
  batch, _, rows, n_frames = coefficients.shape
  l, t = cqt.frames_per_block, cqt.block_length
  if n_frames % l:
    raise ValueError(f'{n_frames} frames is not a multiple of the '
                     f'{l} frames per slice.')
  blocks = n_frames // l
  coef = coefficients[:, 0] + 1j * coefficients[:, 1]  # [B, R, T]
  coef = coef.reshape(batch, rows, blocks, l).transpose(0, 2, 1, 3)
  crops = jnp.fft.fft(coef, axis=-1) * cqt.dual[:rows]  # [B, n, R, l]
  spec = jnp.zeros((batch, blocks, t), jnp.complex64)
  spec = spec.at[..., cqt.index[:rows]].add(crops)
  audio = jnp.fft.irfft(spec[..., :t // 2 + 1], n=t, axis=-1)
  audio = audio.reshape(batch, blocks * t)
  if num_samples is not None:
    audio = audio[:, :num_samples]
  return audio


# ---------------------------------------------------- derived representations


def magnitude(coefficients: jax.Array) -> jax.Array:
  """``|c|`` of ``[B, 2, K, T]`` -> ``[B, K, T]``, with a zero-safe gradient."""
  sq = jnp.sum(jnp.square(coefficients), axis=1)
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def to_decibels(amplitude: jax.Array, *, top_db: float = 80.0,
                amin: float = 1e-10) -> jax.Array:
  """Amplitude ``[B, ...]`` -> per-item dB rescaled to [0, 1].

  ``20 log10(max(a, amin))``, floored ``top_db`` below the item's maximum,
  then ``1 + (dB - max) / top_db`` (torchaudio ``AmplitudeToDB`` followed by
  the released code's rescaling).
  """
  axes = tuple(range(1, amplitude.ndim))
  db = 20.0 * jnp.log10(jnp.maximum(amplitude, amin))
  peak = jnp.max(db, axis=axes, keepdims=True)
  db = jnp.maximum(db, peak - top_db)
  return jnp.clip(1.0 + (db - peak) / top_db, 0.0, 1.0)
