"""Training sources and mixed batches: epochs, hosts, restarts, drums.

A prepared toy corpus makes every excerpt traceable: track i holds the
samples ``i + (n + 1) / (N + 1)``, so an excerpt's first sample tells its
track (the integer part) and its start (the fraction); each track has one
note whose label frames can be checked against that start.
"""

import contextlib
import os

import numpy as np
import pytest

from data_pipelines import corpus
from data_pipelines import pipeline
from data_pipelines import prepared
from data_pipelines import sources
from test_pipeline import make_config

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
HOP = 256
GRID = dict(sample_rate=22050, hop_length=HOP, fmin=27.5, bins_per_octave=60,
            n_bins=440)
TRACK_SAMPLES = 22050  # 1-s tracks; the test excerpts are 0.5 s
N_TRACKS = 8


def toy_record(i: int, n: int = TRACK_SAMPLES) -> corpus.Record:
  audio = (i + np.arange(1, n + 1) / (n + 1)).astype(np.float32)
  midi = 40 + i  # one note per track, 0.2 .. 0.6 s
  notes = corpus.Notes(np.array([0.2]), np.array([0.6]),
                       corpus.midi_to_hz(np.array([midi])))
  return corpus.Record(f'toy_{i}', audio, 22050, notes)


@pytest.fixture(scope='module')
def toy_dir(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp('prepared'))
  directory = prepared.prepared_dir(data_dir, 'urmp', 'train')
  with prepared.Writer(directory, corpus_name='urmp', split='train',
                       annotated=True, chunk_seconds=0.3,
                       audio_dtype='float32') as writer:
    for i in range(N_TRACKS):
      writer.add(toy_record(i, TRACK_SAMPLES + 1000 * i))
  return data_dir


def open_toy(toy_dir, seed=0, use_labels=True):
  return sources.open_corpus_source(
      'urmp/train', corpus_dir='', data_dir=toy_dir, seed=seed,
      use_labels=use_labels, **GRID)


def identify(excerpt: np.ndarray) -> tuple[int, int]:
  """(track, start sample) of a toy excerpt (starts are >= 0 here)."""
  track = int(np.floor(excerpt[0]))
  n = TRACK_SAMPLES + 1000 * track
  return track, int(round((excerpt[0] - track) * (n + 1))) - 1


def test_one_excerpt_per_track_per_epoch(toy_dir):
  source = open_toy(toy_dir)
  assert 'prepared shards' in source.describe()
  n = 11025
  seen = {}
  for index in range(3 * N_TRACKS):
    audio, grid = source.item(index, n)
    track, start = identify(audio)
    epoch = index // N_TRACKS
    assert (epoch, track) not in seen  # every track once per epoch
    seen[epoch, track] = start
    assert start % HOP == 0  # labelled: hop-aligned starts
    record = toy_record(track, TRACK_SAMPLES + 1000 * track)
    np.testing.assert_array_equal(audio, record.audio[start:start + n])
    full = record.label_grid(hop_length=HOP)
    np.testing.assert_array_equal(grid, full[:, start // HOP:
                                             start // HOP + 1 + n // HOP])
  assert len(seen) == 3 * N_TRACKS
  # The order and the offsets change from epoch to epoch.
  assert [source.locate(i)[1] for i in range(8)] != [
      source.locate(i)[1] for i in range(8, 16)]
  assert any(seen[0, t] != seen[1, t] for t in range(N_TRACKS))
  # A pure function of (seed, index): a fresh source agrees, another seed not.
  again = open_toy(toy_dir)
  np.testing.assert_array_equal(again.item(13, n)[0], source.item(13, n)[0])
  other = open_toy(toy_dir, seed=1)
  assert [other.locate(i)[1] for i in range(8)] != [
      source.locate(i)[1] for i in range(8)]


def test_unlabelled_use_and_short_tracks(toy_dir):
  source = open_toy(toy_dir, use_labels=False)
  audio, grid = source.item(0, 44100)  # 2 s > every track: zero padding
  assert grid is None
  nonzero = np.flatnonzero(audio)
  track = int(np.floor(audio[nonzero[0]]))
  assert len(nonzero) == TRACK_SAMPLES + 1000 * track
  assert nonzero[-1] - nonzero[0] == len(nonzero) - 1  # one contiguous run


def mixture_config(toy_dir, **data):
  config = make_config(train_source='mixture', data_dir=toy_dir, **data)
  config.train.batch_size = 4
  config.data.dataset_dirs.egmd = os.path.join(FIXTURES, 'egmd')
  config.data.mixture.sources = ('urmp/train', 'synthetic/train')
  config.data.mixture.proportions = (1, 1)
  config.data.mixture.use_labels = (True, True)
  return config


@contextlib.contextmanager
def batches_of(config, **kwargs):
  iterator = pipeline.train_batches(config, **kwargs)
  try:
    yield iterator
  finally:
    iterator.close()


def take(config, n, **kwargs):
  with batches_of(config, **kwargs) as iterator:
    return [next(iterator) for _ in range(n)]


def test_two_hosts_get_disjoint_items_and_restarts_repeat(toy_dir):
  config = mixture_config(toy_dir)
  config.data.mixture.sources = ('urmp/train',)
  config.data.mixture.proportions = (1,)
  config.data.mixture.use_labels = (True,)
  hosts = [take(config, 3, process_index=p, process_count=2) for p in (0, 1)]
  # Steps 0-1 of both hosts = global items 0..7 = epoch 0: every track once.
  tracks = [[identify(a)[0] for a in hosts[p][s]['audio']]
            for p in (0, 1) for s in (0, 1)]
  flat = sorted(t for step in tracks for t in step)
  assert flat == list(range(N_TRACKS))
  assert not set(tracks[0] + tracks[1]) & set(tracks[2] + tracks[3])
  # A restarted host continues exactly where the uninterrupted one was.
  (resumed,) = take(config, 1, start_step=2, process_index=1, process_count=2)
  for key in resumed:
    np.testing.assert_array_equal(resumed[key], hosts[1][2][key])
  # One host with the global batch sees the same items, host 0's first.
  whole = take(config, 1)
  np.testing.assert_array_equal(
      whole[0]['audio'], np.concatenate([hosts[0][0]['audio'],
                                         hosts[1][0]['audio']]))


def test_mixed_batches_with_drums(toy_dir):
  config = mixture_config(toy_dir, drum_source='egmd/train')
  config.data.mixture.use_labels = (False, True)
  assert pipeline.describe_train_source(config) == (
      'Training source: mixture of urmp/train x2, synthetic/train x2 per '
      'global batch (config.data.mixture).')
  batches = take(config, 3)
  for batch in batches:
    assert set(batch) == {'audio', 'labels', 'has_label', 'drums'}
    assert batch['audio'].shape == batch['drums'].shape == (4, 11025)
    assert batch['drums'].dtype == np.float32
    assert batch['labels'].shape == (4, 440, 44)
    np.testing.assert_array_equal(batch['has_label'],
                                  [False, False, True, True])
    assert not batch['labels'][:2].any()  # unlabelled use of urmp/train
    assert batch['labels'][2:].any()
    assert {identify(a)[0] for a in batch['audio'][:2]} <= set(range(8))
    # Two E-GMD train tracks, four items: every track once per pair.
    drums = batch['drums']
    assert np.max(np.abs(drums)) <= 1.0 and np.all(np.abs(drums).max(1) > 0)
    assert not np.array_equal(drums[0], drums[1])
  (resumed,) = take(config, 1, start_step=2)
  np.testing.assert_array_equal(resumed['drums'], batches[2]['drums'])
  np.testing.assert_array_equal(resumed['audio'], batches[2]['audio'])


def test_synthetic_source_is_unchanged_by_the_mixture_machinery():
  plain = take(make_config(), 2)
  config = make_config(train_source='mixture')
  config.data.mixture.sources = ('synthetic/train',)
  config.data.mixture.proportions = (1.0,)
  config.data.mixture.use_labels = (True,)
  mixed = take(config, 2)
  for a, b in zip(plain, mixed):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])


def test_bad_mixtures_are_one_line_errors(toy_dir):
  config = mixture_config(toy_dir)
  config.data.mixture.proportions = (1, 2)  # 4 * 1/3 is not whole
  with pytest.raises(ValueError, match='whole number') as info:
    pipeline.train_batches(config)
  assert '\n' not in str(info.value)
  config = mixture_config(toy_dir)
  config.data.mixture.use_labels = (True,)
  with pytest.raises(ValueError, match='equal length'):
    pipeline.train_batches(config)
  config = mixture_config(toy_dir)
  config.data.mixture.sources = ('egmd/train', 'synthetic/train')
  with pytest.raises(ValueError, match='no pitch labels'):
    pipeline.train_batches(config)
  config = mixture_config(toy_dir)
  config.data.mixture.sources = ('urmp/tarin', 'synthetic/train')
  with pytest.raises(ValueError, match="no split 'tarin'.*'<corpus>/<split>'"):
    pipeline.train_batches(config)
  config = mixture_config(toy_dir)
  config.data.mixture.sources = ('bach10/test', 'synthetic/train')
  with pytest.raises(corpus.DatasetNotFoundError) as info:
    pipeline.train_batches(config)
  message = str(info.value)
  assert 'bach10/test' in message and 'dataset_dirs.bach10' in message
  assert toy_dir in message and '\n' not in message


def test_synthetic_mixtures_source_matches_the_evaluation_renderer():
  """Item i is synthetic mixture i at the excerpt length, labels on its bins."""
  from data_pipelines import labels
  from data_pipelines.generated import synthetic
  n = 11025  # 0.5 s
  src = sources.SyntheticMixtures(3, max_voices=4, use_labels=True, **GRID)
  audio, grid = src.item(5, n)
  track = synthetic.synth_mixture(3, 5, seconds=0.5, max_voices=4)
  np.testing.assert_array_equal(audio, track.audio)
  assert grid.shape == (440, 1 + n // HOP) and grid.dtype == np.uint8
  for frame, freqs in enumerate(track.ref_freqs):
    want = set(labels.hz_to_bins(freqs).tolist()) if len(freqs) else set()
    assert set(np.nonzero(grid[:, frame])[0].tolist()) == want
  assert grid.sum() > 0
  unlabelled = sources.SyntheticMixtures(3, max_voices=4, use_labels=False,
                                         **GRID)
  audio2, none = unlabelled.item(5, n)
  assert none is None
  np.testing.assert_array_equal(audio2, audio)
  assert not np.array_equal(src.item(6, n)[0], audio)
