"""MAJL's two-stage data: Eq. 4 confidences, the pseudo-label command, and the
Stage-II source 'pseudo_labels/train' in training batches."""

import contextlib
import io
import json
import os
import shutil

import jax.numpy as jnp
import numpy as np
import pytest

from data_pipelines import corpus
from data_pipelines import pipeline
from data_pipelines import pseudo_labels
from mpe_jax import inference
from mpe_jax import pseudo_label
from mpe_jax.evaluation import peaks
from mpe_jax.objectives import confidence
from test_pipeline import make_config
import tiny_config

SECONDS = 0.25  # 5,512 samples, 22 label frames
N_SAMPLES, N_FRAMES = 5512, 22
N_ITEMS = 3


# ------------------------------------------------------------- confidence ---


def test_confidence_is_eq4_around_the_threshold():
  # One item, K = 2 bins, 5 frames whose maxima are .49, .5, .51, .9, .1.
  sal = jnp.asarray([[[0.49, 0.2, 0.51, 0.9, 0.1],
                      [0.1, 0.5, 0.3, 0.4, 0.05]]])
  conf = np.asarray(confidence.confidence(sal))
  assert conf.shape == (1, 5)
  np.testing.assert_allclose(conf, [[0.51, 0.5, 0.51, 0.9, 0.9]], rtol=1e-6)
  # Another presence threshold moves the voiced / silent split.
  np.testing.assert_allclose(confidence.confidence(sal, 0.6),
                             [[0.51, 0.5, 0.49, 0.9, 0.9]], rtol=1e-6)
  mask = np.asarray(confidence.confidence_mask(jnp.asarray(
      [0.5, 0.69, 0.7, 0.71, 1.0])))
  assert mask.dtype == np.float32
  np.testing.assert_array_equal(mask, [0, 0, 1, 1, 1])
  np.testing.assert_array_equal(confidence.confidence_mask(conf), [[0, 0, 0,
                                                                    1, 1]])
  for bad in (0.0, 1.5, -0.1):
    with pytest.raises(ValueError, match=r'th must be in \(0, 1\]'):
      confidence.confidence_mask(conf, bad)
  with pytest.raises(ValueError, match='must be in'):
    confidence.confidence(sal, 2.0)


def test_labels_map_salience_peaks_to_the_label_grid():
  """A CQT-like grid: 3 bins an octave apart, frames every 10 ms."""
  freqs = np.array([110.0, 220.0, 440.0])
  times = np.array([0.0, 0.01, 0.02, 0.03])
  sal = np.array([[0.9, 0.1, 0.1, 0.3],
                  [0.1, 0.2, 0.8, 0.4],
                  [0.6, 0.1, 0.7, 0.1]])
  conf = np.array([0.9, 0.8, 0.75, 0.6], np.float32)
  grid, frame_conf = pseudo_label.salience_to_labels(
      sal, conf, freqs, times, threshold=0.5, n_frames=3, hop_length=256,
      sample_rate=22050, fmin=27.5, bins_per_octave=60, n_bins=440)
  # Label frames at 0, 11.6 and 23.2 ms take salience frames 0, 1 and 2.
  np.testing.assert_array_equal(frame_conf, conf[:3])
  assert grid.shape == (440, 3) and grid.dtype == np.uint8
  on = {(int(b), int(t)) for b, t in zip(*np.nonzero(grid))}
  # 110 / 220 / 440 Hz are label bins 120 / 180 / 240; frame 2's 440-Hz bin
  # is no peak (its neighbour at 220 Hz is higher).
  assert on == {(120, 0), (240, 0), (180, 2)}
  np.testing.assert_array_equal(
      pseudo_label.nearest_frames(times, [-1.0, 0.005, 0.0051, 0.5]),
      [0, 0, 1, 3])


# ------------------------------------------------------------ the command ---


def run_cli(*args):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    status = pseudo_label.run(['pseudo_label', *args, '--noprogress'])
  return status, out.getvalue(), err.getvalue()


def cli_args(run_dir, out_dir, **overrides):
  flags = dict(checkpoint=run_dir, source='synthetic_mixtures/train',
               num_items=N_ITEMS, output_dir=out_dir,
               excerpt_seconds=SECONDS, batch_size=2, shard_items=2)
  flags.update(overrides)
  return [f'--{k}={v}' for k, v in flags.items()]


@pytest.fixture(scope='module')
def pseudo_dir(tiny_trained_run, tmp_path_factory):
  """Three pseudo-labelled 0.25-s mixtures in two shards (2 + 1 items)."""
  out = str(tmp_path_factory.mktemp('pseudo') / 'labels')
  status, stdout, stderr = run_cli(*cli_args(str(tiny_trained_run), out))
  assert status == 0, stderr
  assert stdout.count('\n') == 1 and 'Pseudo-labelled 3 items' in stdout
  return out


def test_manifest_and_shards(pseudo_dir, tiny_trained_run):
  manifest = pseudo_labels.read_manifest(pseudo_dir)
  s = manifest['settings']
  assert manifest['complete'] and manifest['format_version'] == 1
  assert manifest['shards'] == ['shard-00000.npy', 'shard-00001.npy']
  assert s['source'] == 'synthetic_mixtures/train' and s['num_items'] == 3
  assert s['checkpoint'].startswith(str(tiny_trained_run))
  assert s['step'] == int(os.path.basename(s['checkpoint']))
  assert (s['sample_rate'], s['hop_length'], s['n_bins']) == (
      22050, 256, tiny_config.get_config().hcqt.n_bins)
  assert (s['excerpt_samples'], s['n_frames']) == (N_SAMPLES, N_FRAMES)
  assert s['threshold'] == 0.5
  shards = [np.load(os.path.join(pseudo_dir, n)) for n in manifest['shards']]
  assert [len(r) for r in shards] == [2, 1]
  conf = np.concatenate([r['confidence'] for r in shards])
  assert conf.shape == (N_ITEMS, N_FRAMES)
  assert np.all(conf >= 0.5) and np.all(conf <= 1.0)
  summary = manifest['summary']
  assert summary['mean_confidence'] == pytest.approx(conf.mean(), rel=1e-6)
  assert summary['confident_fraction'] == pytest.approx(np.mean(conf >= 0.7))
  assert not [n for n in os.listdir(pseudo_dir) if n.endswith('.part')]


def test_stored_items_are_the_source_items_with_their_peaks(
    pseudo_dir, tiny_trained_run):
  predictor = inference.load_predictor(str(tiny_trained_run))
  source = pipeline.open_source(predictor.config, 'synthetic_mixtures/train',
                                use_labels=False)
  store = pseudo_labels.PseudoLabelStore(
      pseudo_dir, **pipeline._grid_kwargs(predictor.config))
  for i in range(N_ITEMS):
    audio, _, _ = store.read(i)
    np.testing.assert_array_equal(audio, source.item(i, N_SAMPLES)[0])
  # Item 2 (alone in its shard, a batch padded with zeros) recomputed.
  audio, labels, conf = store.read(2)
  sal = predictor.whole_file(audio)  # [bins, 22] on the label grid (HCQT)
  assert sal.shape == (predictor.config.hcqt.n_bins, N_FRAMES)
  np.testing.assert_array_equal(labels, peaks.peak_mask(sal, 0.5))
  np.testing.assert_allclose(conf, np.asarray(confidence.confidence(sal)),
                             atol=1e-5)
  assert labels.any()  # the tiny model marks some peaks


def test_rerun_resumes_and_conflicts_are_refused(pseudo_dir,
                                                 tiny_trained_run,
                                                 tmp_path):
  # An interrupted run: shard 1 missing, a stray temporary file, the
  # manifest not complete.
  work = str(tmp_path / 'resume')
  shutil.copytree(pseudo_dir, work)
  manifest = pseudo_labels.read_manifest(work)
  pseudo_labels.write_manifest(work, dict(manifest, complete=False,
                                          summary=None))
  os.remove(os.path.join(work, 'shard-00001.npy'))
  open(os.path.join(work, '.shard-00001.npy.x.part'), 'w').close()
  kept = os.stat(os.path.join(work, 'shard-00000.npy'))
  status, stdout, stderr = run_cli(*cli_args(str(tiny_trained_run), work))
  assert status == 0, stderr
  assert '1 of 2 shards were already done' in stdout
  again = os.stat(os.path.join(work, 'shard-00000.npy'))
  assert (again.st_ino, again.st_mtime_ns) == (kept.st_ino, kept.st_mtime_ns)
  for name in manifest['shards']:
    np.testing.assert_array_equal(np.load(os.path.join(work, name)),
                                  np.load(os.path.join(pseudo_dir, name)))
  assert pseudo_labels.read_manifest(work) == manifest
  # A finished folder: nothing to do.
  status, stdout, _ = run_cli(*cli_args(str(tiny_trained_run), work))
  assert status == 0 and '2 of 2 shards were already done' in stdout

  # Other settings into the same folder are refused in one line.
  status, _, stderr = run_cli(*cli_args(str(tiny_trained_run), work,
                                        num_items=4))
  assert status == 2
  assert 'already holds other pseudo-labels' in stderr
  assert 'num_items: 3 there, 4 now' in stderr and stderr.count('\n') == 1


@pytest.mark.parametrize('overrides, message', [
    (dict(num_items=0), '--num_items must be a positive number'),
    (dict(source='nope/train'), "Unknown training source 'nope/train'"),
    (dict(checkpoint='/nonexistent/run'), 'does not exist'),
    (dict(excerpt_seconds=-1), '--excerpt_seconds must be > 0'),
])
def test_bad_flags_are_one_line_errors(tiny_trained_run, tmp_path, overrides,
                                       message):
  args = cli_args(str(tiny_trained_run), str(tmp_path / 'out'), **overrides)
  status, stdout, stderr = run_cli(*args)
  assert status == 2 and not stdout
  assert message in stderr and stderr.count('\n') == 1
  assert not os.path.exists(tmp_path / 'out')


def test_a_folder_with_other_files_is_refused(tiny_trained_run, tmp_path):
  (tmp_path / 'notes.txt').write_text('mine')
  status, _, stderr = run_cli(*cli_args(str(tiny_trained_run), str(tmp_path)))
  assert status == 2 and 'holds no pseudo-label manifest' in stderr
  assert stderr.count('\n') == 1


# ---------------------------------------------------------------- source ---


def pseudo_config(pseudo_dir, **data):
  config = make_config(train_source='mixture', excerpt_seconds=SECONDS,
                       pseudo_label_dir=pseudo_dir, **data)
  grid = tiny_config.get_config().hcqt  # the grid the labels were made on
  config.hcqt.update(fmin=grid.fmin, bins_per_octave=grid.bins_per_octave,
                     n_bins=grid.n_bins)
  config.train.batch_size = 4
  config.data.mixture.sources = ('synthetic/train', 'pseudo_labels/train')
  config.data.mixture.proportions = (1, 1)
  config.data.mixture.use_labels = (True, True)
  return config


def test_source_walks_the_stored_items_per_epoch(pseudo_dir):
  config = pseudo_config(pseudo_dir)
  source = pipeline.open_source(config, 'pseudo_labels/train',
                                use_labels=True)
  assert source.labelled and source.has_confidence
  assert '3 items of synthetic_mixtures/train' in source.describe()
  store = source.store
  for epoch in range(2):
    order = [source.locate(i)[1] for i in range(3 * epoch, 3 * epoch + 3)]
    assert sorted(order) == [0, 1, 2]  # every stored item once per epoch
    for i, stored in zip(range(3 * epoch, 3 * epoch + 3), order):
      audio, grid, conf = source.item_with_confidence(i, N_SAMPLES)
      want = store.read(stored)
      np.testing.assert_array_equal(audio, want[0])
      np.testing.assert_array_equal(grid, want[1])
      np.testing.assert_array_equal(conf, want[2])
      assert grid.dtype == np.uint8 and conf.dtype == np.float32
  # A pure function of (seed, index): a second open agrees; another seed
  # orders the epochs differently.
  again = pipeline.open_source(config, 'pseudo_labels/train',
                               use_labels=True)
  orders = lambda src: [src.locate(i)[1] for i in range(12)]
  assert orders(again) == orders(source)
  np.testing.assert_array_equal(again.item(7, N_SAMPLES)[1],
                                source.item(7, N_SAMPLES)[1])
  config.seed = 1
  other = pipeline.open_source(config, 'pseudo_labels/train',
                               use_labels=True)
  assert orders(other) != orders(source)
  # Used without labels it is an audio-only source.
  plain = pipeline.open_source(config, 'pseudo_labels/train',
                               use_labels=False)
  assert not plain.has_confidence and plain.item(0, N_SAMPLES)[1] is None


def test_other_excerpt_lengths_are_cut_or_padded_on_the_hop(pseudo_dir):
  config = pseudo_config(pseudo_dir)
  source = pipeline.open_source(config, 'pseudo_labels/train',
                                use_labels=True)
  epoch, stored = source.locate(1)
  audio0, grid0, conf0 = source.store.read(stored)
  # Longer: the stored item at a hop-aligned offset, zeros and confidence 1
  # around it.
  audio, grid, conf = source.item_with_confidence(1, 11025)
  assert audio.shape == (11025,)
  assert grid.shape == (config.hcqt.n_bins, 44)
  offset = int(np.flatnonzero(audio)[0])
  offset -= int(np.flatnonzero(audio0)[0])
  assert offset % 256 == 0
  np.testing.assert_array_equal(audio[offset:offset + N_SAMPLES], audio0)
  f = offset // 256
  np.testing.assert_array_equal(grid[:, f:f + N_FRAMES], grid0)
  np.testing.assert_array_equal(conf[f:f + N_FRAMES], conf0)
  assert np.all(np.delete(conf, np.arange(f, f + N_FRAMES)) == 1.0)
  assert not np.delete(grid, np.arange(f, f + N_FRAMES), axis=1).any()
  # Shorter: a hop-aligned crop with its frames.
  audio, grid, conf = source.item_with_confidence(1, 2560)
  start = next(s for s in range(0, N_SAMPLES - 2560 + 1, 256)
               if np.array_equal(audio0[s:s + 2560], audio))
  np.testing.assert_array_equal(grid, grid0[:, start // 256:
                                             start // 256 + 11])
  np.testing.assert_array_equal(conf, conf0[start // 256:start // 256 + 11])
  del epoch


def test_batches_carry_label_confidence_only_with_a_pseudo_source(pseudo_dir):
  config = pseudo_config(pseudo_dir)
  assert 'pseudo_labels/train x2' in pipeline.describe_train_source(config)
  source = pipeline.open_source(config, 'pseudo_labels/train',
                                use_labels=True)
  iterator = pipeline.train_batches(config)
  try:
    batches = [next(iterator) for _ in range(3)]
  finally:
    iterator.close()
  for step, batch in enumerate(batches):
    assert set(batch) == {'audio', 'labels', 'has_label', 'label_confidence'}
    conf = batch['label_confidence']
    assert conf.shape == (4, N_FRAMES) and conf.dtype == np.float32
    np.testing.assert_array_equal(batch['has_label'], [True] * 4)
    np.testing.assert_array_equal(conf[:2], 1.0)  # synthetic ground truth
    for j in range(2):  # pseudo slot j of step s is the source's item 2s + j
      audio, grid, want = source.store.read(source.locate(2 * step + j)[1])
      np.testing.assert_array_equal(batch['audio'][2 + j], audio)
      np.testing.assert_array_equal(batch['labels'][2 + j], grid)
      np.testing.assert_array_equal(conf[2 + j], want)
  # A restarted run continues exactly.
  iterator = pipeline.train_batches(config, start_step=2)
  try:
    resumed = next(iterator)
  finally:
    iterator.close()
  for key in batches[2]:
    np.testing.assert_array_equal(resumed[key], batches[2][key])
  # Without a pseudo-label source (or using it without labels) batches keep
  # their usual keys.
  for sources, labels in ((('synthetic/train',), (True,)),
                          (('synthetic/train', 'pseudo_labels/train'),
                           (True, False))):
    config = pseudo_config(pseudo_dir)
    config.data.mixture.sources = sources
    config.data.mixture.proportions = (1,) * len(sources)
    config.data.mixture.use_labels = labels
    iterator = pipeline.train_batches(config)
    try:
      assert set(next(iterator)) == {'audio', 'labels', 'has_label'}
    finally:
      iterator.close()


def test_missing_or_unfit_folders_are_one_line_errors(pseudo_dir, tmp_path):
  config = pseudo_config('')
  with pytest.raises(corpus.DatasetNotFoundError,
                     match='python -m mpe_jax.pseudo_label') as info:
    pipeline.train_batches(config)
  assert 'pseudo_label_dir' in str(info.value)
  assert '\n' not in str(info.value)
  config = pseudo_config(str(tmp_path / 'nothing'))
  with pytest.raises(corpus.DatasetNotFoundError, match='does not exist'):
    pipeline.train_batches(config)
  # Configs without the key read it as ''.
  config = pseudo_config('')
  del config.data['pseudo_label_dir']
  with pytest.raises(corpus.DatasetNotFoundError, match='it is empty'):
    pipeline.open_source(config, 'pseudo_labels/train', use_labels=True)
  # An unfinished folder.
  work = str(tmp_path / 'unfinished')
  shutil.copytree(pseudo_dir, work)
  with open(os.path.join(work, 'manifest.json')) as f:
    manifest = json.load(f)
  pseudo_labels.write_manifest(work, dict(manifest, complete=False))
  with pytest.raises(pseudo_labels.PseudoLabelError,
                     match='incomplete; run the same'):
    pipeline.open_source(pseudo_config(work), 'pseudo_labels/train',
                         use_labels=True)
  # Another label grid.
  config = pseudo_config(pseudo_dir)
  config.hcqt.n_bins = 360
  with pytest.raises(pseudo_labels.PseudoLabelError,
                     match='label it again') as info:
    pipeline.open_source(config, 'pseudo_labels/train', use_labels=True)
  assert '\n' not in str(info.value)
