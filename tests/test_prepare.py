"""data_pipelines.prepare: corpora to ArrayRecord shards, read back exactly."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from data_pipelines import audio as audio_lib
from data_pipelines import catalog
from data_pipelines import pipeline
from data_pipelines import prepare
from data_pipelines import prepared
from test_pipeline import make_config

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRID = dict(sample_rate=22050, hop_length=256, fmin=27.5, bins_per_octave=60,
            n_bins=440)


def open_store(data_dir, name, split):
  return prepared.PreparedStore(prepared.prepared_dir(data_dir, name, split),
                                **GRID)


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  out = str(tmp_path_factory.mktemp('prepared'))
  for name, splits in (('urmp', ('all',)), ('nsynth', ('valid',)),
                       ('egmd', ('train',))):
    reader = catalog.CORPORA[name](os.path.join(FIXTURES, name))
    for split in splits:
      prepare.prepare_split(reader, split, out, chunk_seconds=0.1,
                            audio_dtype='float32')  # bit-exact
  return out


@pytest.mark.parametrize('name,split', [('urmp', 'all'), ('nsynth', 'valid'),
                                        ('egmd', 'train')])
def test_shards_hold_the_reader_records(data_dir, name, split):
  reader = catalog.CORPORA[name](os.path.join(FIXTURES, name))
  store = open_store(data_dir, name, split)
  assert store.names == reader.track_ids(split)
  assert store.annotated == reader.annotated
  for i, track in enumerate(store.names):
    record = reader.load(track)
    audio, grid = store.track(i)
    np.testing.assert_array_equal(audio, record.audio)
    if reader.annotated:
      np.testing.assert_array_equal(grid, record.label_grid())
    else:
      assert grid is None


def test_int16_shards_are_within_half_a_step(tmp_path):
  reader = catalog.CORPORA['urmp'](os.path.join(FIXTURES, 'urmp'))
  prepare.prepare_split(reader, 'valid', str(tmp_path))  # int16 default
  store = open_store(str(tmp_path), 'urmp', 'valid')
  assert store.index['audio_dtype'] == 'int16'
  audio, grid = store.track(0)
  record = reader.load('01_Jupiter_vn_vc')
  assert audio.dtype == np.float32
  np.testing.assert_allclose(audio, record.audio, rtol=0, atol=0.5 / 32767)
  assert not np.array_equal(audio, record.audio)
  np.testing.assert_array_equal(grid, record.label_grid())


def test_index_and_chunks(data_dir):
  directory = prepared.prepared_dir(data_dir, 'urmp', 'all')
  with open(os.path.join(directory, 'index.json')) as f:
    index = json.load(f)
  assert index['format'] == prepared.FORMAT
  assert (index['corpus'], index['split']) == ('urmp', 'all')
  assert index['chunk_samples'] == 2304  # 0.1 s -> 9 hops of 256
  # Two 6615-sample tracks -> 3 chunks each, in one shard.
  assert [t['n_chunks'] for t in index['tracks']] == [3, 3]
  assert [t['first_chunk'] for t in index['tracks']] == [0, 3]
  assert index['shards'] == [['chunks-00000-of-00001.array_record', 6]]
  store = open_store(data_dir, 'urmp', 'all')
  # An excerpt across a chunk boundary, padded on the right.
  audio, grid = store.read(1, 2048, 6000, labels=True)
  full, full_grid = store.track(1)
  np.testing.assert_array_equal(audio, audio_lib.take_excerpt(full, 2048,
                                                              6000))
  np.testing.assert_array_equal(
      grid, audio_lib.take_excerpt(full_grid.T, 8, 1 + 6000 // 256).T)


def test_grid_mismatch_and_missing_shards(data_dir, tmp_path):
  directory = prepared.prepared_dir(data_dir, 'urmp', 'all')
  with pytest.raises(prepared.PreparedError, match='prepared for'):
    prepared.PreparedStore(directory, **dict(GRID, hop_length=512))
  copy = tmp_path / 'copy'
  shutil.copytree(directory, copy)
  os.remove(copy / 'chunks-00000-of-00001.array_record')
  with pytest.raises(prepared.PreparedError, match='shard missing'):
    prepared.PreparedStore(str(copy), **GRID)


def test_training_streams_the_prepared_shards(data_dir):
  config = make_config(train_source='mixture', data_dir=data_dir)
  config.train.batch_size = 2
  config.data.mixture.sources = ('urmp/all',)
  config.data.mixture.proportions = (1,)
  config.data.mixture.use_labels = (True,)
  source = pipeline.open_source(config, 'urmp/all', use_labels=True)
  assert 'prepared shards' in source.describe()
  iterator = pipeline.train_batches(config)
  try:
    batch = next(iterator)
  finally:
    iterator.close()
  reader = catalog.CORPORA['urmp'](os.path.join(FIXTURES, 'urmp'))
  # 0.5-s excerpts of 0.3-s tracks: each track whole, hop-aligned padding.
  for audio, grid, index in zip(batch['audio'], batch['labels'], range(2)):
    _, track = source.locate(index)
    record = reader.load(reader.track_ids('all')[track])
    starts = [o for o in range(0, 11025 - 6615 + 1, 256)
              if np.array_equal(audio[o:o + 6615], record.audio)]
    assert len(starts) == 1  # a hop-aligned placement of the whole track
    start = starts[0]
    assert not audio[:start].any() and not audio[start + 6615:].any()
    np.testing.assert_array_equal(
        grid[:, start // 256:start // 256 + 26], record.label_grid())
  assert batch['has_label'].all()


def test_skip_errors(tmp_path):
  root = tmp_path / 'Bach10'
  shutil.copytree(os.path.join(FIXTURES, 'bach10'), root)
  bad = root / '02-AchLiebenChristen' / '02-AchLiebenChristen.wav'
  bad.write_bytes(b'not a wav file')
  reader = catalog.CORPORA['bach10'](str(root))
  with pytest.raises(audio_lib.AudioError) as info:
    prepare.prepare_split(reader, 'test', str(tmp_path / 'out'))
  assert str(bad) in str(info.value)
  directory = prepare.prepare_split(reader, 'test', str(tmp_path / 'out'),
                                    skip_errors=True)
  assert prepared.PreparedStore(directory, **GRID).names == [
      '01-AchGottundHerr']


def run_cli(*args):
  return subprocess.run([sys.executable, '-m', 'data_pipelines.prepare',
                         *args], cwd=ROOT, capture_output=True, text=True,
                        check=False, timeout=300)


def test_command_line(tmp_path):
  out = str(tmp_path / 'out')
  result = run_cli('--dataset=guitarset', '--splits=valid,test',
                   f'--manual_dir={os.path.join(FIXTURES, "guitarset")}',
                   f'--data_dir={out}', '--workers=2')
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'guitarset/valid' in result.stdout
  assert open_store(out, 'guitarset', 'test').names == [
      '00_Funk2-108-Eb_solo', '05_BN1-129-Eb_comp']
  missing = str(tmp_path / 'no_such_dir')
  result = run_cli('--dataset=su', f'--manual_dir={missing}',
                   f'--data_dir={out}')
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith('Error: Su (su) not found') and missing in last


def test_chunks_are_decoded_one_at_a_time(monkeypatch):
  """The .npy header parser is not thread-safe on CPython 3.11 (a spurious
  SystemError killed a training run): concurrent decodes must not overlap
  (data_pipelines/npz.py, also the vocal tracks' reader)."""
  import threading  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  record = prepared._encode(np.zeros(512, np.float32), np.array([1, 2]),
                            np.array([3, 4]), 'int16')
  inside, most = [0], [0]
  count = threading.Lock()
  real_load = np.load

  def slow_load(*args, **kwargs):
    with count:
      inside[0] += 1
      most[0] = max(most[0], inside[0])
    time.sleep(0.01)  # long enough for the other threads to arrive
    with count:
      inside[0] -= 1
    return real_load(*args, **kwargs)

  monkeypatch.setattr(prepared.np, 'load', slow_load)
  results = []
  threads = [threading.Thread(target=lambda: results.append(
      prepared._decode(record))) for _ in range(6)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert most[0] == 1 and len(results) == 6
  audio, frames, bins = results[0]
  assert audio.dtype == np.float32 and audio.shape == (512,)
  assert frames.tolist() == [1, 2] and bins.tolist() == [3, 4]
