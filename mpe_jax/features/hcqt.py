"""Harmonic variable-Q transform (HCQT) as pure jnp functions.

Definition (the reference front end of SS-MPE): for every harmonic ``h`` an
independent bank of ``n_bins`` complex filters with centre frequencies
``h * fmin * 2 ** (k / bins_per_octave)``, the filters of
``librosa.filters.wavelet(window='hann', filter_scale=1, pad_fft=False,
norm=None, gamma=...)`` (built by ``wavelets.hann_wavelets``), centre-padded
to the longest filter of that harmonic (``ks_h`` taps). Frame ``n`` is the
inner product of the filter with the zero-padded waveform centred on sample
``n * hop_length`` (so there are ``1 + N // hop_length`` frames); the feature
is its magnitude.

Evaluation: each inner product is computed exactly in the frequency domain
(real Parseval identity) on frames whose FFT size is the next power of two
above the filter's length. A filter's spectrum is concentrated around its
centre frequency, so each filter keeps only the FFT bins where its kernel is
above ``kernel_tolerance`` times its peak; filters sharing an FFT size are
grouped into chunks that read one contiguous band of bins, making the whole
transform a handful of FFTs and small dense matmuls (about 20x fewer FLOPs
than the direct strided convolution).

Long filters (FFT size >= ``fold_min_fft``, the low bins) skip the per-frame
FFTs: their frames overlap by up to 97 %, so instead the audio is cut into a
few long blocks of ``P = 4 * n_fft`` samples, each block is transformed once,
and every filter's frames within a block come out of one short inverse FFT.
With ``M = P / hop`` frames per block period, the frame outputs are
``y[t] = (1 / P) * sum_nu G[nu] conj(U[nu]) exp(-2 pi i nu t / M)``, so summing
the filter-weighted block spectrum over frequencies congruent modulo ``M``
("folding", exact: the hop divides ``P``) and taking an ``M``-point FFT gives
all ``M`` frame values, of which the first ``M - n_fft / hop`` are free of
wrap-around. The work per filter is its spectral support instead of
``frames x support``.

Harmonic channels overlap on the frequency grid: with the default
harmonics, h = 0.5 bins 60.. equal h = 1 bins 0.. and h = 1 bins 60.. equal
h = 2 bins 0.. (same taps, same centring; h = 4 sits one sample off h = 2, so
it is kept apart). Each distinct filter is evaluated once (1,880 of the 2,640).

Shapes: audio ``[batch, sample]`` at ``sample_rate`` Hz; features
``[batch, harmonic, bin, frame]``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mpe_jax.features import wavelets


@dataclasses.dataclass(frozen=True)
class HCQTConfig:
  """Parameters of the harmonic VQT.

  Attributes:
    sample_rate: audio sampling rate in Hz.
    hop_length: samples between frames (256 -> 11.61 ms at 22,050 Hz).
    fmin: centre frequency of bin 0 of the h = 1 channel, Hz (A0).
    bins_per_octave: frequency resolution (60 = 5 bins per semitone).
    n_bins: bins per harmonic channel (440 = 88 semitones).
    harmonics: channel multipliers of ``fmin``, in channel order.
    gamma: VQT bandwidth offset in Hz; ``None`` uses librosa's ERB rule
      ``24.7 * alpha / 0.108`` (lhvqt 0.5.4, the released code).
    zero_above_nyquist: replace every filter whose upper band edge
      ``f * (1 + 0.5 * bw_hann / Q)`` (``Q = 1 / (2 ** (1 / bpo) - 1)``)
      exceeds Nyquist by an all-zero filter (lhvqt 0.5.3 behaviour; use it with
      ``gamma=24.7 * (2 ** (1 / 60) - 1) / 0.108``).
    normalize_filters: L1-normalise each filter (librosa's default ``norm=1``)
      instead of leaving the peak at 1 (``norm=None``, the reference).
    top_db: dynamic range kept below each item's maximum, dB.
    amin: amplitude floor before taking logs.
    kernel_tolerance: relative magnitude below which a filter's spectral
      kernel is truncated (accuracy/speed trade-off of the FFT evaluation).
    chunk_size: filters per dense matmul chunk.
    fold_min_fft: filters whose FFT size is at least this many samples are
      evaluated by block folding (see the module docstring); ``0`` disables
      folding. Exact either way; a speed choice.
    fold_chunk_size: filters per folded chunk (they share one spectral band
      and one real matrix product per residue). The default keeps each fold
      group in one chunk: the Hann sidelobes make every filter's band span
      most of its group's, so one larger product beats several narrower
      ones with their band copies (1.2-1.3x faster transform).
  """

  sample_rate: int = 22050
  hop_length: int = 256
  fmin: float = 27.5
  bins_per_octave: int = 60
  n_bins: int = 440
  harmonics: tuple[float, ...] = (0.5, 1, 2, 3, 4, 5)
  gamma: float | None = None
  zero_above_nyquist: bool = False
  normalize_filters: bool = False
  top_db: float = 80.0
  amin: float = 1e-5
  kernel_tolerance: float = 1e-7
  chunk_size: int = 64
  fold_min_fft: int = 1024
  fold_chunk_size: int = 1024

  def __post_init__(self):
    object.__setattr__(self, 'harmonics',
                       tuple(float(h) for h in self.harmonics))
    if self.hop_length <= 0 or self.n_bins <= 0 or self.bins_per_octave <= 0:
      raise ValueError(f'invalid HCQTConfig: {self}')
    if self.fold_min_fft < 0 or self.fold_chunk_size <= 0 or self.chunk_size <= 0:
      raise ValueError('config.hcqt.fold_min_fft must be >= 0 and '
                       'chunk_size / fold_chunk_size > 0')
    if 1.0 not in self.harmonics:
      raise ValueError('HCQTConfig.harmonics must contain 1 (the f0 channel)')

  @property
  def num_harmonics(self) -> int:
    return len(self.harmonics)

  def num_frames(self, num_samples: int) -> int:
    """Frames produced for ``num_samples`` samples: ``1 + N // hop``."""
    return 1 + int(num_samples) // self.hop_length

  def frame_times(self, num_frames: int) -> np.ndarray:
    """Centre time of each frame in seconds: ``n * hop / sr``."""
    return np.arange(num_frames) * self.hop_length / self.sample_rate

  def bin_frequencies(self, harmonic: float = 1.0) -> np.ndarray:
    """Centre frequencies (Hz) of one harmonic channel's bins."""
    k = np.arange(self.n_bins)
    return harmonic * self.fmin * 2.0 ** (k / self.bins_per_octave)

  def bin_midi(self, harmonic: float = 1.0) -> np.ndarray:
    """MIDI pitch of each bin: ``midi(fmin) + 12 log2(h) + 12 k / bpo``."""
    base = 69.0 + 12.0 * math.log2(self.fmin / 440.0)
    k = np.arange(self.n_bins)
    return base + 12.0 * math.log2(harmonic) + 12.0 * k / self.bins_per_octave

  @classmethod
  def from_config(cls, cfg) -> 'HCQTConfig':
    """Builds from a ``config.hcqt`` ConfigDict (or any mapping)."""
    fields = {f.name for f in dataclasses.fields(cls)}
    values = dict(cfg.items()) if hasattr(cfg, 'items') else dict(cfg)
    unknown = set(values) - fields
    if unknown:
      raise ValueError(f'unknown config.hcqt keys {sorted(unknown)}; '
                       f'valid keys: {sorted(fields)}')
    if values.get('gamma', None) is not None and values['gamma'] < 0:
      raise ValueError('config.hcqt.gamma must be >= 0 or None')
    return cls(**values)


def harmonic_filters(cfg: HCQTConfig, harmonic: float) -> np.ndarray:
  """Time-domain filters of one harmonic channel, ``[n_bins, ks_h]`` complex128.

  Row ``k`` is centre-padded to ``ks_h = ceil(max length)``; sample ``i`` of a
  row multiplies the input sample ``n * hop - ks_h // 2 + i`` for frame ``n``.
  """
  freqs = cfg.bin_frequencies(harmonic)
  if cfg.zero_above_nyquist:
    q = 1.0 / (2.0 ** (1.0 / cfg.bins_per_octave) - 1.0)
    edge = freqs * (1 + 0.5 * wavelets.HANN_BANDWIDTH / q)
    valid = int(np.sum(edge <= cfg.sample_rate / 2.0))
  else:
    valid = len(freqs)
  if valid == 0:
    raise ValueError(f'every filter of harmonic {harmonic} lies above Nyquist')
  basis = wavelets.hann_wavelets(freqs[:valid], cfg.sample_rate,
                                 _relative_bandwidth(cfg), cfg.gamma,
                                 l1_normalize=cfg.normalize_filters)
  out = np.zeros((len(freqs), basis.shape[-1]), np.complex128)
  out[:valid] = basis
  return out


def _relative_bandwidth(cfg: HCQTConfig) -> float:
  """librosa's alpha for a geometric grid: (r^2 - 1) / (r^2 + 1), r = 2^(1/bpo)."""
  r2 = 2.0 ** (2.0 / cfg.bins_per_octave)
  return (r2 - 1.0) / (r2 + 1.0)


@struct.dataclass
class _Chunk:
  kernel: jax.Array  # [2 * band, 2 * filters] float32
  lo: int = struct.field(pytree_node=False)
  hi: int = struct.field(pytree_node=False)


@struct.dataclass
class _Group:
  chunks: tuple[_Chunk, ...]
  n_fft: int = struct.field(pytree_node=False)


@struct.dataclass
class _FoldChunk:
  # [period, 2 * wraps, 2 * filters] float32: per residue r, row 2 w + c reads
  # the real (c = 0) or imaginary (c = 1) part of block-FFT bin
  # (first + w) * period + r; column c' * filters + f gives the real (c' = 0)
  # or imaginary (c' = 1) part of filter f's folded value.
  kernel: jax.Array
  first: int = struct.field(pytree_node=False)  # first wrap (bin // period)


@struct.dataclass
class _FoldGroup:
  chunks: tuple[_FoldChunk, ...]
  n_fft: int = struct.field(pytree_node=False)  # frame extent of the filters
  size: int = struct.field(pytree_node=False)  # block length P (samples)
  frames: int = struct.field(pytree_node=False)  # valid frames per block


@struct.dataclass
class Filterbank:
  """Precomputed spectral kernels of an HCQT (a pytree; pass it to jit).

  ``order`` maps the concatenated outputs (frame groups, then folded groups)
  back to ``[harmonic, bin]`` order (flattened); a filter shared by two
  harmonic channels is evaluated once and read by both.
  """
  groups: tuple[_Group, ...]
  folds: tuple[_FoldGroup, ...]
  order: jax.Array  # [H * K] int32
  config: HCQTConfig = struct.field(pytree_node=False)

  @property
  def context_samples(self) -> int:
    """Frame ``n`` reads only samples within this many of ``n * hop``."""
    return max(g.n_fft for g in (*self.groups, *self.folds)) // 2


def _significant_band(spectrum: np.ndarray, tol: float) -> tuple[int, int]:
  mag = np.abs(spectrum)
  peak = mag.max()
  if peak == 0:
    return 0, 0
  idx = np.nonzero(mag > tol * peak)[0]
  return int(idx[0]), int(idx[-1]) + 1


def make_filterbank(cfg: HCQTConfig | None = None) -> Filterbank:
  """Builds the HCQT filterbank once, in numpy (float64), from ``cfg``.

  Results are cached per (hashable, frozen) config.
  """
  return _make_filterbank(cfg or HCQTConfig())


@functools.lru_cache(maxsize=8)
def _make_filterbank(cfg: HCQTConfig) -> Filterbank:
  # Every distinct filter, described by (flat output index, n_fft, real frame
  # kernel). Harmonic channels overlap on the frequency grid (h = 1 bin k + bpo
  # is h = 2 bin k when both are centred alike), so a filter equal to one
  # already kept (to 1e-9 of its peak, far below float32 resolution) is not
  # evaluated again: its output index reads the kept one's (``aliases``).
  per_fft: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
  kept: dict[tuple[int, int, int], list[tuple[int, np.ndarray]]] = {}
  aliases: dict[int, int] = {}
  for h_idx, h in enumerate(cfg.harmonics):
    filters = harmonic_filters(cfg, h)
    ks = filters.shape[-1]
    for k in range(cfg.n_bins):
      f = filters[k]
      nz = np.nonzero(f)[0]
      if nz.size == 0:
        continue  # an all-zero filter: output stays 0 (filled below)
      first, last = int(nz[0]), int(nz[-1]) + 1
      n_fft = int(2 ** math.ceil(math.log2(max(last - first, 2))))
      # Frame of size n_fft covers input samples n*hop - n_fft//2 + j.
      start = first - ks // 2 + n_fft // 2
      if start < 0 or start + (last - first) > n_fft:
        n_fft *= 2
        start = first - ks // 2 + n_fft // 2
      flat = h_idx * cfg.n_bins + k
      taps = f[first:last]
      same = kept.setdefault((n_fft, start, last - first), [])
      tol = 1e-9 * np.abs(taps).max()
      twin = next((j for j, t in same if np.abs(t - taps).max() <= tol), None)
      if twin is not None:
        aliases[flat] = twin
        continue
      same.append((flat, taps))
      buf = np.zeros(n_fft, np.complex128)
      buf[start:start + last - first] = taps
      per_fft.setdefault(n_fft, []).append((flat, buf.real, buf.imag))

  groups, folds, order = [], [], []
  fold_ffts = [n for n in sorted(per_fft)
               if cfg.fold_min_fft and n >= cfg.fold_min_fft]
  for n_fft in sorted(per_fft):
    if n_fft in fold_ffts:
      continue
    items = per_fft[n_fft]
    n_rfft = n_fft // 2 + 1
    # Real Parseval: sum_j a[j] b[j] = (1/N) sum_m c_m (Ar Br + Ai Bi),
    # c_m = 1 at DC and Nyquist, 2 elsewhere.
    c = np.full(n_rfft, 2.0)
    c[0] = 1.0
    c[-1] = 1.0
    specs = []
    for flat, re, im in items:
      sr_, si_ = np.fft.rfft(re), np.fft.rfft(im)
      lo_r, hi_r = _significant_band(sr_, cfg.kernel_tolerance)
      lo_i, hi_i = _significant_band(si_, cfg.kernel_tolerance)
      lo, hi = min(lo_r, lo_i), max(hi_r, hi_i)
      specs.append((lo, hi, flat, sr_, si_))
    specs.sort(key=lambda s: (s[0] + s[1]) / 2)
    chunks = []
    for c0 in range(0, len(specs), cfg.chunk_size):
      part = specs[c0:c0 + cfg.chunk_size]
      lo = min(s[0] for s in part)
      hi = max(s[1] for s in part)
      band = hi - lo
      kernel = np.zeros((2 * band, 2 * len(part)), np.float64)
      w = c[lo:hi] / n_fft
      for j, (_, _, flat, sr_, si_) in enumerate(part):
        # Output real part: <a, re>; imaginary part: <a, im>.
        kernel[:band, 2 * j] = w * sr_[lo:hi].real
        kernel[band:, 2 * j] = w * sr_[lo:hi].imag
        kernel[:band, 2 * j + 1] = w * si_[lo:hi].real
        kernel[band:, 2 * j + 1] = w * si_[lo:hi].imag
        order.append(flat)
      chunks.append(_Chunk(kernel=jnp.asarray(kernel.astype(np.float32)),
                           lo=lo, hi=hi))
    groups.append(_Group(chunks=tuple(chunks), n_fft=n_fft))
  for n_fft in fold_ffts:
    folds.append(_fold_group(per_fft[n_fft], n_fft, cfg, order))

  # Outputs are concatenated in `order`; all-zero filters read a constant 0
  # appended at the end (index len(order)); shared filters read their twin's.
  total = cfg.num_harmonics * cfg.n_bins
  position = np.full(total, len(order), np.int32)
  position[np.asarray(order, np.int64)] = np.arange(len(order), dtype=np.int32)
  for flat, twin in aliases.items():
    position[flat] = position[twin]
  return Filterbank(groups=tuple(groups), folds=tuple(folds),
                    order=jnp.asarray(position), config=cfg)


def _circular_band(mask: np.ndarray) -> tuple[int, int]:
  """Shortest circular interval ``(lo, width)`` covering every True entry."""
  idx = np.nonzero(mask)[0]
  size = len(mask)
  if idx.size == 0:
    return 0, 0
  gaps = np.diff(np.concatenate([idx, idx[:1] + size]))
  g = int(np.argmax(gaps))
  if gaps[g] <= 1:
    return 0, size
  lo = int(idx[(g + 1) % idx.size])
  return lo, (int(idx[g]) - lo) % size + 1


def _fold_group(items, n_fft: int, cfg: HCQTConfig, order: list
                ) -> _FoldGroup:
  """Block-folding kernels for filters whose frame extent is ``n_fft``.

  Blocks of ``size = period * hop`` samples (``period = ceil(4 n_fft / hop)``
  frames) start every ``frames * hop`` samples; a filter's kernel is its
  block-length spectrum divided by ``size``, over the whole wraps (runs of
  ``period`` bins) that cover the chunk's band, laid out residue-major as the
  real form of the complex product (see ``_FoldChunk``).
  """
  hop = cfg.hop_length
  period = -(-4 * n_fft // hop)
  size = period * hop
  frames = period - (-(-n_fft // hop))
  specs = []
  for flat, re, im in items:
    spec = np.fft.fft(re + 1j * im, size)  # frame buffer at samples [0, n_fft)
    mag = np.abs(spec)
    specs.append((flat, spec, mag / mag.max()))
  specs.sort(key=lambda s: int(np.argmax(s[2])))
  chunks = []
  for c0 in range(0, len(specs), cfg.fold_chunk_size):
    part = specs[c0:c0 + cfg.fold_chunk_size]
    lo, width = _circular_band(
        np.max([s[2] for s in part], axis=0) > cfg.kernel_tolerance)
    # Whole wraps from a multiple of the period, so that residue r of the
    # band is residue r of the block spectrum (bins beyond the band are kept
    # with their exact values: more accuracy, no approximation).
    first = lo // period
    wraps = -(-(lo - first * period + max(width, 1)) // period)
    if wraps * period > size:  # would read some bins twice: take them all
      first, wraps = 0, size // period
    bins = (first * period + np.arange(wraps * period)) % size
    kern = np.stack([s[1][bins] for s in part]) / size  # [F, W * R]
    kern = np.transpose(kern.reshape(len(part), wraps, period), (2, 1, 0))
    # Complex product as a real one: (xr + i xi)(kr + i ki).
    real = np.zeros((period, wraps, 2, 2, len(part)))
    real[:, :, 0, 0], real[:, :, 0, 1] = kern.real, kern.imag
    real[:, :, 1, 0], real[:, :, 1, 1] = -kern.imag, kern.real
    chunks.append(_FoldChunk(
        kernel=jnp.asarray(real.reshape(period, 2 * wraps, 2 * len(
            part)).astype(np.float32)), first=first))
    order.extend(s[0] for s in part)
  return _FoldGroup(chunks=tuple(chunks), n_fft=n_fft, size=size,
                    frames=frames)


def _frames(audio: jax.Array, n_fft: int, hop: int, n_frames: int
            ) -> jax.Array:
  """``[B, N] -> [B, T, n_fft]``: frame n covers samples n*hop - n_fft//2 + j."""
  batch = audio.shape[0]
  left = n_fft // 2
  if n_fft % hop == 0:
    per = n_fft // hop
    total = (n_frames + per - 1) * hop
    x = jnp.pad(audio, ((0, 0), (left, max(0, total - left - audio.shape[1]))))
    x = x[:, :total].reshape(batch, n_frames + per - 1, hop)
    return jnp.concatenate([x[:, i:i + n_frames] for i in range(per)], axis=-1)
  if hop % n_fft == 0 or n_fft < hop:
    total = n_frames * hop
    x = jnp.pad(audio, ((0, 0), (left, max(0, total - left - audio.shape[1]))))
    return x[:, :total].reshape(batch, n_frames, hop)[:, :, :n_fft]
  idx = np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None, :]
  x = jnp.pad(audio, ((0, 0), (left, n_fft)))
  return x[:, idx]


def _block_spectrum(blocks: jax.Array, lo: int, hi: int) -> jax.Array:
  """Conjugated DFT bins ``[lo, hi)`` (taken modulo ``P``) of real blocks.

  ``[..., P] -> [..., hi - lo]`` complex64, from a real FFT; bins above
  ``P / 2`` are the conjugate mirror of those below.
  """
  size = blocks.shape[-1]
  spec = jnp.fft.rfft(blocks, axis=-1)  # [..., P // 2 + 1]
  idx = np.arange(lo, hi) % size
  mirror = idx > size // 2
  if not mirror.any() and np.all(np.diff(idx) == 1):
    return jnp.conj(spec[..., idx[0]:idx[-1] + 1])
  # X[P - k] = conj(X[k]) for real input.
  spec = jnp.take(spec, np.where(mirror, size - idx, idx), axis=-1)
  return jnp.where(mirror, spec, jnp.conj(spec))


def _folded_power(group: _FoldGroup, audio: jax.Array, hop: int,
                  n_frames: int) -> jax.Array:
  """Squared outputs ``[B, F, T]`` of a folded group (module docstring)."""
  batch, n = audio.shape
  step = group.frames * hop
  n_blocks = -(-n_frames // group.frames)
  total = (n_blocks - 1) * step + group.size
  left = group.n_fft // 2
  x = jnp.pad(audio, ((0, 0), (left, max(0, total - left - n))))[:, :total]
  starts = np.arange(n_blocks)[:, None] * step
  blocks = x[:, starts + np.arange(group.size)[None, :]]  # [B, J, P]
  period = group.chunks[0].kernel.shape[0]
  # Only the wraps (runs of ``period`` bins) that some chunk reads.
  lo_w = min(c.first for c in group.chunks)
  hi_w = max(c.first + c.kernel.shape[1] // 2 for c in group.chunks)
  spec = _block_spectrum(blocks, lo_w * period, hi_w * period)
  # Residue-major real layout [R, B * J, wraps, 2].
  spec = spec.reshape(batch * n_blocks, hi_w - lo_w, period)
  spec = jnp.stack([spec.real, spec.imag], axis=-1)
  spec = jnp.transpose(spec, (2, 0, 1, 3))
  folded = []
  for chunk in group.chunks:
    wraps = chunk.kernel.shape[1] // 2
    band = spec[:, :, chunk.first - lo_w:chunk.first - lo_w + wraps]
    band = band.reshape(period, batch * n_blocks, 2 * wraps)
    # One small real product per residue r (batched over r).
    out = jnp.einsum('rnw,rwf->rnf', band, chunk.kernel,
                     precision=jax.lax.Precision.HIGHEST)
    folded.append(out.reshape(period, batch * n_blocks, 2, -1))
  folded = jnp.concatenate(folded, axis=-1)  # [R, B * J, 2, F]
  folded = jax.lax.complex(folded[:, :, 0], folded[:, :, 1])
  y = jnp.fft.fft(jnp.transpose(folded, (1, 2, 0)), axis=-1)
  y = y[..., :group.frames]  # [B * J, F, frames]
  power = jnp.square(y.real) + jnp.square(y.imag)
  power = power.reshape(batch, n_blocks, -1, group.frames)
  power = jnp.swapaxes(power, 1, 2).reshape(batch, -1,
                                            n_blocks * group.frames)
  return power[:, :, :n_frames]


def _safe_sqrt(x: jax.Array) -> jax.Array:
  return jnp.sqrt(jnp.maximum(x, 1e-30))


@jax.jit
def hcqt_power(filterbank: Filterbank, audio: jax.Array) -> jax.Array:
  """Squared HCQT magnitude ``[B, H, K, T]`` of audio ``[B, N]`` (float32).

  Compiled once per audio shape; inside an outer jit it is inlined.
  """
  cfg = filterbank.config
  audio = jnp.asarray(audio, jnp.float32)
  if audio.ndim != 2:
    raise ValueError(f'audio must be [batch, samples], got {audio.shape}')
  batch, n = audio.shape
  n_frames = cfg.num_frames(n)
  outs = []
  for group in filterbank.groups:
    frames = _frames(audio, group.n_fft, cfg.hop_length, n_frames)
    spec = jnp.fft.rfft(frames, axis=-1)  # [B, T, n_fft // 2 + 1]
    for chunk in group.chunks:
      band = spec[..., chunk.lo:chunk.hi]
      x = jnp.concatenate([band.real, band.imag], axis=-1)
      y = jnp.einsum('btm,mf->bft', x, chunk.kernel,
                     precision=jax.lax.Precision.HIGHEST)
      y = y.reshape(batch, -1, 2, n_frames)
      outs.append(jnp.sum(jnp.square(y), axis=2))  # [B, F, T]
  for group in filterbank.folds:
    outs.append(_folded_power(group, audio, cfg.hop_length, n_frames))
  outs.append(jnp.zeros((batch, 1, n_frames), jnp.float32))
  power = jnp.concatenate(outs, axis=1)  # [B, n_out + 1, T]
  power = jnp.take(power, filterbank.order, axis=1)  # [B, H*K, T]
  return power.reshape(batch, cfg.num_harmonics, cfg.n_bins, n_frames)


def hcqt_magnitude(filterbank: Filterbank, audio: jax.Array) -> jax.Array:
  """HCQT magnitude ``[B, H, K, T]`` of audio ``[B, N]`` (float32)."""
  return _safe_sqrt(hcqt_power(filterbank, audio))


def power_to_db(power: jax.Array, *, amin: float = 1e-5,
                top_db: float = 80.0,
                reference: jax.Array | None = None) -> jax.Array:
  """Power -> dB relative to each item's maximum, floored at ``-top_db``.

  The reference is the maximum over every non-batch axis of each item, or
  ``reference`` (``[B]`` power) when given (chunked inference passes the
  maximum of the whole file); an item whose reference is 0 is entirely at
  ``-top_db``. Returns dB in [-top_db, 0] (above 0 where ``power`` exceeds an
  explicit reference).
  """
  axes = tuple(range(1, power.ndim))
  if reference is None:
    ref = jnp.max(power, axis=axes, keepdims=True)
  else:
    ref = jnp.reshape(jnp.asarray(reference, power.dtype),
                      (-1,) + (1,) * len(axes))
  floor = amin ** 2
  db = 10.0 * jnp.log10(jnp.maximum(power, floor))
  db = db - 10.0 * jnp.log10(jnp.maximum(ref, floor))
  db = jnp.maximum(db, -top_db)
  return jnp.where(ref == 0, -top_db, db)


def to_decibels(magnitude: jax.Array, *, amin: float = 1e-5,
                top_db: float = 80.0) -> jax.Array:
  """Magnitude ``[B, ...]`` -> per-item dB scaled to [0, 1] (``1 + dB / top_db``)."""
  return _scale(power_to_db(jnp.square(magnitude), amin=amin, top_db=top_db),
                top_db)


def _scale(db: jax.Array, top_db: float) -> jax.Array:
  # Clipped so that fused float arithmetic never leaves [0, 1] (the floor
  # -top_db maps to exactly 0).
  return jnp.clip(1.0 + db / top_db, 0.0, 1.0)


def harmonic_weights(harmonics: Sequence[float]) -> np.ndarray:
  """Weights ``1 / h**2`` with sub-harmonics zeroed, normalised to sum 1."""
  h = np.asarray(harmonics, np.float64)
  w = 1.0 / h ** 2
  w[w > 1] = 0.0
  return (w / w.sum()).astype(np.float32)


def features_from_power(power: jax.Array, cfg: HCQTConfig
                        ) -> dict[str, jax.Array]:
  """Model input and energy targets from HCQT power ``[B, H, K, T]``.

  Returns:
    ``db``: scaled dB features ``[B, H, K, T]`` in [0, 1] (model input);
    ``db_1``: the h = 1 channel ``[B, K, T]``;
    ``db_h``: scaled dB of the weighted harmonic sum ``[B, K, T]``, where
      ``pw_h = sum_h (w_h * am_h) ** 2`` over the normalised amplitudes
      ``am = 10 ** (dB / 20)`` (zero at the floor), with its own per-item
      reference.
  """
  db = power_to_db(power, amin=cfg.amin, top_db=cfg.top_db)  # [-80, 0]
  # am ** 2 as exp(): XLA:CPU evaluates a float power ~10x slower. The sum
  # over harmonics is unrolled over the nonzero weights (a reduction over a
  # middle axis of a [B, H, K, T] array is slow there as well).
  am2 = jnp.where(db <= -cfg.top_db, 0.0, jnp.exp(db * (np.log(10.0) / 10.0)))
  pw_h = sum(float(w) ** 2 * am2[:, i]
             for i, w in enumerate(harmonic_weights(cfg.harmonics)) if w)
  db_h = power_to_db(pw_h, amin=cfg.amin, top_db=cfg.top_db)
  h1 = cfg.harmonics.index(1.0)
  scaled = _scale(db, cfg.top_db)
  return {'db': scaled, 'db_1': scaled[:, h1],
          'db_h': _scale(db_h, cfg.top_db)}


def hcqt_features(filterbank: Filterbank, audio: jax.Array
                  ) -> dict[str, jax.Array]:
  """Audio ``[B, N]`` -> ``{'db', 'db_1', 'db_h'}`` (see features_from_power)."""
  return features_from_power(hcqt_power(filterbank, audio), filterbank.config)
