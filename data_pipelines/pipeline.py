"""The tf.data seam: per-host training batches and evaluation track sets.

Training (``train_batches``) yields, for each step, this host's part of the
global batch as numpy arrays:

* ``audio``: float32 [b, N] excerpts (N = round(excerpt_seconds * sr)), cut
  from peak-normalised tracks (a track shorter than N is zero-padded at a
  random left offset).
* ``labels``: uint8 [b, K, T] multi-pitch targets on the h=1 HCQT grid
  (K = hcqt.n_bins, T = 1 + N // hop; 1 where a pitch's nearest bin sounds at
  the frame time); all zeros for items without labels.
* ``has_label``: bool [b], True for items whose ``labels`` are ground truth
  (supervised items).
* ``drums``: float32 [b, N], only when ``config.data.drum_source`` is set: a
  drum excerpt of the same length per item, cut from a peak-normalised
  track of that source, one distinct track per item while the source has at
  least b tracks.
* ``label_confidence``: float32 [b, T], only when the mixture has a source
  with label confidences ('pseudo_labels/train' used with labels): the
  stored per-frame confidence (MAJL Eq. 4) of pseudo-labelled items, 1.0 for
  the items of every other source (ground truth or no labels).

b = batch_size // process_count. A batch is a pure function of (seed, step,
process_index, process_count): a run restarted at ``start_step`` continues
exactly as the uninterrupted run, and hosts receive disjoint items.

``config.data.train_source`` picks the stream:

* ``'synthetic'``: NSynth-like notes from ``data_pipelines.generated.synthetic`` (the
  embedded default; nothing to download). Item ``i`` of the run is
  ``SyntheticSource(config.seed, 'train').note_excerpt(i, N)``; the batch of
  step ``s`` on process ``p`` holds the global items ``s * B + p * b + j``
  (j < b). Labels come from the exact f0 (``has_label`` = True).
* ``'nsynth'``: the TFDS ``nsynth`` train split (prepared beforehand under
  ``config.data.data_dir``), notes with MIDI pitch in [21, 108], resampled from
  16 kHz to 22,050 Hz on the host, peak-normalised, then cut to the excerpt
  length with the reference excerpt rule. Sharded per host with
  ``tfds.split_for_jax_process``; epoch ``e`` has a deterministic order given
  (seed, e, process); each epoch ends with ``drop_remainder`` (like the
  reference's ``drop_last``). No frame labels (``has_label`` = False).
* ``'auto'``: ``'nsynth'`` when it is prepared under ``data_dir``, else
  ``'synthetic'``.
* ``'mixture'``: named sources in fixed proportions,
  ``config.data.mixture.sources`` (e.g. ``('urmp/train', 'nsynth/train')``,
  see ``sources.py``: '<corpus>/<split>', 'synthetic/train',
  'synthetic_mixtures/train', 'fluidsynth/train', and 'pseudo_labels/train',
  the items written by ``python -m mpe_jax.pseudo_label`` to
  ``config.data.pseudo_label_dir``), ``.proportions`` (shares of every
  batch) and ``.use_labels`` (per source: whether its items are
  supervised). Each host's batch holds ``c_k = b * proportion_k /
  sum(proportions)`` items of source k (which must be whole numbers), in
  source order. Slot j < c_k of source k at step s on process p is the
  source's global item ``(s * P + p) * c_k + j``: corpus sources map item i
  to epoch ``i // n_tracks`` and to a track through a per-(seed, epoch)
  permutation, with a per-(seed, epoch, track) excerpt offset ("one random
  excerpt per track per epoch"); disjoint item indices make hosts
  disjoint. Corpus sources stream prepared shards under
  ``config.data.data_dir`` (``python -m data_pipelines.prepare``), else
  decode the raw corpus at ``config.data.dataset_dirs.<corpus>``.

Drum excerpts (``config.data.drum_source``, e.g. ``'egmd/train'``) use the
same item scheme with ``c = b``.

Evaluation (``eval_tracks``, defined in ``data_pipelines.eval_sets`` and
re-exported here) returns lists of ``Track`` from a registry of named sets,
``EVAL_SETS``: the synthetic sets, and '<corpus>/<split>' for
every annotated corpus (e.g. 'urmp/valid', 'bach10/test', 'su/test',
'trios/test', 'musicnet/test', 'guitarset/valid', 'guitarset/test',
'maestro/valid', 'nsynth/valid'), read from
``config.data.dataset_dirs.<corpus>``; ``register_eval_set`` adds more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import functools

from absl import logging
import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from data_pipelines import audio as audio_lib
from data_pipelines import catalog
from data_pipelines import contracts
from data_pipelines import pseudo_labels
from data_pipelines import sources as sources_lib
from data_pipelines import vocal as vocal_lib
from data_pipelines.batching import Batch  # pylint: disable=unused-import
from data_pipelines.batching import BatchIterator  # pylint: disable=unused-import
from data_pipelines.batching import mixture_counts  # pylint: disable=unused-import
# The evaluation sets live in data_pipelines.eval_sets (no TensorFlow);
# their names stay importable from here.
from data_pipelines.eval_sets import EVAL_SEED  # pylint: disable=unused-import
from data_pipelines.eval_sets import EVAL_SETS  # pylint: disable=unused-import
from data_pipelines.eval_sets import EvalLoader  # pylint: disable=unused-import
from data_pipelines.eval_sets import check_eval_set  # pylint: disable=unused-import
from data_pipelines.eval_sets import check_selection_set  # pylint: disable=unused-import
from data_pipelines.eval_sets import eval_tracks  # pylint: disable=unused-import
from data_pipelines.eval_sets import register_eval_set  # pylint: disable=unused-import

TRAIN_SOURCES = ('synthetic', 'nsynth', 'auto', 'mixture', 'vocal')
NSYNTH_NAME = 'nsynth'
NSYNTH_SAMPLE_RATE = 16000
NSYNTH_MIDI_RANGE = (21, 108)  # inclusive, as in the reference
_NSYNTH_SHUFFLE_BUFFER = 512  # examples (256 KB each)
_NSYNTH_KIND = 3  # seed sub-domain of NSynth excerpt offsets



@functools.cache
def hide_gpus_from_tensorflow() -> None:
  """Makes TensorFlow CPU-only (once per process), leaving GPUs to JAX."""
  try:
    tf.config.set_visible_devices([], 'GPU')
  except RuntimeError as error:  # TF devices already initialised.
    logging.warning('Could not hide GPUs from TensorFlow: %s', error)


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


def _grid_kwargs(config: ml_collections.ConfigDict) -> dict:
  hcqt = config.hcqt
  return dict(sample_rate=hcqt.sample_rate, hop_length=hcqt.hop_length,
              fmin=hcqt.fmin, bins_per_octave=hcqt.bins_per_octave,
              n_bins=hcqt.n_bins)


def _synthetic_notes(config, use_labels, grid):
  return sources_lib.SyntheticNotes(config.seed, use_labels=use_labels,
                                    **grid)


def _synthetic_mixtures(config, use_labels, grid):
  return sources_lib.SyntheticMixtures(
      config.seed, max_voices=config.data.max_voices, use_labels=use_labels,
      **grid)


def _synthetic_drums(config, use_labels, grid):
  del use_labels, grid
  return sources_lib.SyntheticDrums(config.seed,
                                    sample_rate=config.hcqt.sample_rate)


def _pseudo_labels(config, use_labels, grid):
  return pseudo_labels.open_source(
      config.data.get('pseudo_label_dir', ''), seed=config.seed,
      use_labels=use_labels, **grid)


def _gm_renders(split: str):
  def open_renders(config, use_labels, grid):
    from data_pipelines.generated import gm_renders  # pylint: disable=g-import-not-at-top
    return gm_renders.open_source(config.data.data_dir, seed=config.seed,
                                  use_labels=use_labels, split=split, **grid)
  return open_renders


def _drum_kits(config, use_labels, grid):
  del use_labels
  from data_pipelines.generated import drum_kits  # pylint: disable=g-import-not-at-top
  return drum_kits.open_source(config.data.data_dir, seed=config.seed, **grid)


def _fluidsynth(config, use_labels, grid):
  from data_pipelines.generated import fluidsynth_render  # pylint: disable=g-import-not-at-top
  return fluidsynth_render.open_source(
      config.data.data_dir, seed=config.seed, use_labels=use_labels,
      midi_dir=config.data.dataset_dirs.fluidsynth, **grid)


# The training sources made here, by name: (opener(config, use_labels,
# grid kwargs) -> Source, whether it has labels). Every other name is
# '<corpus>/<split>' of data_pipelines.catalog. Adding a source is adding
# an entry.
MADE_HERE_SOURCES: dict[str, tuple[Callable[..., sources_lib.Source],
                                   bool]] = {
    'synthetic/train': (_synthetic_notes, True),
    'synthetic_mixtures/train': (_synthetic_mixtures, True),
    'synthetic_drums/train': (_synthetic_drums, False),
    pseudo_labels.SOURCE_NAME: (_pseudo_labels, True),
    'gm_renders/train': (_gm_renders('train'), True),
    'gm_renders/expressive_train': (_gm_renders('expressive_train'), True),
    'drum_kits/train': (_drum_kits, False),
    'fluidsynth/train': (_fluidsynth, True),
}


def open_source(config: ml_collections.ConfigDict, name: str, *,
                use_labels: bool) -> sources_lib.Source:
  """The training source ``name`` (a key of ``MADE_HERE_SOURCES``, or
  '<corpus>/<split>') as the config locates it.

  'pseudo_labels/train' reads ``config.data.pseudo_label_dir`` (a key older
  configs lack; read as '' then).

  Raises:
    ValueError: unknown name, labels asked of an audio-only source, or an
      incomplete pseudo-label folder.
    DatasetNotFoundError: a corpus with neither prepared shards nor a raw
      directory (one line naming both), or no pseudo-label folder.
  """
  grid = _grid_kwargs(config)
  if name in MADE_HERE_SOURCES:
    opener, labelled = MADE_HERE_SOURCES[name]
    if use_labels and not labelled:
      raise ValueError(f'{name!r} has no labels (audio only); set its '
                       'use_labels entry to False.')
    return opener(config, use_labels, grid)
  try:
    cls, _ = catalog.split_set_name(name)
  except ValueError as error:
    known = ', '.join(repr(n) for n in MADE_HERE_SOURCES)
    raise ValueError(f'Unknown training source {name!r} ({error}); sources '
                     f'are {known} and \'<corpus>/<split>\'.') from error
  return sources_lib.open_corpus_source(
      name, corpus_dir=config.data.dataset_dirs[cls.name],
      data_dir=config.data.data_dir, seed=config.seed, use_labels=use_labels,
      **grid)


def _mixture_sources(config: ml_collections.ConfigDict, local_batch: int
                     ) -> list[tuple[sources_lib.Source, int]]:
  return [(open_source(config, name, use_labels=use), count)
          for name, count, use in mixture_counts(config, local_batch)]


def _drum_source(config: ml_collections.ConfigDict
                 ) -> sources_lib.Source | None:
  name = config.data.drum_source
  if not name:
    return None
  return open_source(config, name, use_labels=False)


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
  if requested in ('mixture', 'vocal'):
    parts = [f'{name} x{count}' for name, count, _ in mixture_counts(
        config, config.train.batch_size)]
    kind = 'vocal mixture' if requested == 'vocal' else 'mixture'
    return requested, (f'Training source: {kind} of ' + ', '.join(parts) +
                       ' per global batch (config.data.mixture).')
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
    ValueError: unknown ``config.data.train_source`` or a bad mixture.
    FileNotFoundError: 'nsynth' requested but not prepared under data_dir.
  """
  return _resolve_train_source(config)[1]


# ---------------------------------------------------------------- training


def _tf_parallelism(value: int) -> int:
  return tf.data.AUTOTUNE if value < 0 else value


def _item_shapes(n_samples: int, n_bins: int, n_frames: int):
  def set_shapes(audio, label_grid, has_label, *confidence):
    audio.set_shape([n_samples])
    label_grid.set_shape([n_bins, n_frames])
    has_label.set_shape([])
    item = {'audio': audio, 'labels': label_grid, 'has_label': has_label}
    if confidence:
      confidence[0].set_shape([n_frames])
      item['label_confidence'] = confidence[0]
    return item
  return set_shapes


def _excerpt_shape(config: ml_collections.ConfigDict) -> tuple[int, int]:
  n_samples = int(round(config.data.excerpt_seconds * config.hcqt.sample_rate))
  return n_samples, 1 + n_samples // config.hcqt.hop_length


def _source_batches(config: ml_collections.ConfigDict,
                    layout: list[tuple[sources_lib.Source, int]], *,
                    start_step: int, process_index: int, process_count: int,
                    local_batch: int) -> tf.data.Dataset:
  """Infinite dataset of this host's batches from (source, count) slots.

  Local item k (k = step * b + slot) is slot ``slot`` of step ``step``; slot
  j of source s (counted within the source's share c_s) reads the source's
  global item ``(step * P + p) * c_s + j``. When a source has label
  confidences, every item also carries its ``[T]`` confidence (1.0 where the
  source gives none).
  """
  n_samples, n_frames = _excerpt_shape(config)
  n_bins = config.hcqt.n_bins
  slots = [(s, j) for s, (_, count) in enumerate(layout) for j in range(count)]
  assert len(slots) == local_batch, (len(slots), local_batch)
  with_confidence = any(source.has_confidence for source, _ in layout)

  def make_item(k: np.ndarray):
    step, slot = divmod(int(k), local_batch)
    s, j = slots[slot]
    source, count = layout[s]
    index = (step * process_count + process_index) * count + j
    if not with_confidence:
      audio, grid = source.item(index, n_samples)
    else:
      audio, grid, confidence = source.item_with_confidence(index, n_samples)
    if grid is None:
      grid = np.zeros((n_bins, n_frames), np.uint8)
    item = (np.asarray(audio, np.float32), grid, np.bool_(source.labelled))
    if not with_confidence:
      return item
    if confidence is None:
      confidence = np.ones(n_frames, np.float32)
    return item + (np.asarray(confidence, np.float32),)

  types = (tf.float32, tf.uint8, tf.bool) + (
      (tf.float32,) if with_confidence else ())

  def to_item(k):
    return tf.numpy_function(make_item, [k], types, stateful=False)

  ds = tf.data.Dataset.range(start_step * local_batch, np.iinfo(np.int64).max)
  ds = ds.map(to_item, num_parallel_calls=_tf_parallelism(
      config.data.num_parallel_calls), deterministic=True)
  ds = ds.map(_item_shapes(n_samples, n_bins, n_frames))
  return ds.batch(local_batch, drop_remainder=True)


def _drum_batches(config: ml_collections.ConfigDict,
                  source: sources_lib.Source, *, start_step: int,
                  process_index: int, process_count: int,
                  local_batch: int) -> tf.data.Dataset:
  """Infinite dataset of [b, N] drum excerpts (item (s * P + p) * b + j)."""
  n_samples, _ = _excerpt_shape(config)

  def make_drum(k: np.ndarray) -> np.ndarray:
    step, j = divmod(int(k), local_batch)
    index = (step * process_count + process_index) * local_batch + j
    return np.asarray(source.item(index, n_samples)[0], np.float32)

  def to_drum(k):
    drum = tf.numpy_function(make_drum, [k], tf.float32, stateful=False)
    drum.set_shape([n_samples])
    return drum

  ds = tf.data.Dataset.range(start_step * local_batch, np.iinfo(np.int64).max)
  ds = ds.map(to_drum, num_parallel_calls=_tf_parallelism(
      config.data.num_parallel_calls), deterministic=True)
  return ds.batch(local_batch, drop_remainder=True)


def _with_drums(batches: Iterator[Batch],
                drums: Iterator[np.ndarray]) -> Iterator[Batch]:
  for batch, drum in zip(batches, drums):
    batch['drums'] = drum
    yield batch


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
    'has_label': bool [b]}`` (plus ``'drums': float32 [b, N]`` when
    ``config.data.drum_source`` is set, and ``'label_confidence': float32
    [b, T]`` when a mixture source has label confidences) with
    ``b = batch_size // process_count``,
    ``N = round(excerpt_seconds * sample_rate)``, ``T = 1 + N // hop``.

  Raises:
    ValueError: batch size not divisible by the process count, bad indices,
      unknown train source, a bad mixture.
    FileNotFoundError: 'nsynth' requested but not prepared, or a corpus
      source found neither prepared nor raw (``DatasetNotFoundError``).
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
  where = dict(start_step=start_step, process_index=process_index,
               process_count=process_count, local_batch=local_batch)
  # A data-only config (no system) gets the contract of what it reads.
  contract = (contracts.for_system(config.system) if 'system' in config else
              contracts.VOCAL if source == 'vocal' else
              contracts.AUDIO_SALIENCE)
  if source == 'vocal':  # mixtures, vocal stems and f0 (data_pipelines/vocal)
    return _checked(contract, vocal_lib.train_batches(config, **where))
  drum_source = _drum_source(config)
  drums = None
  if drum_source is not None:
    logging.info('Drum excerpts: %s.', drum_source.describe())
    drums = _drum_batches(config, drum_source, **where)
  if source == 'nsynth':
    batches = _nsynth_train_batches(config, **where)
    if drums is not None:
      batches = _with_drums(batches, drums.prefetch(
          config.data.prefetch).as_numpy_iterator())
    return _checked(contract, batches)
  if source == 'mixture':
    layout = _mixture_sources(config, local_batch)
    for src, count in layout:
      logging.info('Mixture source x%d per host batch: %s.', count,
                   src.describe())
  else:
    layout = [(sources_lib.SyntheticNotes(config.seed, **_grid_kwargs(config)),
               local_batch)]
  ds = _source_batches(config, layout, **where)
  if drums is not None:
    ds = tf.data.Dataset.zip((ds, drums)).map(
        lambda batch, drum: dict(batch, drums=drum))
  return _checked(contract,
                  ds.prefetch(config.data.prefetch).as_numpy_iterator())


def _checked(contract: contracts.BatchContract,
             batches: Iterator[Batch]) -> BatchIterator:
  """``batches`` checked against the system's batch contract, owned by a
  ``BatchIterator`` (closing it releases the tf.data iterator)."""
  return BatchIterator(contract.checked(batches, 'training batches'))
