"""Salience of audio of any length from a checkpoint, in fixed-size chunks.

``load_predictor(checkpoint)`` rebuilds the system, front end and model from
the config stored with the checkpoint and restores its parameters.
``Predictor.stream(audio)`` yields the salience-gram of a mono signal chunk by
chunk, with the same result as processing the whole file at once (the
``whole_file`` method) within float32 round-off, and memory bounded by the
chunk size:

* The model mixes time only through its convolutions, so the salience of frame
  ``n`` depends on front-end frames ``n - R .. n + R`` (``R`` =
  ``time_receptive_field(model)``, 50 frames for SS-MPE and ISMIR 2025), and a
  front-end frame on the samples within ``context_samples`` of its centre.
* Every chunk has the same length (one compiled shape); it keeps only the frames
  at least ``margin = ceil(context / hop) + R`` frames away from its cut edges.
  The first chunk starts at frame 0 and the last one ends at the last frame,
  where the chunk edges are the file edges; neighbouring chunks overlap by
  ``2 * margin`` frames (more for the last one).
* The per-file normaliser (the HCQT dB reference is the maximum power over the
  whole file) is found by a first pass over the same chunks
  (``Streaming.frame_statistic``); the second pass computes the salience with
  it.

Files no longer than two chunks, and systems that declare no
``systems.Streaming``, are processed whole: padded to a quarter chunk, one
chunk or two, plus one fixed end window (``BucketedSalience`` with fixed
sizes; the trainer's evaluation uses its ladder of length buckets), with the
same result. Chunks go through the model ``batch_size`` at a time and the
ones left over one by one. So a file of any length runs on the same few
compiled programs (at most three head sizes, the end window, and two batch
sizes of the chunk statistic and salience), which the transcriber keeps on
disk (``compile_cache.Programs``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Iterator

import jax
import ml_collections
import numpy as np
from absl import logging

from mpe_jax import systems
from mpe_jax.bucketing import BUCKET_MULTIPLE  # pylint: disable=unused-import
from mpe_jax.bucketing import BUCKETS_PER_OCTAVE  # pylint: disable=unused-import
from mpe_jax.bucketing import BucketedSalience
from mpe_jax.bucketing import bucket_frames  # pylint: disable=unused-import
from mpe_jax.models.skeleton import Skeleton  # pylint: disable=unused-import
from mpe_jax.models.skeleton import config_from_dict
from mpe_jax.models.skeleton import model_skeleton  # pylint: disable=unused-import
from mpe_jax.models.skeleton import time_receptive_field  # pylint: disable=unused-import

# Files no longer than WHOLE_CHUNKS chunks are computed in one call, padded
# to 1/SHORT_FRACTION of a chunk, one chunk or WHOLE_CHUNKS chunks (three
# compiled shapes, whatever the file's length). One call over 40 s took 0.52 s
# on 2 CPU cores where two 20-s chunks took 0.64 s (their first pass, for the
# file's normaliser, computes the front end a second time).
SHORT_FRACTION = 4
WHOLE_CHUNKS = 2

# The published systems all read 22,050-Hz audio; used only for systems that
# declare no ``Streaming`` (which carries the rate).
_DEFAULT_SAMPLE_RATE = 22050


@dataclasses.dataclass(frozen=True)
class Chunk:
  """One model call: frames ``[start, start + length)``, keeps ``[lo, hi)``."""
  start: int
  length: int
  lo: int
  hi: int


def plan_chunks(n_frames: int, chunk_frames: int, margin: int) -> list[Chunk]:
  """Fixed-length chunks whose kept frames tile ``[0, n_frames)`` exactly.

  Args:
    n_frames: frames of the whole file.
    chunk_frames: frames per chunk (the compiled shape).
    margin: frames dropped at every cut (not file) edge of a chunk.

  Returns:
    One chunk covering the file when ``n_frames <= chunk_frames``; else chunks
    of ``chunk_frames`` with the first starting at 0 and the last ending at
    ``n_frames``.

  Raises:
    ValueError: ``chunk_frames <= 2 * margin`` (nothing would be kept).
  """
  if n_frames <= 0:
    raise ValueError(f'n_frames must be positive, got {n_frames}')
  if n_frames <= chunk_frames:
    return [Chunk(0, n_frames, 0, n_frames)]
  if chunk_frames <= 2 * margin:
    raise ValueError(f'chunks of {chunk_frames} frames keep nothing with a '
                     f'margin of {margin} frames on each side; use longer '
                     f'chunks (more than {2 * margin} frames).')
  chunks = [Chunk(0, chunk_frames, 0, chunk_frames - margin)]
  while chunks[-1].hi < n_frames:
    lo = chunks[-1].hi
    start = lo - margin
    if start + chunk_frames >= n_frames:
      chunks.append(Chunk(n_frames - chunk_frames, chunk_frames, lo,
                          n_frames))
    else:
      chunks.append(Chunk(start, chunk_frames, lo,
                          start + chunk_frames - margin))
  return chunks


class Predictor:
  """A trained system ready to map mono audio to a salience-gram.

  Attributes:
    config: the run's config (from the checkpoint).
    system: its ``systems.System``.
    step_dir: the checkpoint step directory the parameters came from.
    sample_rate: audio rate (Hz) the system reads.
    hop_length: samples between frames.
    bin_frequencies: ``[K]`` centre frequency (Hz) of each salience bin.
    receptive_field: model time receptive field, frames on each side.
    margin: frames dropped at each cut edge of a chunk.
    chunk_frames: frames per model call.
    batch_size: chunks per model call.
  """

  def __init__(self, config: ml_collections.ConfigDict, params: Any, *,
               step_dir: str = '', chunk_seconds: float = 20.0,
               batch_size: int = 1, frontend: Any = None,
               programs: Any = None):
    self.config = config
    self.system = systems.get_system(config)
    self.frontend = (frontend if frontend is not None
                     else self.system.make_frontend(config))
    self.step_dir = step_dir
    self.programs = programs
    self.params = jax.device_put(params)
    self.receptive_field = model_skeleton(config.model).receptive_field
    streaming = self.system.streaming
    self.streaming = streaming
    if streaming is not None:
      self.sample_rate = int(streaming.sample_rate(self.frontend))
      self.hop_length = int(streaming.hop_length(self.frontend))
      context = int(streaming.context_samples(self.frontend))
      self.margin = -(-context // self.hop_length) + self.receptive_field
    else:
      self.sample_rate = int(config.hcqt.sample_rate if 'hcqt' in config
                             else _DEFAULT_SAMPLE_RATE)
      self.hop_length = 0
      self.margin = 0
    self.bin_frequencies = np.asarray(
        self.system.bin_frequencies(self.frontend), np.float64)
    if batch_size < 1:
      raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    self.batch_size = int(batch_size)
    self.chunk_frames = 0
    sizes: tuple[int, ...] = ()
    if streaming is not None:
      self.chunk_frames = int(round(chunk_seconds * self.sample_rate /
                                    self.hop_length))
      if self.chunk_frames <= 2 * self.margin:
        min_s = (2 * self.margin + 1) * self.hop_length / self.sample_rate
        raise ValueError(f'chunk_seconds={chunk_seconds} is too short: a '
                         f'chunk must exceed {2 * self.margin} frames '
                         f'(> {min_s:.2f} s) of context.')
      # Files up to WHOLE_CHUNKS chunks: padded to a quarter chunk, a
      # chunk or WHOLE_CHUNKS chunks, and computed in one call.
      sizes = tuple(sorted({max(self.chunk_frames // SHORT_FRACTION,
                                2 * self.receptive_field),
                            self.chunk_frames,
                            WHOLE_CHUNKS * self.chunk_frames}))
    self._bucketed = BucketedSalience(config, system=self.system,
                                      frontend=self.frontend,
                                      programs=programs, sizes=sizes)
    self.sizes = sizes

    if streaming is not None:
      self._statistic = jax.jit(streaming.frame_statistic)
      if programs is not None:
        self._statistic = programs.wrap('statistic', self._statistic)
      self._given = self._bucketed.given

  # ------------------------------------------------------------ geometry --

  def num_frames(self, n_samples: int) -> int:
    """Salience frames for ``n_samples`` samples (``1 + N // hop``)."""
    if self.streaming is None:
      raise ValueError('this system declares no frame geometry')
    return 1 + int(n_samples) // self.hop_length

  def frame_times(self, n_frames: int) -> np.ndarray:
    """``[n_frames]`` centre time (s) of each salience frame."""
    return np.asarray(self.system.frame_times(self.frontend, n_frames),
                      np.float64)

  @property
  def whole_frames(self) -> int:
    """The longest file (frames) computed in one call, not in chunks."""
    return WHOLE_CHUNKS * self.chunk_frames

  def chunks(self, n_samples: int) -> list[Chunk]:
    """The chunk plan for a file of ``n_samples`` samples."""
    return plan_chunks(self.num_frames(n_samples), self.chunk_frames,
                       self.margin)

  # ---------------------------------------------------------- inference --

  def whole_file(self, audio: np.ndarray) -> np.ndarray:
    """``[K, T]`` salience of ``[N]`` audio as one whole file, from one
    compiled program per length bucket (``BucketedSalience``)."""
    return self._bucketed(self.params,
                          np.asarray(audio, np.float32)[None])[0]

  def _chunk_audio(self, audio: np.ndarray, chunk: Chunk) -> np.ndarray:
    """Samples of one chunk: ``chunk.length * hop - 1`` of them, zero-padded."""
    n = chunk.length * self.hop_length - 1  # -> exactly chunk.length frames
    begin = chunk.start * self.hop_length
    out = np.zeros(n, np.float32)
    part = np.asarray(audio[begin:begin + n], np.float32)
    out[:len(part)] = part
    return out

  def _batches(self, audio: np.ndarray, chunks: list[Chunk]
               ) -> Iterator[tuple[list[Chunk], np.ndarray]]:
    """Groups of ``batch_size`` chunks as ``[batch_size, samples]``, the
    chunks left over one at a time as ``[1, samples]``: two compiled batch
    sizes at most, whatever the number of chunks."""
    n = self.chunk_frames * self.hop_length - 1
    full = len(chunks) - len(chunks) % self.batch_size
    sizes = [self.batch_size] * (full // self.batch_size) + [1] * (
        len(chunks) - full)
    i = 0
    for size in sizes:
      group = chunks[i:i + size]
      i += size
      batch = np.zeros((size, n), np.float32)
      for j, chunk in enumerate(group):
        batch[j] = self._chunk_audio(audio, chunk)
      yield group, batch

  def reference(self, audio: np.ndarray) -> float:
    """The per-file normaliser: max over frames of the frame statistic."""
    chunks = self.chunks(len(audio))
    best = -np.inf
    for group, batch in self._batches(audio, chunks):
      stat = np.asarray(self._statistic(self.frontend, batch))
      for j, chunk in enumerate(group):
        lo, hi = chunk.lo - chunk.start, chunk.hi - chunk.start
        best = max(best, float(np.max(stat[j, lo:hi])))
    return best

  def stream(self, audio: np.ndarray, *, progress: Any = None
             ) -> Iterator[tuple[int, np.ndarray]]:
    """Salience of ``[N]`` audio as consecutive ``(first_frame, [K, n])``.

    Args:
      audio: mono samples at ``sample_rate`` (an array, or anything with
        ``len`` and slicing such as ``audio_stream.DiskSamples``; read one
        chunk at a time).
      progress: optional tqdm-like object; ``update(frames)`` per block.

    Yields:
      Blocks in time order that together cover frames ``[0, T)``.
    """
    if len(audio) == 0:
      raise ValueError('cannot compute the salience of zero samples')
    if self.streaming is None or self.num_frames(len(audio)) <= \
        self.whole_frames:
      sal = self.whole_file(audio)
      if progress is not None:
        progress.update(sal.shape[-1])
      yield 0, sal
      return
    chunks = self.chunks(len(audio))
    ref = self.reference(audio)
    for group, batch in self._batches(audio, chunks):
      refs = np.full((len(batch),), ref, np.float32)
      sal = np.asarray(self._given(self.params, self.frontend, batch, refs))
      for j, chunk in enumerate(group):
        lo, hi = chunk.lo - chunk.start, chunk.hi - chunk.start
        if progress is not None:
          progress.update(hi - lo)
        yield chunk.lo, sal[j, :, lo:hi]

  def salience(self, audio: np.ndarray) -> np.ndarray:
    """``[K, T]`` salience of ``[N]`` audio (chunked; see ``stream``)."""
    blocks = [block for _, block in self.stream(audio)]
    return np.concatenate(blocks, axis=-1)


def load_predictor(checkpoint: str | None = None, *, prefer: str = 'best',
                   chunk_seconds: float = 20.0,
                   batch_size: int = 1,
                   cache_dir: str | None = None) -> Predictor:
  """Loads a model for inference: the shipped one (``checkpoint=None``, a
  shipped model's name or folder, ``mpe_jax.pretrained``) or a checkpoint
  (workdir, checkpoints dir or step dir).

  The config stored with the model rebuilds the system and the model; no
  config file is needed. ``cache_dir`` (``compile_cache.enable()``'s folder)
  keeps the built front end for the next process.

  Raises:
    checkpointing.CheckpointError: missing path, no checkpoint inside,
      unreadable files, or parameters that do not fit the stored config (one
      line naming the directory).
  """
  # Orbax and the train state load only for checkpoints (a slow import the
  # shipped model does not need).
  from mpe_jax import pretrained  # pylint: disable=g-import-not-at-top

  if checkpoint is None or pretrained.model_folder(checkpoint) is not None:
    name = pretrained.DEFAULT if checkpoint is None else os.fspath(checkpoint)
    config, params = pretrained.load(name)
    directory = name if os.path.isdir(name) else pretrained.model_dir(name)
    logging.info('Loaded the shipped model %s.', directory)
    return Predictor(config, params, step_dir=directory,
                     chunk_seconds=chunk_seconds, batch_size=batch_size,
                     frontend=_frontend(config, cache_dir),
                     programs=_programs(config, cache_dir))
  from mpe_jax import train_state  # pylint: disable=g-import-not-at-top
  config, params, step_dir = train_state.restore_run(checkpoint, prefer)
  logging.info('Loaded %s (system %r, model %r).', step_dir, config.system,
               config.model.variant)
  return Predictor(config, params, step_dir=step_dir,
                   chunk_seconds=chunk_seconds, batch_size=batch_size,
                   frontend=_frontend(config, cache_dir),
                   programs=_programs(config, cache_dir))


def _frontend(config: ml_collections.ConfigDict, cache_dir: str | None):
  if cache_dir is None:
    return None  # Predictor builds it
  from mpe_jax import compile_cache  # pylint: disable=g-import-not-at-top
  return compile_cache.cached_frontend(systems.get_system(config), config,
                                       cache_dir)


def _programs(config: ml_collections.ConfigDict, cache_dir: str | None):
  if cache_dir is None:
    return None
  from mpe_jax import compile_cache  # pylint: disable=g-import-not-at-top
  return compile_cache.Programs(cache_dir, json.dumps(
      config.to_dict(), sort_keys=True, default=str))
