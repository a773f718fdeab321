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

Files no longer than one chunk, and systems that declare no
``systems.Streaming``, are processed whole. Whole-file salience
(``BucketedSalience``, also the trainer's evaluation) compiles one program per
length bucket, not per file length, with the same result.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from flax import nnx

from mpe_jax import systems
from mpe_jax.models import build_model

# The published systems all read 22,050-Hz audio; used only for systems that
# declare no ``Streaming`` (which carries the rate).
_DEFAULT_SAMPLE_RATE = 22050


def time_receptive_field(model: nnx.Module) -> int:
  """Frames on each side of a frame that can influence its output.

  The sum over every convolution of ``(kernel_t - 1) // 2 * dilation_t``
  (time is axis 0 of the ``[frame, bin]`` kernels): exact for a chain of
  convolutions with residual additions, an upper bound when branches run in
  parallel. Only valid for models without time-global operations (attention,
  pooling over time), like the Timbre-Trap autoencoder family.
  """
  total = 0
  for _, node in nnx.iter_graph(model):
    if isinstance(node, (nnx.Conv, nnx.ConvTranspose)):
      k = int(node.kernel_size[0])
      dil = node.kernel_dilation
      d = int(dil if isinstance(dil, int) else (dil or (1,))[0])
      total += (k - 1) // 2 * d
  return total


@dataclasses.dataclass(frozen=True)
class Skeleton:
  """What inference needs of a model besides its weights: the graph to
  merge parameters into, the parameters' shapes and dtypes (a pure dict of
  ``jax.ShapeDtypeStruct``), and the time receptive field (frames)."""
  graphdef: nnx.GraphDef
  params: Any
  receptive_field: int


def model_skeleton(model_config: ml_collections.ConfigDict) -> Skeleton:
  """The ``Skeleton`` of ``config.model``, from one abstract construction
  (``nnx.eval_shape``: no weights are initialised), memoised per config."""
  return _skeleton(json.dumps(model_config.to_dict(), sort_keys=True,
                              default=str))


@functools.lru_cache(maxsize=4)
def _skeleton(model_json: str) -> Skeleton:
  model_config = config_from_dict(json.loads(model_json))
  model = nnx.eval_shape(
      lambda: build_model(model_config, jax.random.key(0, impl='rbg')))
  graphdef, state = nnx.split(model)
  return Skeleton(graphdef, nnx.to_pure_dict(state),
                  time_receptive_field(model))


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


# --------------------------------------------------------- length buckets ---
# Whole-file salience compiles one program per input length, about 11 s each
# for SS-MPE on a 2-core CPU against 1.2 s to run a 30-s track, so evaluating
# a set of tracks of different lengths would spend most of its time
# compiling. BucketedSalience runs a track padded to the next length of a
# geometric ladder (three per octave), plus one short fixed-length window at
# its end, and returns the whole-file result (see its docstring for why it is
# exact): one compiled program per bucket and one for the end window.
BUCKETS_PER_OCTAVE = 3  # config.eval.length_buckets
BUCKET_MULTIPLE = 16


def bucket_frames(n_frames: int, minimum: int,
                  per_octave: int = BUCKETS_PER_OCTAVE,
                  multiple: int = BUCKET_MULTIPLE) -> int:
  """The smallest length of the ladder ``minimum * 2 ** (k / per_octave)``
  (each rounded up to a multiple of ``multiple`` frames) that holds
  ``n_frames`` frames."""
  if min(n_frames, minimum, per_octave, multiple) <= 0:
    raise ValueError(f'bucket_frames needs positive n_frames, minimum, '
                     f'per_octave and multiple; got {n_frames}, {minimum}, '
                     f'{per_octave}, {multiple}')
  growth = 2.0 ** (1.0 / per_octave)
  size = float(minimum)
  while True:
    frames = multiple * math.ceil(size / multiple)
    if frames >= n_frames:
      return frames
    size *= growth


class BucketedSalience:
  """Whole-file salience of tracks of any length from a few compiled shapes.

  ``__call__(params, audio [B, N]) -> [B, K, T]`` (numpy) equals the system's
  whole-file ``salience`` within float32 round-off. For a system that
  declares ``systems.Streaming`` (frame ``n`` reads audio within ``context``
  samples and front-end frames within the model's receptive field ``R``, plus
  one per-file normaliser), a file of ``T`` frames is computed as:

  * head: the audio zero-padded to ``L = bucket_frames(T)`` frames; the
    normaliser is the maximum of the frame statistic over the first ``T``
    frames (padding frames masked), which is the file's; frames
    ``[0, T - R)`` see only real frames and are kept (all ``T`` when
    ``L == T``: then the padded end is the file's end);
  * tail: the last ``W = 2R + ceil(context / hop)`` frames of the file, given
    the same normaliser, whose end is the file's end; frames ``[T - R, T)``
    lie at least ``R + ceil(context / hop)`` frames from the window's start,
    so they see only exact front-end frames (zeros pad the window on the left
    when ``T < W``: the same zeros the file is padded with).

  Files shorter than ``2R`` frames, systems without ``Streaming``, and
  ``per_octave=0`` are computed whole (one compile per length).
  """

  def __init__(self, config: ml_collections.ConfigDict, *,
               system: systems.System | None = None, frontend: Any = None,
               per_octave: int = BUCKETS_PER_OCTAVE, programs: Any = None):
    """``programs``: an ``exported.Programs`` store for the compiled
    functions (None: traced in every process)."""
    self.config = config
    self.system = system or systems.get_system(config)
    self.frontend = (frontend if frontend is not None
                     else self.system.make_frontend(config))
    skeleton = model_skeleton(config.model)
    graphdef = self.graphdef = skeleton.graphdef
    self.receptive_field = skeleton.receptive_field
    if int(per_octave) < 0:
      raise ValueError(f'length buckets per octave must be >= 0 (0: one '
                       f'compile per length), got {per_octave}')
    self.per_octave = int(per_octave)
    self.streaming = self.system.streaming
    system_ = self.system

    def whole(params, frontend, audio):
      return system_.salience(nnx.merge(graphdef, params), audio, frontend,
                              config)

    wrap = programs.wrap if programs is not None else (lambda _, f: f)
    self._whole = wrap('whole', jax.jit(whole))
    self.hop_length = self.tail_frames = 0
    if self.streaming is None:
      return
    streaming = self.streaming
    self.hop_length = int(streaming.hop_length(self.frontend))
    context = int(streaming.context_samples(self.frontend))
    self.tail_frames = (2 * self.receptive_field
                        + -(-context // self.hop_length))

    def head(params, frontend, audio, n_frames):
      stat = streaming.frame_statistic(frontend, audio)  # [B, L]
      valid = jnp.arange(stat.shape[-1])[None] < n_frames[:, None]
      reference = jnp.max(jnp.where(valid, stat, -jnp.inf), axis=-1)
      sal = streaming.salience_given(nnx.merge(graphdef, params), audio,
                                     frontend, config, reference)
      return sal, reference

    def given(params, frontend, audio, reference):
      return streaming.salience_given(nnx.merge(graphdef, params), audio,
                                      frontend, config, reference)

    self._head = wrap('head', jax.jit(head))
    # (params, frontend, audio [B, N], reference [B]) -> [B, K, T], jitted.
    self.given = wrap('given', jax.jit(given))

  def bucket(self, n_frames: int) -> int:
    """Frames of the head call for a file of ``n_frames`` frames (0: whole)."""
    if (self.streaming is None or not self.per_octave
        or n_frames < 2 * self.receptive_field):
      return 0
    return bucket_frames(n_frames, self.tail_frames, self.per_octave)

  def whole(self, params: Any, audio: Any) -> np.ndarray:
    """``[B, K, T]`` salience of ``[B, N]`` audio in one call at its own
    length (one compile per length)."""
    return np.asarray(self._whole(params, self.frontend,
                                  jnp.asarray(audio, jnp.float32)))

  def __call__(self, params: Any, audio: Any) -> np.ndarray:
    """``[B, K, T]`` salience of ``[B, N]`` audio, ``T = 1 + N // hop``."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 2 or audio.shape[1] == 0:
      raise ValueError(f'audio must be [batch, samples] with samples > 0, '
                       f'got shape {audio.shape}')
    batch, n = audio.shape
    if self.streaming is None or not self.per_octave:
      return self.whole(params, audio)
    hop, r, w = self.hop_length, self.receptive_field, self.tail_frames
    frames = 1 + n // hop
    size = self.bucket(frames)
    if not size:
      return self.whole(params, audio)
    padded = np.zeros((batch, size * hop - 1), np.float32)  # -> size frames
    padded[:, :n] = audio
    sal, reference = self._head(params, self.frontend, jnp.asarray(padded),
                                jnp.full((batch,), frames, jnp.int32))
    sal = np.asarray(sal)
    if size == frames:
      return sal
    begin = (frames - w) * hop  # may be negative: zeros before the file
    tail = np.zeros((batch, w * hop - 1), np.float32)
    lo, hi = max(begin, 0), min(begin + tail.shape[1], n)
    tail[:, lo - begin:hi - begin] = audio[:, lo:hi]
    end = np.asarray(self.given(params, self.frontend, jnp.asarray(tail),
                                reference))
    return np.concatenate([sal[..., :frames - r], end[..., w - r:]], axis=-1)


def config_from_dict(values: dict) -> ml_collections.ConfigDict:
  """A locked ConfigDict from a checkpoint's stored config (lists -> tuples)."""
  def convert(v):
    if isinstance(v, dict):
      return ml_collections.ConfigDict({k: convert(x) for k, x in v.items()})
    if isinstance(v, list):
      return tuple(convert(x) for x in v)
    return v
  return convert(values).lock()


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
               batch_size: int = 4, frontend: Any = None,
               programs: Any = None):
    self.config = config
    self.system = systems.get_system(config)
    self.frontend = (frontend if frontend is not None
                     else self.system.make_frontend(config))
    self.step_dir = step_dir
    self.programs = programs
    self._bucketed = BucketedSalience(config, system=self.system,
                                      frontend=self.frontend,
                                      programs=programs)
    self.params = jax.device_put(params)
    self.receptive_field = self._bucketed.receptive_field
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
    if streaming is not None:
      self.chunk_frames = int(round(chunk_seconds * self.sample_rate /
                                    self.hop_length))
      if self.chunk_frames <= 2 * self.margin:
        min_s = (2 * self.margin + 1) * self.hop_length / self.sample_rate
        raise ValueError(f'chunk_seconds={chunk_seconds} is too short: a '
                         f'chunk must exceed {2 * self.margin} frames '
                         f'(> {min_s:.2f} s) of context.')

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
    """Groups of ``batch_size`` chunks as ``[b, samples]``, ``b`` =
    ``min(batch_size, len(chunks))`` (a file of two chunks is not padded to
    four; at most ``batch_size`` compiled batch sizes)."""
    size = min(self.batch_size, len(chunks))
    for i in range(0, len(chunks), size):
      group = chunks[i:i + size]
      n = self.chunk_frames * self.hop_length - 1
      batch = np.zeros((size, n), np.float32)
      for j, chunk in enumerate(group):
        batch[j] = self._chunk_audio(audio, chunk)
      yield group, batch

  def reference(self, audio: np.ndarray) -> float:
    """The per-file normaliser: max over frames of the frame statistic."""
    chunks = self.chunks(len(audio))
    best = -np.inf
    for group, batch in self._batches(audio, chunks):
      stat = np.asarray(self._statistic(self.frontend, jnp.asarray(batch)))
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
        self.chunk_frames:
      sal = self.whole_file(audio)
      if progress is not None:
        progress.update(sal.shape[-1])
      yield 0, sal
      return
    chunks = self.chunks(len(audio))
    ref = self.reference(audio)
    refs = jnp.full((min(self.batch_size, len(chunks)),), ref, jnp.float32)
    for group, batch in self._batches(audio, chunks):
      sal = np.asarray(self._given(self.params, self.frontend,
                                   jnp.asarray(batch), refs))
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
                   batch_size: int = 4,
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
  # Orbax and the trainer load only for checkpoints (a slow import the
  # shipped model does not need).
  from mpe_jax import checkpointing  # pylint: disable=g-import-not-at-top
  from mpe_jax import pretrained  # pylint: disable=g-import-not-at-top

  if checkpoint is None or pretrained.is_model_dir(os.fspath(checkpoint)) or (
      not os.path.exists(checkpoint) and checkpoint in pretrained.available()):
    name = pretrained.DEFAULT if checkpoint is None else os.fspath(checkpoint)
    config, params = pretrained.load(name)
    directory = name if os.path.isdir(name) else pretrained.model_dir(name)
    logging.info('Loaded the shipped model %s.', directory)
    return Predictor(config, params, step_dir=directory,
                     chunk_seconds=chunk_seconds, batch_size=batch_size,
                     frontend=_frontend(config, cache_dir),
                     programs=_programs(config, cache_dir))
  from mpe_jax import train  # pylint: disable=g-import-not-at-top
  step_dir = checkpointing.find_checkpoint(os.fspath(checkpoint),
                                           prefer=prefer)
  try:
    config = config_from_dict(checkpointing.read_checkpoint_config(step_dir))
  except checkpointing.CheckpointError:
    raise
  except (ValueError, TypeError, OSError) as e:
    raise checkpointing.CheckpointError(
        f'the config stored in {step_dir} is unreadable ({type(e).__name__}: '
        f'{_first_line(e)}).') from e
  try:
    systems.get_system(config).validate(config)
    tx, _ = train.build_optimizer(config)
    abstract = jax.eval_shape(lambda: train.init_train_state(config, tx)[1])
    # Restore onto this process's first device, whatever the saving topology.
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device),
        abstract)
  except (AttributeError, KeyError, ValueError, TypeError) as e:
    raise checkpointing.CheckpointError(
        f'the config stored in {step_dir} does not describe a model this '
        f'version of mpe_jax can build ({type(e).__name__}: '
        f'{_first_line(e)}).') from e
  state = checkpointing.restore_params_from(step_dir, abstract)
  params = jax.device_get(state.params)
  bad = [jax.tree_util.keystr(path) for path, leaf in
         jax.tree_util.tree_leaves_with_path(params)
         if not np.all(np.isfinite(leaf))]
  if bad:
    raise checkpointing.CheckpointError(
        f'{step_dir} holds non-finite parameters ({bad[0]} and '
        f'{len(bad) - 1} more); use an earlier checkpoint step.')
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
  from mpe_jax import exported  # pylint: disable=g-import-not-at-top
  return exported.Programs(cache_dir, json.dumps(config.to_dict(),
                                                 sort_keys=True, default=str))


def _first_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return text[0][:300] if text else type(error).__name__
