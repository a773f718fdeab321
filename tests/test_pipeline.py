"""Tests for data_pipelines.pipeline: the tf.data seam and evaluation sets."""

import contextlib
import logging

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_pipelines import labels
from data_pipelines import pipeline
from data_pipelines import tracks as tracks_lib
from data_pipelines.generated import synthetic

N = 11025  # 0.5 s at 22,050 Hz
T = 1 + N // 256


def make_config(**data) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.hcqt = ml_collections.ConfigDict(dict(
      sample_rate=22050, hop_length=256, fmin=27.5, bins_per_octave=60,
      n_bins=440))
  config.train = ml_collections.ConfigDict(dict(batch_size=2))
  config.data = ml_collections.ConfigDict(dict(
      train_source='synthetic', data_dir='', excerpt_seconds=0.5,
      eval_track_seconds=1.5, eval_num_tracks=2, max_voices=6,
      num_parallel_calls=2, prefetch=1, drum_source=''))
  config.data.dataset_dirs = ml_collections.ConfigDict(
      {name: '' for name in ('nsynth', 'urmp', 'bach10', 'su', 'trios',
                             'musicnet', 'guitarset', 'egmd', 'fma',
                             'maestro', 'fluidsynth')})
  config.data.mixture = ml_collections.ConfigDict(dict(
      sources=(), proportions=(), use_labels=()))
  config.data.update(data)
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


@pytest.fixture(scope='module')
def first_six():
  return take(make_config(), 6)


def test_batch_shapes_and_dtypes(first_six):
  for batch in first_six:
    assert set(batch) == {'audio', 'labels', 'has_label'}
    assert batch['audio'].shape == (2, N)
    assert batch['audio'].dtype == np.float32
    assert batch['labels'].shape == (2, 440, T)
    assert batch['labels'].dtype == np.uint8
    assert batch['has_label'].shape == (2,)
    assert batch['has_label'].dtype == bool and batch['has_label'].all()
    assert np.all(np.abs(batch['audio']) <= 1.0)
    # Single notes: at most one active bin per frame, values 0/1.
    assert batch['labels'].max() <= 1
    assert batch['labels'].sum(axis=1).max() <= 1
  assert sum(b['labels'].sum() for b in first_six) > 0


def test_batches_are_the_synthetic_items(first_six):
  source = synthetic.SyntheticSource(0, 'train')
  for step in (0, 3):
    for j in range(2):
      audio, f0 = source.note_excerpt(step * 2 + j, N)
      np.testing.assert_array_equal(first_six[step]['audio'][j], audio)
      np.testing.assert_array_equal(first_six[step]['labels'][j],
                                    labels.frequencies_to_grid(f0[:, None]))


def test_restart_gives_the_same_batches(first_six):
  (batch,) = take(make_config(), 1, start_step=5)
  for key in batch:
    np.testing.assert_array_equal(batch[key], first_six[5][key])
  again = take(make_config(), 2)
  np.testing.assert_array_equal(again[1]['audio'], first_six[1]['audio'])


def test_processes_get_disjoint_shards_of_the_global_batch():
  config = make_config()
  config.train.batch_size = 4
  whole = take(config, 2)
  parts = [take(config, 2, process_index=p, process_count=2) for p in (0, 1)]
  for step in range(2):
    p0, p1 = parts[0][step]['audio'], parts[1][step]['audio']
    assert p0.shape == p1.shape == (2, N)
    for a in p0:
      assert not any(np.array_equal(a, b) for b in p1)
    np.testing.assert_array_equal(np.concatenate([p0, p1]),
                                  whole[step]['audio'])


def test_invalid_arguments():
  config = make_config()
  config.train.batch_size = 3
  with pytest.raises(ValueError, match='divisible'):
    pipeline.train_batches(config, process_count=2)
  with pytest.raises(ValueError):
    pipeline.train_batches(make_config(), process_index=2, process_count=2)
  with pytest.raises(ValueError):
    pipeline.train_batches(make_config(), start_step=-1)
  with pytest.raises(ValueError, match='train_source'):
    pipeline.train_batches(make_config(train_source='musicnet'))


def test_describe_train_source(tmp_path):
  line = pipeline.describe_train_source(make_config())
  assert line.startswith('Training source: synthetic') and '\n' not in line
  line = pipeline.describe_train_source(
      make_config(train_source='auto', data_dir=str(tmp_path)))
  assert 'synthetic' in line and str(tmp_path) in line
  assert 'synthetic' in pipeline.describe_train_source(
      make_config(train_source='auto'))
  with pytest.raises(FileNotFoundError) as info:
    pipeline.describe_train_source(
        make_config(train_source='nsynth', data_dir=str(tmp_path)))
  message = str(info.value)
  assert str(tmp_path) in message and 'tfds build nsynth' in message
  assert '\n' not in message


def test_train_batches_logs_the_source(caplog):
  caplog.set_level(logging.INFO)
  caplog.set_level(logging.INFO, logger='absl')  # whatever earlier tests set
  take(make_config(), 1)
  lines = [r.getMessage() for r in caplog.records
           if r.getMessage().startswith('Training source:')]
  assert lines == [pipeline.describe_train_source(make_config())]


# NSynth: tfds.testing.mock_data works offline; it ignores data_dir, so the
# "is it prepared" check is patched. Mocked notes are random noise with random
# MIDI pitches; both "processes" see the same mocked examples.
@pytest.fixture
def mocked_nsynth(monkeypatch):
  monkeypatch.setattr(pipeline, 'nsynth_is_prepared', lambda data_dir: True)
  with tfds.testing.mock_data(num_examples=24,
                              policy=tfds.testing.MockPolicy.USE_CODE):
    yield


@pytest.mark.usefixtures('mocked_nsynth')
def test_nsynth_source():
  config = make_config(train_source='nsynth', data_dir='/prepared')
  assert 'TFDS nsynth' in pipeline.describe_train_source(config)
  assert 'TFDS nsynth' in pipeline.describe_train_source(
      make_config(train_source='auto', data_dir='/prepared'))
  batches = take(config, 8)
  for batch in batches:
    assert batch['audio'].shape == (2, N)
    assert batch['audio'].dtype == np.float32
    assert batch['labels'].shape == (2, 440, T) and not batch['labels'].any()
    assert not batch['has_label'].any()
    assert np.all(np.abs(batch['audio']) <= 1.0)
  (resumed,) = take(config, 1, start_step=5)
  np.testing.assert_array_equal(resumed['audio'], batches[5]['audio'])
  np.testing.assert_array_equal(take(config, 1)[0]['audio'],
                                batches[0]['audio'])


@pytest.mark.usefixtures('mocked_nsynth')
def test_nsynth_reader_resamples_and_filters():
  # pylint: disable=protected-access
  config = make_config(train_source='nsynth', data_dir='/prepared',
                       excerpt_seconds=4.0)
  ds = pipeline._nsynth_examples(config, epoch=0, process_index=0,
                                 process_count=1)
  pitches = [int(p) for _, p in ds.as_numpy_iterator()]
  assert pitches and all(21 <= p <= 108 for p in pitches)
  excerpt = pipeline._nsynth_excerpt_fn(config, epoch=0, process_index=0)
  t = np.arange(64000) / 16000
  out = excerpt(np.int64(0), (0.25 * np.sin(2 * np.pi * 440 * t)).astype(
      np.float32))
  assert out.shape == (88200,) and out.dtype == np.float32
  assert np.max(np.abs(out)) == pytest.approx(1.0, abs=1e-3)
  spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
  assert np.argmax(spectrum) * 22050 / len(out) == pytest.approx(440, abs=1)


# ------------------------------------------------------------- evaluation


def test_eval_sets():
  config = make_config()
  for name in ('synthetic_mixtures/valid', 'synthetic_mixtures/test',
               'synthetic_notes/valid'):
    tracks = pipeline.eval_tracks(config, name)
    assert len(tracks) == 2
    assert len({t.name for t in tracks}) == 2
    for track in tracks:
      assert isinstance(track, tracks_lib.Track)
      assert track.audio.dtype == np.float32
      assert len(track.ref_times) == len(track.ref_freqs)
      if name.startswith('synthetic_notes'):
        assert track.audio.shape == (N,)
        assert all(len(f) <= 1 for f in track.ref_freqs)
      else:
        assert track.audio.shape == (round(1.5 * 22050),)
    again = pipeline.eval_tracks(config, name)
    np.testing.assert_array_equal(again[1].audio, tracks[1].audio)
  valid = pipeline.eval_tracks(config, 'synthetic_mixtures/valid')
  test = pipeline.eval_tracks(config, 'synthetic_mixtures/test')
  assert not np.array_equal(valid[0].audio, test[0].audio)


def test_eval_sets_ignore_the_training_seed():
  a = pipeline.eval_tracks(make_config(), 'synthetic_notes/valid')
  config = make_config()
  config.seed = 17
  b = pipeline.eval_tracks(config, 'synthetic_notes/valid')
  np.testing.assert_array_equal(a[0].audio, b[0].audio)


def test_unknown_eval_set_and_registry(monkeypatch):
  with pytest.raises(ValueError) as info:
    pipeline.eval_tracks(make_config(), 'bach10')
  message = str(info.value)
  assert 'bach10' in message and 'synthetic_mixtures/valid' in message
  assert '\n' not in message
  monkeypatch.setattr(pipeline, 'EVAL_SETS', dict(pipeline.EVAL_SETS))
  track = tracks_lib.Track('x', np.zeros(10, np.float32), np.zeros(1),
                           [np.zeros(0)])
  pipeline.register_eval_set('toy/test', lambda config: [track])
  assert pipeline.eval_tracks(make_config(), 'toy/test') == [track]
  with pytest.raises(ValueError):
    pipeline.register_eval_set('toy/test', lambda config: [])


def test_made_here_sources_are_one_registry():
  from configs import ssmpe  # pylint: disable=g-import-not-at-top
  config = ssmpe.get_config('quick')
  with pytest.raises(ValueError) as info:
    pipeline.open_source(config, 'nope/train', use_labels=True)
  message = str(info.value)
  assert '\n' not in message
  assert all(repr(n) in message for n in pipeline.MADE_HERE_SOURCES)
  for name, (_, labelled) in pipeline.MADE_HERE_SOURCES.items():
    if not labelled:
      with pytest.raises(ValueError, match='has no labels'):
        pipeline.open_source(config, name, use_labels=True)
  source = pipeline.open_source(config, 'synthetic/train', use_labels=True)
  assert source is not None
