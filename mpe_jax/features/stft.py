"""The short-time Fourier transform and its inverse in ``jnp`` (MAJL's STFT).

The MAJL paper reads 16-kHz audio through an STFT with a 2048-sample Hann
window and a hop of 320 samples (20 ms). Conventions (those of
``librosa.stft`` / ``torch.stft`` with ``center=True``):

* the signal ``[B, N]`` is reflect-padded by ``n_fft // 2`` on both sides, so
  frame ``t`` is centred on sample ``t * hop`` (time ``t * hop / sr``) and
  there are ``1 + N // hop`` frames;
* the window is the periodic Hann window of length ``n_fft``;
* ``stft`` returns ``[B, 1 + n_fft // 2, T]`` complex64 (bins ``k * sr /
  n_fft`` Hz).

``istft`` is the least-squares inverse (weighted overlap-add divided by the
summed squared window), exact for an unmodified spectrogram wherever the
summed squared window is non-zero, and cut back to ``N`` samples. Both are
differentiable (the separation loss runs through ``istft``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np


@dataclasses.dataclass(frozen=True)
class STFTConfig:
  """Front-end settings (``config.stft``).

  Attributes:
    sample_rate: Hz of the audio.
    n_fft: window and FFT length (samples).
    hop_length: samples between frames.
  """
  sample_rate: int = 16000
  n_fft: int = 2048
  hop_length: int = 320

  @classmethod
  def from_config(cls, cfg: ml_collections.ConfigDict) -> STFTConfig:
    return cls(sample_rate=int(cfg.sample_rate), n_fft=int(cfg.n_fft),
               hop_length=int(cfg.hop_length))

  @property
  def n_bins(self) -> int:
    """Frequency bins ``1 + n_fft // 2``."""
    return 1 + self.n_fft // 2

  def num_frames(self, n_samples: int) -> int:
    """Frames of a signal of ``n_samples`` samples."""
    return 1 + int(n_samples) // self.hop_length

  def frame_times(self, n_frames: int) -> np.ndarray:
    """``[n_frames]`` centre time (s) of each frame."""
    return np.arange(n_frames) * self.hop_length / self.sample_rate

  def bin_frequencies(self) -> np.ndarray:
    """``[n_bins]`` Hz of each bin."""
    return np.arange(self.n_bins) * self.sample_rate / self.n_fft


def hann_window(n_fft: int) -> np.ndarray:
  """The periodic Hann window ``0.5 - 0.5 cos(2 pi n / n_fft)``, float32."""
  n = np.arange(n_fft)
  return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)).astype(np.float32)


def _frame_index(n_frames: int, n_fft: int, hop: int) -> np.ndarray:
  """``[T, n_fft]`` sample index of every frame in the padded signal."""
  return (np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None, :])


def stft(cfg: STFTConfig, audio: jax.Array) -> jax.Array:
  """Audio ``[B, N]`` -> complex spectrogram ``[B, F, T]``.

  ``F = 1 + n_fft // 2``, ``T = 1 + N // hop``. ``N`` must exceed
  ``n_fft // 2`` (reflect padding).
  """
  pad = cfg.n_fft // 2
  if audio.ndim != 2 or audio.shape[-1] <= pad:
    raise ValueError(f'stft takes audio [B, N] with N > {pad}, got shape '
                     f'{tuple(audio.shape)}')
  x = jnp.pad(audio.astype(jnp.float32), ((0, 0), (pad, pad)), mode='reflect')
  n_frames = cfg.num_frames(audio.shape[-1])
  frames = x[:, _frame_index(n_frames, cfg.n_fft, cfg.hop_length)]  # [B,T,W]
  spec = jnp.fft.rfft(frames * jnp.asarray(hann_window(cfg.n_fft)), axis=-1)
  return jnp.swapaxes(spec, 1, 2).astype(jnp.complex64)  # [B, F, T]


def istft(cfg: STFTConfig, spec: jax.Array, n_samples: int) -> jax.Array:
  """Complex spectrogram ``[B, F, T]`` -> audio ``[B, n_samples]``.

  Weighted overlap-add of the windowed inverse FFTs divided by the summed
  squared window (where it exceeds 1e-8), the ``n_fft // 2`` padding removed.
  """
  if spec.ndim != 3 or spec.shape[1] != cfg.n_bins:
    raise ValueError(f'istft takes [B, {cfg.n_bins}, T], got shape '
                     f'{tuple(spec.shape)}')
  n_frames = spec.shape[-1]
  window = jnp.asarray(hann_window(cfg.n_fft))
  frames = jnp.fft.irfft(jnp.swapaxes(spec, 1, 2), n=cfg.n_fft, axis=-1)
  frames = frames * window  # [B, T, W]
  index = _frame_index(n_frames, cfg.n_fft, cfg.hop_length)
  length = (n_frames - 1) * cfg.hop_length + cfg.n_fft
  out = jnp.zeros((spec.shape[0], length), jnp.float32)
  out = out.at[:, index.reshape(-1)].add(
      frames.reshape(spec.shape[0], -1).astype(jnp.float32))
  norm = np.zeros(length, np.float64)
  np.add.at(norm, index.reshape(-1),
            np.tile(hann_window(cfg.n_fft).astype(np.float64) ** 2,
                    n_frames))
  norm = np.where(norm > 1e-8, norm, 1.0).astype(np.float32)
  out = out / jnp.asarray(norm)
  pad = cfg.n_fft // 2
  out = out[:, pad:pad + n_samples]
  if out.shape[-1] < n_samples:
    out = jnp.pad(out, ((0, 0), (0, n_samples - out.shape[-1])))
  return out


def magnitude(spec: jax.Array) -> jax.Array:
  """``|spec|`` as float32."""
  return jnp.abs(spec).astype(jnp.float32)


def with_phase_of(mag: jax.Array, spec: jax.Array) -> jax.Array:
  """A magnitude ``[B, F, T]`` with the phase of ``spec`` (complex64); bins
  where ``spec`` is 0 get phase 0."""
  size = jnp.abs(spec)
  unit = jnp.where(size > 0, spec / jnp.where(size > 0, size, 1.0), 1.0)
  return (mag * unit).astype(jnp.complex64)
