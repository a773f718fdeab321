"""Prepared corpora: decoded, resampled tracks in random-access shards.

``python -m data_pipelines.prepare`` turns a corpus split into a folder

  <data_dir>/<corpus>/<split>/index.json
  <data_dir>/<corpus>/<split>/chunks-00000-of-0000S.array_record

so that training reads a few hundred kilobytes per excerpt instead of decoding
and resampling a whole WAV/MP3 file. Every track is cut into chunks of
``chunk_samples`` samples (a multiple of the hop); chunk records are stored
in track order in ArrayRecord shards (random access by record index). A
record is an uncompressed numpy ``.npz`` payload (readable without
TensorFlow) with the arrays

* ``audio``: the chunk's samples of the record's peak-normalised 22,050-Hz
  audio, as 16-bit PCM (``audio_dtype='int16'``, the default: x * 32767
  rounded, i.e. quantisation noise 96 dB below the peak, under the HCQT's
  80-dB range; half the disk space) or exactly as float32;
* ``label_frames`` (int64) / ``label_bins`` (int16): the active (frame, bin)
  cells of the track's HCQT label grid (``Record.label_grid``) whose frame
  lies in the chunk's frame range ``[c * F, (c + 1) * F)``, F = chunk_samples
  / hop (the last chunk also holds the track's last frame ``N // hop``);
  frames are counted from the start of the track.

``index.json`` holds the format version, the corpus/split, the sample rate,
the audio dtype, the label grid (hop, fmin, bins per octave, bins), the chunk
size, the shard files with their record counts, and per track its name,
sample count and first chunk. ``PreparedStore`` reads excerpts back, checking
that the grid matches the config.
"""

from __future__ import annotations

import io
import json
import os
import threading

import numpy as np

from data_pipelines import npz

FORMAT = 'mpe_jax.prepared.v1'
INDEX = 'index.json'
DEFAULT_CHUNK_SECONDS = 10.0
DEFAULT_SHARD_BYTES = 256 * 2**20


class PreparedError(ValueError):
  """A prepared folder is incomplete, corrupt or made for another grid."""


def prepared_dir(data_dir: str, corpus_name: str, split: str) -> str:
  """``<data_dir>/<corpus>/<split>``."""
  return os.path.join(data_dir, corpus_name, split)


def is_prepared(data_dir: str, corpus_name: str, split: str) -> bool:
  """Whether ``prepared_dir(...)/index.json`` exists."""
  return bool(data_dir) and os.path.isfile(
      os.path.join(prepared_dir(data_dir, corpus_name, split), INDEX))


AUDIO_DTYPES = ('int16', 'float32')
_INT16_SCALE = 32767.0


def _encode(audio: np.ndarray, frames: np.ndarray, bins: np.ndarray,
            audio_dtype: str) -> bytes:
  """One chunk record: an uncompressed ``.npz`` payload."""
  audio = np.asarray(audio, np.float32)
  if audio_dtype == 'int16':
    audio = np.round(np.clip(audio, -1.0, 1.0) * _INT16_SCALE).astype('<i2')
  buffer = io.BytesIO()
  np.savez(buffer, audio=audio.astype(audio.dtype.newbyteorder('<')),
           label_frames=np.asarray(frames, '<i8'),
           label_bins=np.asarray(bins, '<i2'))
  return buffer.getvalue()


def _decode(record: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  payload = npz.read_arrays(io.BytesIO(record))
  audio = payload['audio']
  if audio.dtype.kind == 'i':
    audio = audio.astype(np.float32) / np.float32(_INT16_SCALE)
  return (audio.astype(np.float32, copy=False),
          payload['label_frames'].astype(np.int64),
          payload['label_bins'].astype(np.int64))


class Writer:
  """Writes the records of one corpus split into a prepared folder.

  Use as a context manager; ``add`` each ``corpus.Record`` in order.
  """

  def __init__(self, directory: str, *, corpus_name: str, split: str,
               annotated: bool, sample_rate: int = 22050,
               hop_length: int = 256, fmin: float = 27.5,
               bins_per_octave: int = 60, n_bins: int = 440,
               chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
               shard_bytes: int = DEFAULT_SHARD_BYTES,
               audio_dtype: str = 'int16'):
    if audio_dtype not in AUDIO_DTYPES:
      raise ValueError(f'audio_dtype={audio_dtype!r} is not one of '
                       f'{", ".join(AUDIO_DTYPES)}.')
    hops = max(1, int(round(chunk_seconds * sample_rate / hop_length)))
    self.directory = directory
    self.chunk_samples = hops * hop_length
    self.grid = dict(hop_length=hop_length, fmin=fmin,
                     bins_per_octave=bins_per_octave, n_bins=n_bins)
    self.meta = dict(format=FORMAT, corpus=corpus_name, split=split,
                     annotated=annotated, sample_rate=sample_rate,
                     audio_dtype=audio_dtype,
                     chunk_samples=self.chunk_samples, **self.grid)
    self.shard_bytes = shard_bytes
    self.tracks: list[dict] = []
    self.shards: list[list] = []  # [file name, records]
    self._writer = None
    self._shard_size = 0
    self._n_chunks = 0
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):  # a previous, possibly partial run
      if name == INDEX or name.endswith('.array_record'):
        os.remove(os.path.join(directory, name))

  def __enter__(self) -> Writer:
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if exc_type is None:
      self.close()
    elif self._writer is not None:
      self._writer.close()

  def _write(self, record: bytes) -> None:
    from array_record.python import array_record_module  # pylint: disable=g-import-not-at-top
    if self._writer is None or self._shard_size >= self.shard_bytes:
      if self._writer is not None:
        self._writer.close()
      name = f'chunks-{len(self.shards):05d}.array_record'
      self._writer = array_record_module.ArrayRecordWriter(
          os.path.join(self.directory, name), 'group_size:1')
      self.shards.append([name, 0])
      self._shard_size = 0
    self._writer.write(record)
    self.shards[-1][1] += 1
    self._shard_size += len(record)

  def add(self, record) -> None:
    """Appends one ``corpus.Record`` (audio at the folder's sample rate)."""
    if record.sample_rate != self.meta['sample_rate']:
      raise ValueError(f'Record {record.name!r} is at {record.sample_rate} Hz,'
                       f' the folder at {self.meta["sample_rate"]} Hz.')
    audio = np.asarray(record.audio, np.float32)
    n = len(audio)
    hop = self.grid['hop_length']
    frames = bins = np.zeros(0, np.int64)
    if self.meta['annotated'] and record.annotation is not None:
      grid = record.label_grid(**self.grid)  # [K, T]
      bins, frames = np.nonzero(grid)
      order = np.lexsort((bins, frames))
      frames, bins = frames[order], bins[order]
    c, f = self.chunk_samples, self.chunk_samples // hop
    n_chunks = max(1, -(-n // c))
    chunk_of_frame = np.minimum(frames // f, n_chunks - 1)
    for i in range(n_chunks):
      mine = chunk_of_frame == i
      self._write(_encode(audio[i * c:(i + 1) * c], frames[mine], bins[mine],
                          self.meta['audio_dtype']))
    self.tracks.append(dict(name=record.name, n_samples=n,
                            first_chunk=self._n_chunks, n_chunks=n_chunks))
    self._n_chunks += n_chunks

  def close(self) -> None:
    """Finishes the shards and writes ``index.json`` (last, atomically)."""
    if self._writer is not None:
      self._writer.close()
      self._writer = None
    count = len(self.shards)
    for i, (name, _) in enumerate(self.shards):
      final = f'chunks-{i:05d}-of-{count:05d}.array_record'
      os.replace(os.path.join(self.directory, name),
                 os.path.join(self.directory, final))
      self.shards[i][0] = final
    index = dict(self.meta, shards=self.shards, tracks=self.tracks)
    tmp = os.path.join(self.directory, INDEX + '.tmp')
    with open(tmp, 'w', encoding='utf-8') as f:
      json.dump(index, f)
    os.replace(tmp, os.path.join(self.directory, INDEX))


class PreparedStore:
  """Random-access reader of a prepared folder (thread-safe).

  Attributes:
    names: track names, in index order.
    n_samples: [n_tracks] int64 track lengths (samples).
    annotated: whether label cells were stored.
  """

  def __init__(self, directory: str, *, sample_rate: int, hop_length: int,
               fmin: float, bins_per_octave: int, n_bins: int):
    path = os.path.join(directory, INDEX)
    try:
      with open(path, encoding='utf-8') as f:
        index = json.load(f)
    except (OSError, ValueError) as error:
      raise PreparedError(f'Cannot read prepared index {path!r}: '
                          f'{" ".join(str(error).split())}; rerun '
                          'python -m data_pipelines.prepare.') from error
    if index.get('format') != FORMAT:
      raise PreparedError(f'{path!r} is not a {FORMAT} index; rerun '
                          'python -m data_pipelines.prepare.')
    want = dict(sample_rate=sample_rate, hop_length=hop_length, fmin=fmin,
                bins_per_octave=bins_per_octave, n_bins=n_bins)
    got = {k: index[k] for k in want}
    if any(not np.isclose(got[k], v) for k, v in want.items()):
      raise PreparedError(
          f'{directory!r} was prepared for {got}, but the config asks for '
          f'{want}; prepare it again with matching --sample_rate/--hop_length'
          '/--fmin/--bins_per_octave/--n_bins.')
    self.directory = directory
    self.index = index
    self.annotated = bool(index['annotated'])
    self.chunk_samples = int(index['chunk_samples'])
    self.hop_length = hop_length
    self.n_bins = n_bins
    self.names = [t['name'] for t in index['tracks']]
    self.n_samples = np.array([t['n_samples'] for t in index['tracks']],
                              np.int64)
    self._first = np.array([t['first_chunk'] for t in index['tracks']],
                           np.int64)
    self._n_chunks = np.array([t['n_chunks'] for t in index['tracks']],
                              np.int64)
    counts = [int(n) for _, n in index['shards']]
    self._shard_start = np.concatenate([[0], np.cumsum(counts)])
    self._files = [os.path.join(directory, name)
                   for name, _ in index['shards']]
    for file in self._files:
      if not os.path.isfile(file):
        raise PreparedError(f'Prepared shard missing: {file!r}; rerun '
                            'python -m data_pipelines.prepare.')
    self._local = threading.local()

  def __len__(self) -> int:
    return len(self.names)

  def _readers(self) -> list:
    readers = getattr(self._local, 'readers', None)
    if readers is None:
      from array_record.python import array_record_module  # pylint: disable=g-import-not-at-top
      readers = [array_record_module.ArrayRecordReader(
          f, 'readahead_buffer_size:0') for f in self._files]
      self._local.readers = readers
    return readers

  def _chunks(self, track: int, first: int, last: int):
    """Parsed chunks ``first..last`` (track-relative) of a track."""
    readers = self._readers()
    out = []
    for c in range(first, last + 1):
      g = int(self._first[track] + c)
      shard = int(np.searchsorted(self._shard_start, g, side='right') - 1)
      (record,) = readers[shard].read([g - int(self._shard_start[shard])])
      out.append(_decode(record))
    return out

  def read(self, track: int, start: int, n_samples: int, *,
           labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """An excerpt: audio [n_samples] float32 and, if ``labels``, its grid.

    Args:
      track: track index.
      start: first sample (negative = zero padding on the left); must be a
        multiple of the hop when ``labels``.
      n_samples: excerpt length.
      labels: also return the [n_bins, 1 + n_samples // hop] uint8 grid of
        the excerpt's frames (frame i = track frame start / hop + i; frames
        outside the track are 0).
    """
    n, c, hop = int(self.n_samples[track]), self.chunk_samples, self.hop_length
    n_frames = 1 + n_samples // hop
    lo, hi = max(start, 0), min(start + n_samples, n)
    chunk_lo, chunk_hi = [], []
    if hi > lo:
      chunk_lo.append(lo // c)
      chunk_hi.append((hi - 1) // c)
    if labels:
      if start % hop:
        raise ValueError(f'start {start} is not a multiple of the hop {hop}.')
      if not self.annotated:
        raise ValueError(f'{self.directory!r} holds no labels.')
      f0 = start // hop
      f_lo, f_hi = max(f0, 0), min(f0 + n_frames, 1 + n // hop)
      if f_hi > f_lo:
        per = c // hop
        last_chunk = int(self._n_chunks[track]) - 1
        chunk_lo.append(min(f_lo // per, last_chunk))
        chunk_hi.append(min((f_hi - 1) // per, last_chunk))
    audio = np.zeros(n_samples, np.float32)
    grid = np.zeros((self.n_bins, n_frames), np.uint8) if labels else None
    if not chunk_lo:
      return audio, grid
    first, last = min(chunk_lo), max(chunk_hi)
    for i, (chunk, frames, bins) in zip(
        range(first, last + 1), self._chunks(track, first, last)):
      a, b = max(i * c, lo), min(i * c + len(chunk), hi)
      if b > a:
        audio[a - start:b - start] = chunk[a - i * c:b - i * c]
      if labels and len(frames):
        rel = frames - start // hop
        keep = (rel >= 0) & (rel < n_frames)
        grid[bins[keep], rel[keep]] = 1
    return audio, grid

  def track(self, track: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A whole track: audio [N] and (annotated folders) its full grid."""
    n = int(self.n_samples[track])
    return self.read(track, 0, n, labels=self.annotated)
