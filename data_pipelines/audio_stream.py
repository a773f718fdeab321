"""Decoding audio files of any length in blocks, for transcription.

``decode_audio(path, sample_rate)`` reads a file block by block with
libsndfile (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, ...), averages the channels,
resamples each block with a streaming soxr resampler (the same 'HQ' filter as
``librosa.resample(res_type='soxr_hq')``, which ``audio.load_audio`` uses, so
the result is identical) and stores the mono signal in memory, or, above
``max_memory_seconds``, in a temporary file that is unlinked at once (nothing
is left behind, even after a crash) and read back by slices
(``DiskSamples``). Memory therefore stays bounded by the block size whatever
the file length. Formats libsndfile cannot
open are decoded whole by librosa (audioread/ffmpeg) instead.

Behaviour for problem files (every error is an ``audio.AudioError`` with one
line naming the file):

* missing path, a directory, 0 bytes, or 0 samples: error;
* not decodable (a non-audio file with an audio extension, a broken header):
  error;
* a decoding failure part-way (e.g. a truncated FLAC stream): error naming the
  time where decoding stopped;
* a WAV file whose data chunk is shorter than its header declares (a recording
  cut short): the samples present are used and a warning says how much is
  missing;
* NaN or Inf samples: error naming the time of the first one;
* clipped audio (more than 0.1 % of the samples at full scale): used, with a
  warning;
* any sample rate and channel count: resampled and averaged to mono.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import tempfile
import warnings as warnings_lib

import numpy as np
import soundfile as sf

from data_pipelines.audio import AudioError

# Fraction of samples at full scale above which a file is reported as clipped.
CLIP_FRACTION = 1e-3
# |x| at or above this counts as full scale (16-bit full scale is 32767/32768).
CLIP_LEVEL = 0.999


@dataclasses.dataclass
class DecodedAudio:
  """A decoded file.

  Attributes:
    path: the file.
    samples: ``[N]`` float32 mono samples at ``sample_rate`` (a
      ``DiskSamples`` for long files: slice it to read).
    sample_rate: Hz of ``samples``.
    source_rate: Hz of the file.
    channels: channels in the file (averaged into ``samples``).
    peak: ``max |samples|``.
    warnings: one-line notes about the file (clipping, truncation).
  """
  path: str
  samples: np.ndarray
  sample_rate: int
  source_rate: int
  channels: int
  peak: float
  warnings: list[str]

  @property
  def seconds(self) -> float:
    return len(self.samples) / self.sample_rate

  @property
  def on_disk(self) -> bool:
    return isinstance(self.samples, DiskSamples)

  def normalize(self) -> None:
    """Divides the samples by their peak (silence stays zero)."""
    if self.peak > 0:
      if self.on_disk:
        self.samples.scale /= self.peak
      else:
        self.samples /= np.float32(self.peak)
      self.peak = 1.0


class DiskSamples:
  """A long float32 signal in an unlinked temporary file, read by slices.

  Supports ``len``, ``x[a:b]`` (a new float32 array, times ``scale``) and
  ``np.asarray(x)``. Reads go through the page cache with ``os.pread``, so
  they do not add to the process's resident memory (a memory map would).
  """

  def __init__(self, spill_dir: str | None = None):
    fd, path = tempfile.mkstemp(prefix='mpe_jax_audio_', suffix='.f32',
                                dir=spill_dir)
    os.unlink(path)  # the open descriptor keeps it; nothing is left behind
    self._fd, self._n, self.scale = fd, 0, 1.0
    self.dtype = np.dtype(np.float32)

  def append(self, x: np.ndarray) -> None:
    data = np.ascontiguousarray(x, np.float32).tobytes()
    written = os.pwrite(self._fd, data, self._n * 4)
    if written != len(data):
      raise OSError(f'short write to the temporary audio file ({written} of '
                    f'{len(data)} bytes)')
    self._n += len(x)

  def __len__(self) -> int:
    return self._n

  @property
  def shape(self) -> tuple[int]:
    return (self._n,)

  def __getitem__(self, index: slice) -> np.ndarray:
    if not isinstance(index, slice) or index.step not in (None, 1):
      raise TypeError('DiskSamples supports contiguous slices only')
    start, stop, _ = index.indices(self._n)
    if stop <= start:
      return np.zeros(0, np.float32)
    data = os.pread(self._fd, (stop - start) * 4, start * 4)
    out = np.frombuffer(data, np.float32).copy()
    if self.scale != 1.0:
      out *= np.float32(self.scale)
    return out

  def __array__(self, dtype=None, copy=None):
    del copy
    out = self[:]
    return out if dtype is None else out.astype(dtype)

  def close(self) -> None:
    if self._fd >= 0:
      os.close(self._fd)
      self._fd = -1

  def __del__(self):
    self.close()


class _Sink:
  """Growing float32 storage: RAM up to a limit, then a ``DiskSamples``."""

  def __init__(self, expected: int, max_memory: int, spill_dir: str | None):
    self.n = 0
    if expected > max_memory:
      self.data = DiskSamples(spill_dir)
    else:
      self.data = np.empty(expected, np.float32)

  def append(self, x: np.ndarray) -> None:
    if isinstance(self.data, DiskSamples):
      self.data.append(x)
      self.n = len(self.data)
      return
    end = self.n + len(x)
    if end > len(self.data):  # a resampler may emit a few extra samples
      self.data = np.concatenate(
          [self.data, np.empty(end - len(self.data) + 4096, np.float32)])
    self.data[self.n:end] = x
    self.n = end

  def result(self):
    if isinstance(self.data, DiskSamples):
      return self.data
    return self.data[:self.n]


def _wav_truncation(path: str, frames: int, rate: int) -> str | None:
  """A warning when a RIFF/WAVE data chunk holds less than its header says."""
  try:
    with open(path, 'rb') as f:
      head = f.read(12)
      if len(head) < 12 or head[:4] != b'RIFF' or head[8:12] != b'WAVE':
        return None
      while True:
        chunk = f.read(8)
        if len(chunk) < 8:
          return None
        cid, size = chunk[:4], struct.unpack('<I', chunk[4:])[0]
        if cid == b'data':
          available = os.path.getsize(path) - f.tell()
          if 0 < available < size and size != 0xFFFFFFFF:
            declared = frames * size / max(available, 1)
            return (f'truncated: the header declares {declared / rate:.2f} s '
                    f'but the file holds {frames / rate:.2f} s; using the '
                    f'{frames / rate:.2f} s present.')
          return None
        f.seek(size + (size & 1), os.SEEK_CUR)
  except OSError:
    return None


def _check_path(path: str) -> None:
  if not os.path.exists(path):
    raise AudioError(f'{path}: file not found.')
  if os.path.isdir(path):
    raise AudioError(f'{path}: is a directory, not an audio file.')
  if os.path.getsize(path) == 0:
    raise AudioError(f'{path}: empty file (0 bytes).')


def _one_line(error: BaseException) -> str:
  return ' '.join(str(error).split()) or type(error).__name__


class _Checks:
  """Per-block NaN/Inf and clipping bookkeeping (source-rate samples)."""

  def __init__(self, path: str, rate: int):
    self.path, self.rate = path, rate
    self.seen = 0
    self.clipped = 0
    self.total = 0

  def block(self, x: np.ndarray) -> None:  # x: [n, C]
    finite = np.isfinite(x)
    if not finite.all():
      first = int(np.argmin(finite.all(axis=1)))
      t = (self.seen + first) / self.rate
      raise AudioError(f'{self.path}: contains NaN or Inf samples (first at '
                       f'{t:.3f} s); repair or re-export the file.')
    self.clipped += int(np.count_nonzero(np.abs(x) >= CLIP_LEVEL))
    self.total += x.size
    self.seen += len(x)

  def warnings(self) -> list[str]:
    if self.total and self.clipped / self.total > CLIP_FRACTION:
      return [f'clipped: {100 * self.clipped / self.total:.2f}% of the '
              f'samples are at full scale; distortion may add spurious '
              f'pitches.']
    return []


def _decode_with_librosa(path: str, sample_rate: int, first_error: Exception
                         ) -> DecodedAudio:
  import librosa  # pylint: disable=g-import-not-at-top  (slow import)
  try:
    with warnings_lib.catch_warnings():
      warnings_lib.simplefilter('ignore')
      data, rate = librosa.load(path, sr=None, mono=False, dtype=np.float32)
  except Exception as e:  # pylint: disable=broad-except
    reason = _one_line(first_error).replace(f"Error opening {path!r}: ", '')
    reason = reason.rstrip('.')
    raise AudioError(
        f'{path}: cannot decode ({reason}; the ffmpeg/audioread fallback '
        f'failed too: {type(e).__name__}). Is it an audio file?') from e
  data = np.atleast_2d(data).T  # [N, C]
  checks = _Checks(path, int(rate))
  if data.shape[0] == 0:
    raise AudioError(f'{path}: no samples (0 frames).')
  checks.block(data)
  mono = data.mean(axis=1, dtype=np.float32)
  if rate != sample_rate:
    mono = librosa.resample(mono, orig_sr=rate, target_sr=sample_rate,
                            res_type='soxr_hq').astype(np.float32)
  return DecodedAudio(path, mono, sample_rate, int(rate), data.shape[1],
                      float(np.max(np.abs(mono))), checks.warnings())


def decode_audio(path: str | os.PathLike[str], sample_rate: int = 22050, *,
                 block_seconds: float = 10.0,
                 max_memory_seconds: float = 1200.0,
                 spill_dir: str | None = None) -> DecodedAudio:
  """Decodes a file to mono float32 at ``sample_rate``, block by block.

  Args:
    path: the audio file.
    sample_rate: output rate in Hz.
    block_seconds: seconds read from the file at a time.
    max_memory_seconds: longer outputs go to an unlinked temporary file.
    spill_dir: directory for that file (default: the system temp dir).

  Returns:
    The decoded audio (not normalised; see ``DecodedAudio.normalize``).

  Raises:
    AudioError: see the module docstring.
  """
  path = os.fspath(path)
  _check_path(path)
  try:
    sfile = sf.SoundFile(path)
  except (sf.LibsndfileError, RuntimeError, TypeError) as e:
    return _decode_with_librosa(path, sample_rate, e)
  with sfile:
    rate, channels, frames = sfile.samplerate, sfile.channels, sfile.frames
    if frames == 0:
      raise AudioError(f'{path}: no samples (a valid header with 0 frames).')
    if 0 < frames < 1 << 40:
      # A few samples of slack for the resampler, 1 % for formats whose frame
      # count is an estimate.
      expected = int(np.ceil(frames * sample_rate / rate * 1.01)) + 16
    else:  # unknown length: grow in memory
      expected, frames = sample_rate * 60, -1
    sink = _Sink(expected, int(max_memory_seconds * sample_rate) if frames > 0
                 else 1 << 62, spill_dir)
    resampler = None
    if rate != sample_rate:
      import soxr  # pylint: disable=g-import-not-at-top
      resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype='float32',
                                      quality='HQ')
    checks = _Checks(path, rate)
    block = max(1, int(block_seconds * rate))
    peak = 0.0
    while True:
      try:
        x = sfile.read(block, dtype='float32', always_2d=True)  # [n, C]
      except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(
            f'{path}: corrupt or truncated audio, decoding stopped at '
            f'{checks.seen / rate:.2f} s ({_one_line(e).rstrip(".")}).') from e
      last = len(x) < block
      if len(x):
        checks.block(x)
      mono = x.mean(axis=1, dtype=np.float32) if len(x) else np.zeros(
          0, np.float32)
      if resampler is not None:
        mono = resampler.resample_chunk(mono, last=last)
      if len(mono):
        peak = max(peak, float(np.max(np.abs(mono))))
        sink.append(mono)
      if last:
        break
  if checks.seen == 0 or sink.n == 0:
    raise AudioError(f'{path}: no samples could be decoded.')
  notes = checks.warnings()
  truncated = _wav_truncation(path, checks.seen, rate)
  if truncated:
    notes.insert(0, truncated)
  return DecodedAudio(path, sink.result(), sample_rate, rate, channels, peak,
                      notes)
