r"""Prepares a corpus for training: decoded 22,050-Hz tracks in ArrayRecord
shards with their HCQT label cells (format: ``data_pipelines/prepared.py``).

  python -m data_pipelines.prepare --dataset=urmp \
      --manual_dir=/data/URMP/Dataset --data_dir=/data/prepared

writes ``<data_dir>/urmp/<split>/`` for every split of the corpus (or those
given with ``--splits``). Training then streams excerpts from the shards
(``config.data.data_dir=<data_dir>``). ``--dataset=fluidsynth`` renders MIDI
instead: the ``.mid`` files under ``--manual_dir``, or, without it,
``--num_tracks`` random progressions of ``--seconds`` each per split.
``--dataset=gm_renders`` makes the performed, augmented General-MIDI renders
of ``data_pipelines/generated/gm_renders.py`` (``--num_tracks`` sets the size of the
train and expressive_train splits, default 960 and 1200 tracks of 20 s;
``--splits=train`` or ``--splits=expressive_train`` is what training reads).

``--dataset=realsamples --manual_dir=DIR`` renders pieces played by the
recorded instruments under ``DIR`` (``philharmonia/``, optionally the
Salamander ``node_modules/``; ``data_pipelines/real_samples/``): every note
is measured once into ``DIR/measurements.npz``; ``--num_tracks`` sets the
size of ``train`` and ``unlabelled``.

``--vocal`` writes the singing-voice form instead (``data_pipelines/vocal.py``:
mixture, vocal stem and f0 per track at 16 kHz / hop 320 unless
``--sample_rate`` / ``--hop_length`` say otherwise) to
``<data_dir>/vocal/<dataset>/<split>/``, for mir1k, medleydb, musdb18 and
mir_st500 (MAJL's vocal system, ``configs/majl_vocal.py``).

The grid flags must match the training config (``config.hcqt``); the
pipeline refuses shards made for another grid. A missing or corrupt file
stops preparation with a one-line error naming it, unless ``--skip_errors``
(then it is logged and left out).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Sequence
import concurrent.futures
import multiprocessing
import os
import sys
import time

from absl import app
from absl import flags
from absl import logging

from data_pipelines import audio as audio_lib
from data_pipelines import catalog
from data_pipelines import corpus as corpus_lib
from data_pipelines import midi
from data_pipelines import prepared

_DATASET = flags.DEFINE_string(
    'dataset', None, 'Corpus name: ' + ', '.join(
        sorted(catalog.CORPORA) + ['drum_kits', 'fluidsynth', 'gm_renders',
                                    'realsamples']) + '.')
_MANUAL_DIR = flags.DEFINE_string(
    'manual_dir', '', 'The downloaded corpus directory (docs/datasets.md); '
    'for fluidsynth, a folder of .mid files ("" = random progressions).')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'Output root: writes <data_dir>/<dataset>/<split>/.')
_SPLITS = flags.DEFINE_list('splits', [], 'Splits to prepare (default: all).')
_CHUNK_SECONDS = flags.DEFINE_float(
    'chunk_seconds', prepared.DEFAULT_CHUNK_SECONDS,
    'Seconds per stored chunk (rounded to whole hops).')
_WORKERS = flags.DEFINE_integer(
    'workers', 0, 'Decoding processes (0 = one per CPU core).')
_SKIP_ERRORS = flags.DEFINE_bool(
    'skip_errors', False, 'Log and leave out tracks whose files are missing or '
    'corrupt instead of stopping.')
_AUDIO_DTYPE = flags.DEFINE_enum(
    'audio_dtype', 'int16', prepared.AUDIO_DTYPES,
    'Stored sample format: int16 (16-bit PCM of the peak-normalised audio, '
    'half the size) or float32 (bit-exact).')
_SAMPLE_RATE = flags.DEFINE_integer('sample_rate', 22050, 'Hz.')
_HOP_LENGTH = flags.DEFINE_integer('hop_length', 256, 'Label frame hop.')
_FMIN = flags.DEFINE_float('fmin', 27.5, 'Label bin 0 (Hz).')
_BINS_PER_OCTAVE = flags.DEFINE_integer('bins_per_octave', 60, 'Label grid.')
_N_BINS = flags.DEFINE_integer('n_bins', 440, 'Label bins.')
_SEED = flags.DEFINE_integer('seed', 0, 'fluidsynth: progression seed.')
_VOCAL = flags.DEFINE_bool(
    'vocal', False, 'Write the singing-voice form (mixture, vocal stem, f0; '
    '16 kHz, hop 320 by default) of mir1k, medleydb, musdb18 or mir_st500.')
_NUM_TRACKS = flags.DEFINE_integer(
    'num_tracks', None, 'fluidsynth: progressions per split (default 1000; '
    'valid and test get a twentieth, at least 1); gm_renders: train and '
    'expressive_train tracks (default 960 and 1200); drum_kits: train '
    'grooves (default 400).')
_SECONDS = flags.DEFINE_float('seconds', 10.0,
                              'fluidsynth: seconds per progression.')

_DECODE_WINDOW = 16  # decoded tracks waiting to be written, at most
_USER_ERRORS = (corpus_lib.DatasetNotFoundError, corpus_lib.AnnotationError,
                audio_lib.AudioError, midi.MidiError, prepared.PreparedError)


def open_reader(dataset: str, manual_dir: str, *, seed: int = 0,
                num_tracks: int | None = None,
                seconds: float = 10.0) -> corpus_lib.Corpus:
  """The reader of ``dataset`` at ``manual_dir``.

  Raises:
    ValueError: unknown dataset name.
    DatasetNotFoundError: the directory does not exist (one line).
  """
  if dataset == 'drum_kits':
    from data_pipelines.generated import drum_kits  # pylint: disable=g-import-not-at-top
    return drum_kits.DrumKits(
        seed=seed, n_tracks={'train': num_tracks} if num_tracks else None)
  if dataset == 'gm_renders':
    from data_pipelines.generated import gm_renders  # pylint: disable=g-import-not-at-top
    return gm_renders.GMRenders(
        seed=seed, n_tracks={'train': num_tracks,
                             'expressive_train': num_tracks}
        if num_tracks else None)
  if dataset == 'realsamples':
    from data_pipelines.real_samples import realsamples  # pylint: disable=g-import-not-at-top
    return realsamples.RealSamples(
        manual_dir, seed=seed,
        n_tracks={'train': num_tracks, 'unlabelled': num_tracks}
        if num_tracks else None)
  if dataset == 'fluidsynth':
    from data_pipelines.generated import fluidsynth_render  # pylint: disable=g-import-not-at-top
    num_tracks = num_tracks or 1000
    small = max(1, num_tracks // 20)
    return fluidsynth_render.FluidSynthCorpus(
        manual_dir, seed=seed, seconds=seconds,
        n_tracks={'train': num_tracks, 'valid': small, 'test': small})
  if dataset not in catalog.CORPORA:
    raise ValueError(f'Unknown --dataset={dataset!r}; choose from '
                     f'{", ".join(sorted(catalog.CORPORA) + ["drum_kits", "fluidsynth", "gm_renders", "realsamples"])}.')
  return catalog.CORPORA[dataset](manual_dir)


def _load(reader: corpus_lib.Corpus, track_id: str, sample_rate: int,
          skip_errors: bool):
  try:
    return reader.load(track_id, sample_rate)
  except _USER_ERRORS as error:
    if not skip_errors:
      raise
    return error


def _records(reader: corpus_lib.Corpus, track_ids: Sequence[str], *,
             sample_rate: int, skip_errors: bool,
             pool: concurrent.futures.Executor | None,
             window: int) -> Iterator[corpus_lib.Record | Exception]:
  """Loaded records in track order (decoded in ``pool`` when given)."""
  if pool is None:
    for t in track_ids:
      yield _load(reader, t, sample_rate, skip_errors)
    return
  pending = collections.deque()
  for t in track_ids:
    pending.append(pool.submit(_load, reader, t, sample_rate, skip_errors))
    if len(pending) >= window:  # decoded tracks held in memory at most
      yield pending.popleft().result()
  while pending:
    yield pending.popleft().result()


def worker_pool(workers: int) -> concurrent.futures.Executor | None:
  """A decoding process pool (None for ``workers`` <= 1).

  Workers are spawned, not forked: forking a process whose TensorFlow
  threads run is unsafe.
  """
  if workers <= 1:
    return None
  return concurrent.futures.ProcessPoolExecutor(
      workers, mp_context=multiprocessing.get_context('spawn'))


def prepare_split(reader: corpus_lib.Corpus, split: str, data_dir: str, *,
                  sample_rate: int = 22050, hop_length: int = 256,
                  fmin: float = 27.5, bins_per_octave: int = 60,
                  n_bins: int = 440,
                  chunk_seconds: float = prepared.DEFAULT_CHUNK_SECONDS,
                  audio_dtype: str = 'int16',
                  pool: concurrent.futures.Executor | None = None,
                  skip_errors: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> str:
  """Writes ``<data_dir>/<corpus>/<split>/``; returns that directory.

  Tracks are decoded in ``pool`` (see ``worker_pool``) when given.

  Raises:
    AudioError, AnnotationError, DatasetNotFoundError: a missing or corrupt
      file (unless ``skip_errors``), each one line naming the file.
  """
  track_ids = reader.track_ids(split)
  directory = prepared.prepared_dir(data_dir, reader.name, split)
  skipped = 0
  with prepared.Writer(directory, corpus_name=reader.name, split=split,
                       annotated=reader.annotated, sample_rate=sample_rate,
                       hop_length=hop_length, fmin=fmin,
                       bins_per_octave=bins_per_octave, n_bins=n_bins,
                       chunk_seconds=chunk_seconds,
                       audio_dtype=audio_dtype) as writer:
    for i, record in enumerate(_records(reader, track_ids,
                                        sample_rate=sample_rate,
                                        skip_errors=skip_errors, pool=pool,
                                        window=_DECODE_WINDOW)):
      if isinstance(record, Exception):
        skipped += 1
        logging.warning('Left out %s: %s', track_ids[i], record)
      else:
        writer.add(record)
      if progress is not None:
        progress(i + 1, len(track_ids))
  logging.info('%s/%s: %d tracks written to %s (%d left out).', reader.name,
               split, len(track_ids) - skipped, directory, skipped)
  return directory


def _prepare_vocal(reader: corpus_lib.Corpus, splits: Sequence[str]) -> None:
  """``--vocal``: the singing-voice folders of ``splits``."""
  from data_pipelines import vocal  # pylint: disable=g-import-not-at-top
  if getattr(reader, 'stem_names', None) is None and reader.name != (
      'mir_st500'):
    raise ValueError(f'--vocal prepares mir1k, medleydb, musdb18 or '
                     f'mir_st500, not {reader.name}.')
  rate = _SAMPLE_RATE.value if flags.FLAGS['sample_rate'].present else 16000
  hop = _HOP_LENGTH.value if flags.FLAGS['hop_length'].present else 320
  for split in splits:
    start = time.perf_counter()
    directory = vocal.prepare_split(reader, split, _DATA_DIR.value,
                                    sample_rate=rate, hop_length=hop)
    print(f'{reader.name}/{split}: {directory} '
          f'({time.perf_counter() - start:.1f} s)', flush=True)


def main(argv: Sequence[str]) -> None:
  del argv
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  logging.set_verbosity(logging.INFO)
  if not _DATASET.value or not _DATA_DIR.value:
    sys.exit('Usage: python -m data_pipelines.prepare --dataset=NAME '
             '--manual_dir=DOWNLOAD_DIR --data_dir=OUTPUT_DIR')
  try:
    reader = open_reader(_DATASET.value, _MANUAL_DIR.value,
                         seed=_SEED.value, num_tracks=_NUM_TRACKS.value,
                         seconds=_SECONDS.value)
    splits = _SPLITS.value or list(reader.splits)
    for split in splits:
      if split not in reader.splits:
        raise ValueError(f'{reader.title} has no split {split!r}; splits: '
                         f'{", ".join(reader.splits)}.')
    if _VOCAL.value:
      _prepare_vocal(reader, splits)
      return
    pool = worker_pool(_WORKERS.value or os.cpu_count() or 1)
    try:
      for split in splits:
        start = time.perf_counter()
        directory = prepare_split(
            reader, split, _DATA_DIR.value, sample_rate=_SAMPLE_RATE.value,
            hop_length=_HOP_LENGTH.value, fmin=_FMIN.value,
            bins_per_octave=_BINS_PER_OCTAVE.value, n_bins=_N_BINS.value,
            chunk_seconds=_CHUNK_SECONDS.value,
            audio_dtype=_AUDIO_DTYPE.value, pool=pool,
            skip_errors=_SKIP_ERRORS.value)
        print(f'{reader.name}/{split}: {directory} '
              f'({time.perf_counter() - start:.1f} s)', flush=True)
    finally:
      if pool is not None:
        pool.shutdown()
  except (*_USER_ERRORS, ValueError, RuntimeError) as error:
    sys.exit(f'Error: {corpus_lib.one_line(error)}')


if __name__ == '__main__':
  app.run(main)
