"""Audio I/O helpers: loading, peak normalisation and training excerpts.

Loading follows the reference (timbre-trap
``timbre_trap/datasets/AudioDataset.py``): read, average the channels to
mono, resample to the model rate (22,050 Hz); peak normalisation is a
separate step (``peak_normalize``).
Errors a user can cause (missing, empty, unreadable or non-finite files) raise
``AudioError`` with one line naming the file.
"""

from __future__ import annotations

import os
import warnings

from absl import logging
import numpy as np
import soundfile as sf


class AudioError(ValueError):
  """An audio file cannot be used (missing, empty, unreadable, non-finite)."""


def _one_line(error: BaseException) -> str:
  text = ' '.join(str(error).split())
  return text or type(error).__name__


def _read_any(path: str) -> tuple[np.ndarray, int]:
  """[N] float32 mono samples and their rate; soundfile first, then librosa."""
  try:
    data, rate = sf.read(path, dtype='float32', always_2d=True)  # [N, C]
    return data.mean(axis=1, dtype=np.float32), int(rate)
  except (sf.LibsndfileError, RuntimeError, TypeError) as sf_error:
    first_error = sf_error
  # Formats libsndfile cannot decode (e.g. some MP3/M4A): librosa's fallback.
  import librosa  # pylint: disable=g-import-not-at-top  (slow import)
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')
      data, rate = librosa.load(path, sr=None, mono=True, dtype=np.float32)
  except Exception as lr_error:  # pylint: disable=broad-except
    reason = _one_line(first_error).replace(f'Error opening {path!r}: ', '')
    raise AudioError(
        f'Cannot read audio file {path!r}: {reason} (librosa fallback: '
        f'{_one_line(lr_error)}).') from lr_error
  logging.debug('Read %s with librosa (soundfile failed: %s).', path,
                _one_line(first_error))
  return np.asarray(data, dtype=np.float32), int(rate)


def load_audio(path: str | os.PathLike[str],
               sample_rate: int = 22050) -> np.ndarray:
  """Reads an audio file as mono float32 at ``sample_rate``.

  Channels are averaged; other rates are resampled with librosa (soxr_hq).
  No normalisation is applied (see ``peak_normalize``).

  Args:
    path: audio file (anything libsndfile reads; other formats via librosa).
    sample_rate: output rate in Hz.

  Returns:
    [N] float32 samples.

  Raises:
    AudioError: missing, empty (zero bytes or zero samples), unreadable or
      corrupt file, or samples that are NaN/Inf. The message is one line and
      names the file.
  """
  path = os.fspath(path)
  if not os.path.exists(path):
    raise AudioError(f'Audio file not found: {path!r}.')
  if os.path.isdir(path):
    raise AudioError(f'Expected an audio file but got a directory: {path!r}.')
  if os.path.getsize(path) == 0:
    raise AudioError(f'Audio file is empty (0 bytes): {path!r}.')
  audio, rate = _read_any(path)
  if audio.size == 0:
    raise AudioError(f'Audio file has no samples: {path!r}.')
  if not np.all(np.isfinite(audio)):
    raise AudioError(f'Audio file contains NaN or Inf samples: {path!r}.')
  if rate != sample_rate:
    audio = resample(audio, rate, sample_rate)
  return np.asarray(audio, dtype=np.float32)


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
  """Band-limited resampling, [N] -> [ceil(N * target_sr / orig_sr)].

  The same result as ``librosa.resample(x, orig_sr=..., target_sr=...,
  res_type='soxr_hq')`` (soxr's high-quality setting, output zero-padded or
  trimmed to the ceiling length), without importing librosa.
  """
  import soxr  # pylint: disable=g-import-not-at-top
  x = np.asarray(x)
  n_out = int(np.ceil(len(x) * float(target_sr) / orig_sr))
  y = soxr.resample(x, orig_sr, target_sr, quality='soxr_hq')
  out = np.zeros(n_out, dtype=x.dtype)
  out[:min(n_out, len(y))] = y[:n_out]
  return out


def peak_normalize(x: np.ndarray) -> np.ndarray:
  """``x / max|x|`` (a new array, same dtype); an all-zero signal stays zero."""
  x = np.asarray(x)
  peak = np.max(np.abs(x)) if x.size else 0
  if peak > 0:
    return (x / peak).astype(x.dtype, copy=False)
  return x.copy()


def excerpt_start(n_audio: int, n_samples: int, rng: np.random.Generator, *,
                  align: int = 1) -> int:
  """Random start of a fixed-length excerpt (the reference excerpt rule).

  A track at least ``n_samples`` long gets a uniform random start in
  ``[0, n_audio - n_samples]``; a shorter track is placed at a uniform random
  left offset inside a zero excerpt, returned as a negative start
  ``-offset`` with offset in ``[0, n_samples - n_audio]``.

  Args:
    n_audio: track length (samples).
    n_samples: excerpt length (samples).
    rng: the random generator to draw from (one integer draw).
    align: draw starts/offsets among multiples of ``align`` only (e.g. the
      hop length, so frame labels stay aligned); 1 = any sample.

  Returns:
    The start sample (negative = left zero padding).
  """
  if n_samples <= 0 or align <= 0:
    raise ValueError(f'n_samples ({n_samples}) and align ({align}) must be '
                     'positive.')
  if n_audio >= n_samples:
    return int(rng.integers(0, (n_audio - n_samples) // align + 1)) * align
  return -int(rng.integers(0, (n_samples - n_audio) // align + 1)) * align


def take_excerpt(audio: np.ndarray, start: int, n_samples: int) -> np.ndarray:
  """``audio[start:start + n_samples]`` with zeros outside the track.

  Args:
    audio: [N, ...] samples (or frames).
    start: first index; negative values pad zeros on the left.
    n_samples: excerpt length.

  Returns:
    [n_samples, ...] array of ``audio``'s dtype.
  """
  audio = np.asarray(audio)
  out = np.zeros((n_samples,) + audio.shape[1:], dtype=audio.dtype)
  lo, hi = max(start, 0), min(start + n_samples, len(audio))
  if hi > lo:
    out[lo - start:hi - start] = audio[lo:hi]
  return out


def fix_length_excerpt(audio: np.ndarray, n_samples: int,
                       rng: np.random.Generator) -> np.ndarray:
  """Reference training excerpt: random crop, or random zero-padded placement.

  Args:
    audio: [N] samples.
    n_samples: excerpt length.
    rng: random generator (one integer draw).

  Returns:
    [n_samples] excerpt, ``audio``'s dtype: a uniformly random crop if
    N >= n_samples, else the whole track at a uniformly random left offset
    with zeros around it.
  """
  start = excerpt_start(len(audio), n_samples, rng)
  return take_excerpt(audio, start, n_samples)
