"""The tf.data seam: per-host training batches and evaluation track sets.

Training (``train_batches``) reads one of two sources, chosen by
``config.data.train_source``:

* ``'synthetic'``: NSynth-like notes from ``data_pipelines.synthetic`` (the
  embedded default; nothing to download). Item ``i`` of the run is
  ``SyntheticSource(config.seed, 'train').note_excerpt(i, N)``; the batch of
  step ``s`` on process ``p`` holds the global items ``s * B + p * b + j``
  (j < b), so a batch is a pure function of (seed, step, process) and a run
  restarted at ``start_step`` continues exactly where it stopped. Labels come
  from the exact f0 (``has_label`` = True).
* ``'nsynth'``: the TFDS ``nsynth`` train split (prepared beforehand under
  ``config.data.data_dir``), notes with MIDI pitch in [21, 108], resampled from
  16 kHz to 22,050 Hz on the host, peak-normalised, then cut to the excerpt
  length with the reference excerpt rule. Sharded per host with
  ``tfds.split_for_jax_process``; epoch ``e`` has a deterministic order given
  (seed, e, process); each epoch ends with ``drop_remainder`` (like the
  reference's ``drop_last``). No frame labels (``has_label`` = False).
* ``'auto'``: ``'nsynth'`` when it is prepared under ``data_dir``, else
  ``'synthetic'``.

Evaluation (``eval_tracks``) returns lists of ``Track`` from a registry of
named sets, ``EVAL_SETS``, that corpus readers extend with
``register_eval_set``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import functools
import weakref

from absl import logging
import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from data_pipelines import audio as audio_lib
from data_pipelines import labels as labels_lib
from data_pipelines import synthetic
from data_pipelines import tracks

TRAIN_SOURCES = ('synthetic', 'nsynth', 'auto')
NSYNTH_NAME = 'nsynth'
NSYNTH_SAMPLE_RATE = 16000
NSYNTH_MIDI_RANGE = (21, 108)  # inclusive, as in the reference
_NSYNTH_SHUFFLE_BUFFER = 512  # examples (256 KB each)
_NSYNTH_KIND = 3  # seed sub-domain of NSynth excerpt offsets
# Evaluation sets do not depend on config.seed: runs with different training
# seeds are scored on the same tracks.
EVAL_SEED = 0

Batch = dict[str, np.ndarray]


@functools.cache
def hide_gpus_from_tensorflow() -> None:
  """Makes TensorFlow CPU-only (once per process), leaving GPUs to JAX."""
  try:
    tf.config.set_visible_devices([], 'GPU')
  except RuntimeError as error:  # TF devices already initialised.
    logging.warning('Could not hide GPUs from TensorFlow: %s', error)


class BatchIterator(Iterator[Batch]):
  """Iterator over numpy batches that owns a tf.data iterator.

  The tf.data iterator is released on ``close()``, on garbage collection, or
  at interpreter exit at the latest (``weakref.finalize``): a tf.data
  iterator with ``tf.numpy_function`` stages that is still alive while Python
  shuts down can hang the exit.
  """

  def __init__(self, iterator: Iterator[Batch]):
    self._holder = [iterator]
    self._finalizer = weakref.finalize(self, self._holder.clear)

  def __iter__(self) -> BatchIterator:
    return self

  def __next__(self) -> Batch:
    if not self._holder:
      raise StopIteration
    return next(self._holder[0])

  def close(self) -> None:
    """Releases the underlying tf.data iterator (idempotent)."""
    self._finalizer()


# ------------------------------------------------------------ source choice


def nsynth_is_prepared(data_dir: str) -> bool:
  """Whether a prepared TFDS ``nsynth`` exists under ``data_dir`` (no I/O
  beyond a directory check; never downloads)."""
  if not data_dir:
    return False
  try:
    return tfds.builder(NSYNTH_NAME, data_dir=data_dir).is_prepared()
  except Exception as error:  # pylint: disable=broad-except
    logging.warning('Could not look for TFDS %s under %r: %s', NSYNTH_NAME,
                    data_dir, error)
    return False


def _resolve_train_source(config: ml_collections.ConfigDict) -> tuple[str, str]:
  """(source, one-line explanation) for ``config.data.train_source``."""
  hide_gpus_from_tensorflow()  # before TFDS touches TensorFlow
  requested = config.data.train_source
  data_dir = config.data.data_dir
  if requested not in TRAIN_SOURCES:
    raise ValueError(f'config.data.train_source={requested!r} is not one of '
                     f'{", ".join(TRAIN_SOURCES)}.')
  if requested == 'synthetic':
    return 'synthetic', ('Training source: synthetic NSynth-like notes '
                         "(config.data.train_source='synthetic').")
  prepared = nsynth_is_prepared(data_dir)
  if requested == 'nsynth':
    if not prepared:
      raise FileNotFoundError(
          f'No prepared TFDS {NSYNTH_NAME} under config.data.data_dir='
          f'{data_dir!r}: prepare it with `tfds build {NSYNTH_NAME} '
          f'--data_dir=<data_dir>` (downloads NSynth) or set '
          "config.data.train_source='synthetic'.")
    return 'nsynth', (f'Training source: TFDS {NSYNTH_NAME} train split under '
                      f"data_dir={data_dir!r} (train_source='nsynth').")
  if prepared:
    return 'nsynth', (f'Training source: TFDS {NSYNTH_NAME} train split '
                      f"(train_source='auto' found it under "
                      f'data_dir={data_dir!r}).')
  return 'synthetic', ('Training source: synthetic NSynth-like notes (no '
                       f'prepared TFDS {NSYNTH_NAME} under '
                       f'data_dir={data_dir!r}).')


def describe_train_source(config: ml_collections.ConfigDict) -> str:
  """The one line saying which training source is used and why.

  Raises:
    ValueError: unknown ``config.data.train_source``.
    FileNotFoundError: 'nsynth' requested but not prepared under data_dir.
  """
  return _resolve_train_source(config)[1]


# ---------------------------------------------------------------- training


def _tf_parallelism(value: int) -> int:
  return tf.data.AUTOTUNE if value < 0 else value


def _item_shapes(n_samples: int, n_bins: int, n_frames: int):
  def set_shapes(audio, label_grid, has_label):
    audio.set_shape([n_samples])
    label_grid.set_shape([n_bins, n_frames])
    has_label.set_shape([])
    return {'audio': audio, 'labels': label_grid, 'has_label': has_label}
  return set_shapes


def _synthetic_train_dataset(config: ml_collections.ConfigDict, *,
                             start_step: int, process_index: int,
                             local_batch: int) -> tf.data.Dataset:
  """Infinite per-host stream of (unbatched) synthetic note excerpts."""
  hcqt = config.hcqt
  n_samples = int(round(config.data.excerpt_seconds * hcqt.sample_rate))
  n_frames = 1 + n_samples // hcqt.hop_length
  global_batch = config.train.batch_size
  source = synthetic.SyntheticSource(config.seed, 'train',
                                     sample_rate=hcqt.sample_rate,
                                     hop_length=hcqt.hop_length)

  def make_item(index: np.ndarray):
    audio, f0 = source.note_excerpt(int(index), n_samples)
    grid = labels_lib.frequencies_to_grid(
        f0[:, None], fmin=hcqt.fmin, bins_per_octave=hcqt.bins_per_octave,
        n_bins=hcqt.n_bins)
    return audio, grid, np.bool_(True)

  def global_index(k):  # k = local item position since step 0
    step, j = k // local_batch, k % local_batch
    return step * global_batch + process_index * local_batch + j

  def to_item(index):
    return tf.numpy_function(make_item, [index],
                             (tf.float32, tf.uint8, tf.bool), stateful=False)

  ds = tf.data.Dataset.range(start_step * local_batch, np.iinfo(np.int64).max)
  ds = ds.map(global_index)
  ds = ds.map(to_item, num_parallel_calls=_tf_parallelism(
      config.data.num_parallel_calls), deterministic=True)
  return ds.map(_item_shapes(n_samples, hcqt.n_bins, n_frames))


def _nsynth_excerpt_fn(config: ml_collections.ConfigDict, *, epoch: int,
                       process_index: int) -> Callable[..., np.ndarray]:
  """numpy: (position, 16-kHz audio) -> peak-normalised excerpt [N] float32."""
  sample_rate, seed = config.hcqt.sample_rate, config.seed
  n_samples = int(round(config.data.excerpt_seconds * sample_rate))

  def excerpt(position: np.ndarray, audio_16k: np.ndarray) -> np.ndarray:
    import librosa  # pylint: disable=g-import-not-at-top  (slow import)
    audio = librosa.resample(np.asarray(audio_16k, dtype=np.float32),
                             orig_sr=NSYNTH_SAMPLE_RATE,
                             target_sr=sample_rate, res_type='soxr_hq')
    audio = audio_lib.peak_normalize(audio.astype(np.float32))
    rng = np.random.default_rng(np.random.SeedSequence(
        [seed, _NSYNTH_KIND, epoch, process_index, int(position)]))
    return audio_lib.fix_length_excerpt(audio, n_samples, rng)

  return excerpt


def _nsynth_examples(config: ml_collections.ConfigDict, *, epoch: int,
                     process_index: int,
                     process_count: int) -> tf.data.Dataset:
  """One epoch of in-range (audio, pitch) pairs of this host, in the
  deterministic order of (seed, epoch, process)."""
  builder = tfds.builder(NSYNTH_NAME, data_dir=config.data.data_dir)
  epoch_seed = int(np.random.SeedSequence(
      [config.seed, _NSYNTH_KIND, epoch]).generate_state(1)[0] >> 1)
  split = tfds.split_for_jax_process('train', process_index=process_index,
                                     process_count=process_count,
                                     drop_remainder=True)
  read_config = tfds.ReadConfig(shuffle_seed=epoch_seed, try_autocache=False,
                                shuffle_reshuffle_each_iteration=False)
  ds = builder.as_dataset(split=split, shuffle_files=True,
                          read_config=read_config)
  ds = ds.map(lambda ex: (ex['audio'], ex['pitch']))
  ds = ds.shuffle(_NSYNTH_SHUFFLE_BUFFER, seed=epoch_seed,
                  reshuffle_each_iteration=False)
  lo, hi = NSYNTH_MIDI_RANGE
  return ds.filter(lambda audio, pitch: (pitch >= lo) & (pitch <= hi))


def _nsynth_epoch_batches(config: ml_collections.ConfigDict, *, epoch: int,
                          skip_batches: int, process_index: int,
                          process_count: int,
                          local_batch: int) -> tf.data.Dataset:
  hcqt = config.hcqt
  n_samples = int(round(config.data.excerpt_seconds * hcqt.sample_rate))
  n_frames = 1 + n_samples // hcqt.hop_length
  excerpt = _nsynth_excerpt_fn(config, epoch=epoch,
                               process_index=process_index)
  ds = _nsynth_examples(config, epoch=epoch, process_index=process_index,
                        process_count=process_count)
  ds = ds.enumerate().skip(skip_batches * local_batch)

  def to_item(position, example):
    audio, _ = example
    clip = tf.numpy_function(excerpt, [position, audio], tf.float32,
                             stateful=False)
    return (clip, tf.zeros([hcqt.n_bins, n_frames], tf.uint8),
            tf.constant(False))

  ds = ds.map(to_item, num_parallel_calls=_tf_parallelism(
      config.data.num_parallel_calls), deterministic=True)
  ds = ds.map(_item_shapes(n_samples, hcqt.n_bins, n_frames))
  return ds.batch(local_batch, drop_remainder=True)


def _nsynth_train_batches(config: ml_collections.ConfigDict, *,
                          start_step: int, process_index: int,
                          process_count: int,
                          local_batch: int) -> Iterator[Batch]:
  """Epochs of NSynth batches, resumable at any step.

  Resuming (start_step > 0) counts this host's in-range notes once (one pass
  over its shard) to find the epoch, then skips that epoch's first items
  before resampling; both passes read the records from disk, so resuming late
  in a long run costs up to two epochs of reading (not of resampling).
  """
  epoch, skip = 0, 0
  if start_step > 0:
    count = int(_nsynth_examples(
        config, epoch=0, process_index=process_index,
        process_count=process_count).reduce(
            np.int64(0), lambda n, _: n + 1))
    steps_per_epoch = count // local_batch
    if steps_per_epoch == 0:
      raise ValueError(f'NSynth shard of process {process_index} has {count} '
                       f'in-range notes, fewer than one batch ({local_batch}).')
    epoch, skip = divmod(start_step, steps_per_epoch)
    logging.info('Resuming NSynth at step %d: epoch %d, batch %d of %d.',
                 start_step, epoch, skip, steps_per_epoch)
  while True:
    ds = _nsynth_epoch_batches(
        config, epoch=epoch, skip_batches=skip, process_index=process_index,
        process_count=process_count, local_batch=local_batch)
    n_batches = 0
    for batch in ds.prefetch(config.data.prefetch).as_numpy_iterator():
      n_batches += 1
      yield batch
    if n_batches == 0 and skip == 0:
      raise ValueError(f'NSynth epoch {epoch} of process {process_index} '
                       f'gave no full batch of {local_batch}.')
    epoch, skip = epoch + 1, 0


def train_batches(config: ml_collections.ConfigDict, *, start_step: int = 0,
                  process_index: int = 0,
                  process_count: int = 1) -> BatchIterator:
  """Infinite iterator over this host's training batches from ``start_step``.

  Args:
    config: the training config (reads ``seed``, ``hcqt.*``,
      ``train.batch_size`` = the GLOBAL batch size, and ``data.*``).
    start_step: the first step to produce (resume).
    process_index: this host's index.
    process_count: number of hosts.

  Returns:
    An infinite ``BatchIterator`` (call ``close()`` when done) of
    ``{'audio': float32 [b, N], 'labels': uint8 [b, n_bins, T],
    'has_label': bool [b]}`` with ``b = batch_size // process_count``,
    ``N = round(excerpt_seconds * sample_rate)``, ``T = 1 + N // hop``.

  Raises:
    ValueError: batch size not divisible by the process count, bad indices,
      unknown train source.
    FileNotFoundError: 'nsynth' requested but not prepared.
  """
  global_batch = config.train.batch_size
  if process_count < 1 or not 0 <= process_index < process_count:
    raise ValueError(f'process_index={process_index} is not in '
                     f'[0, process_count={process_count}).')
  if global_batch % process_count:
    raise ValueError(f'config.train.batch_size={global_batch} is not '
                     f'divisible by the number of processes ({process_count}).')
  if start_step < 0:
    raise ValueError(f'start_step must be >= 0, got {start_step}.')
  local_batch = global_batch // process_count
  source, line = _resolve_train_source(config)
  logging.info(line)
  if source == 'nsynth':
    return BatchIterator(_nsynth_train_batches(
        config, start_step=start_step, process_index=process_index,
        process_count=process_count, local_batch=local_batch))
  ds = _synthetic_train_dataset(config, start_step=start_step,
                                process_index=process_index,
                                local_batch=local_batch)
  ds = ds.batch(local_batch, drop_remainder=True)
  return BatchIterator(ds.prefetch(config.data.prefetch).as_numpy_iterator())


# -------------------------------------------------------------- evaluation

EvalLoader = Callable[[ml_collections.ConfigDict], list[tracks.Track]]


def _synthetic_mixtures(split: str) -> EvalLoader:
  def load(config: ml_collections.ConfigDict) -> list[tracks.Track]:
    source = synthetic.SyntheticSource(
        EVAL_SEED, split, sample_rate=config.hcqt.sample_rate,
        hop_length=config.hcqt.hop_length)
    return [source.mixture(i, seconds=config.data.eval_track_seconds,
                           max_voices=config.data.max_voices)
            for i in range(config.data.eval_num_tracks)]
  return load


def _synthetic_notes(split: str) -> EvalLoader:
  def load(config: ml_collections.ConfigDict) -> list[tracks.Track]:
    source = synthetic.SyntheticSource(
        EVAL_SEED, split, sample_rate=config.hcqt.sample_rate,
        hop_length=config.hcqt.hop_length)
    n_samples = int(round(config.data.excerpt_seconds *
                          config.hcqt.sample_rate))
    return [source.note_track(i, n_samples)
            for i in range(config.data.eval_num_tracks)]
  return load


# name -> loader(config) -> list[Track]. Extend with register_eval_set.
EVAL_SETS: dict[str, EvalLoader] = {
    'synthetic_mixtures/valid': _synthetic_mixtures('valid'),
    'synthetic_mixtures/test': _synthetic_mixtures('test'),
    'synthetic_notes/valid': _synthetic_notes('valid'),
}


def register_eval_set(name: str, loader: EvalLoader, *,
                      overwrite: bool = False) -> None:
  """Adds a named evaluation set: ``loader(config) -> list[Track]``."""
  if name in EVAL_SETS and not overwrite:
    raise ValueError(f'Evaluation set {name!r} is already registered.')
  EVAL_SETS[name] = loader


def eval_tracks(config: ml_collections.ConfigDict,
                set_name: str) -> list[tracks.Track]:
  """The tracks of a named evaluation set (deterministic).

  Synthetic sets use ``EVAL_SEED`` (not ``config.seed``),
  ``config.data.eval_num_tracks`` tracks, mixtures of
  ``config.data.eval_track_seconds`` with up to ``config.data.max_voices``
  voices, and single notes of ``config.data.excerpt_seconds`` (cut from 4-s
  notes as in training).

  Raises:
    ValueError: unknown set name (the message lists the known names).
  """
  if set_name not in EVAL_SETS:
    raise ValueError(f'Unknown evaluation set {set_name!r}; known sets: '
                     f'{", ".join(sorted(EVAL_SETS))}.')
  return EVAL_SETS[set_name](config)
