"""The shipped model's data: pieces, performance, soundfonts and splits.

Rendering needs FluidSynth and the soundfonts of ``gm_renders.INSTALL``;
without them the rendering tests are skipped with that command as the reason.
The music21 tests need the ``test`` extra (music21 is in it).
"""

import os

import numpy as np
import pytest

from data_pipelines import corpus
from data_pipelines import pipeline
from data_pipelines import prepare
from data_pipelines.generated import fluidsynth_render as fs
from data_pipelines.generated import gm_renders
from data_pipelines.generated import pieces

RATE = 22050
BLOCK_S = fs.BLOCK / RATE


def _renders_available():
  try:
    fs.find_fluidsynth()
    for name in gm_renders.SOUNDFONTS:
      gm_renders.soundfont_path(name)
  except (fs.FluidSynthError, gm_renders.GMRendersError) as error:
    pytest.skip(f'needs FluidSynth and the soundfonts: {error}')


@pytest.mark.parametrize('path,excluded', [
    ('bach/bwv66.6.mxl', True), ('cpebach/h186.mxl', True),
    ('demos/harmonizationExercise.xml', True),
    ('theoryExercises/chorale1.xml', True),
    ('palestrina/Agnus_01.krn', False), ('monteverdi/madrigal.3.1.rntxt',
                                         False),
    ('essenFolksong/choral_melodies.abc', True),  # any 'choral' word
    ('airdsAirs/book1.abc', False), ('trecento/Fava_Dicant.xml', False),
])
def test_reserved_works_are_excluded(path, excluded):
  assert pieces.is_excluded(path) == excluded


def test_music21_splits_are_disjoint_and_hold_no_chorale():
  pytest.importorskip('music21')
  splits = {s: set(pieces.music21_works(s)) for s in pieces.SPLITS}
  assert all(splits.values())
  assert not splits['train'] & splits['valid']
  assert not splits['train'] & splits['test']
  assert not splits['valid'] & splits['test']
  chorales = set(pieces.bach_chorales())
  assert len(chorales) > 300
  for works in splits.values():
    assert not works & chorales
    for path in works:
      lowered = path.lower()
      assert '/bach/' not in lowered and 'bwv' not in lowered
      assert 'choral' not in lowered and 'hymn' not in lowered


def test_split_of_is_a_stable_90_5_5_hash():
  assert pieces.split_of('palestrina/Agnus_01.krn') == pieces.split_of(
      'palestrina/Agnus_01.krn')
  counts = {s: 0 for s in pieces.SPLITS}
  for i in range(4000):
    counts[pieces.split_of(f'x/{i}.krn')] += 1
  assert 3450 < counts['train'] < 3750
  assert 120 < counts['valid'] < 280 and 120 < counts['test'] < 280


@pytest.mark.parametrize('texture', pieces.TEXTURES)
def test_generated_pieces(texture):
  rng = np.random.default_rng(3)
  name, parts = pieces.generated_piece(rng, 16.0, texture)
  assert name == texture and parts
  for part in parts:
    assert len(part) and np.all(part.durations > 0)
    assert np.all(part.onsets >= 0) and np.all(part.onsets < 16.0)
    assert part.role in ('bass', 'chords', 'melody', 'voice')


def test_excerpt_cuts_and_retimes():
  part = pieces.Part(np.array([0.0, 2.0, 5.0]), np.array([3.0, 1.0, 1.0]),
                     np.array([60, 62, 64]))
  (cut,) = pieces.excerpt([part], 1.0, 3.0)
  np.testing.assert_allclose(cut.onsets, [0.0, 1.0])
  np.testing.assert_allclose(cut.durations, [2.0, 1.0])
  np.testing.assert_array_equal(cut.pitches, [60, 62])


def test_performance_is_on_the_block_grid_and_capped():
  rng = np.random.default_rng(0)
  for seed in range(20):
    _, parts = pieces.generated_piece(np.random.default_rng(seed), 24.0,
                                      'dense')
    programs = list(range(len(parts)))
    notes = gm_renders.perform(rng, parts, programs, bpm=100.0,
                               seconds=8.0)
    assert notes
    for n in notes:
      for t in (n.onset, n.offset):
        assert abs(t / BLOCK_S - round(t / BLOCK_S)) < 1e-6
      assert 0 <= n.onset < n.offset <= 8.0 + 1e-9
      assert gm_renders.MIDI_RANGE[0] <= n.pitch <= gm_renders.MIDI_RANGE[1]
    for t in np.arange(0, 8.0, 0.01):
      assert sum(n.onset <= t < n.offset for n in notes) <= 6
    by_key = {}
    for n in sorted(notes, key=lambda n: n.onset):  # no re-strike overlap
      key = (n.program, n.pitch)
      assert by_key.get(key, -1.0) <= n.onset + 1e-9
      by_key[key] = n.offset


def test_cap_polyphony_drops_later_onsets():
  notes = [fs.Note(60 + k, 0.1 * k, 5.0, 0, 80) for k in range(8)]
  kept = gm_renders.cap_polyphony(notes, 6)
  assert [n.pitch for n in kept] == [60, 61, 62, 63, 64, 65]


def test_split_plans_keep_soundfonts_and_programs_apart():
  pytest.importorskip('music21')
  _renders_available()
  reader = gm_renders.GMRenders()
  held = set(gm_renders.HELD_OUT_PROGRAMS)
  for split in ('train', 'valid', 'test'):
    for i in range(12):
      plan = reader.plan(f'{split}/{i:05d}')
      programs = {n.program for n in plan.notes}
      if split == 'test':
        assert plan.soundfont == gm_renders.TEST_SOUNDFONT
        assert programs <= held
      else:
        assert plan.soundfont in gm_renders.TRAIN_SOUNDFONTS
        assert not programs & held
  # Deterministic: the same track twice.
  assert reader.plan('train/00003') == reader.plan('train/00003')


def test_a_rendered_track_has_its_notes_as_labels():
  _renders_available()
  reader = gm_renders.GMRenders(music21_share=0.0,
                                seconds={'train': 3.0, 'valid': 3.0})
  assert reader.track_ids('valid')[:2] == ['valid/00000', 'valid/00001']
  record = reader.load('valid/00002')
  plan = reader.plan('valid/00002')
  assert record.audio.shape == (3 * RATE,) and record.sample_rate == RATE
  assert np.max(np.abs(record.audio)) == pytest.approx(1.0)
  assert isinstance(record.annotation, corpus.Notes)
  np.testing.assert_allclose(record.annotation.onsets,
                             [n.onset for n in plan.notes])
  # Sound where notes are, little where none are.
  frame = RATE // 10
  energy = [np.sqrt(np.mean(record.audio[k:k + frame] ** 2))
            for k in range(0, len(record.audio) - frame, frame)]
  assert max(energy) > 0.05
  labels = record.label_grid()
  assert labels.shape == (440, 1 + 3 * RATE // 256) and labels.max() == 1


def test_missing_soundfont_is_one_line(monkeypatch):
  monkeypatch.setitem(gm_renders.SOUNDFONTS, 'opl3',
                      ('/no/such.sf2', 'opl3-soundfont'))
  with pytest.raises(gm_renders.GMRendersError) as info:
    gm_renders.soundfont_path('opl3')
  message = str(info.value)
  assert 'apt-get install -y opl3-soundfont' in message and '\n' not in message


def test_prepare_and_pipeline_know_the_corpus(tmp_path):
  _renders_available()
  reader = prepare.open_reader('gm_renders', '', num_tracks=7)
  assert len(reader.track_ids('train')) == 7
  assert len(reader.track_ids('expressive_train')) == 7
  assert set(reader.splits) == {'train', 'valid', 'test', 'chorales',
                                'expressive_train', 'expressive_valid',
                                'expressive_test'}
  for name in ('gm_renders/valid', 'gm_renders/test', 'gm_renders/chorales',
               'gm_renders/expressive_valid', 'gm_renders/expressive_test'):
    assert name in pipeline.EVAL_SETS
  with pytest.raises(corpus.DatasetNotFoundError) as info:
    gm_renders.open_source(str(tmp_path), seed=0, use_labels=True,
                           sample_rate=RATE, hop_length=256, fmin=27.5,
                           bins_per_octave=60, n_bins=440)
  message = str(info.value)
  assert '--dataset=gm_renders' in message and '\n' not in message
  with pytest.raises(corpus.DatasetNotFoundError) as info:
    gm_renders.open_source(str(tmp_path), seed=0, use_labels=True,
                           sample_rate=RATE, hop_length=256, fmin=27.5,
                           bins_per_octave=60, n_bins=440,
                           split='expressive_train')
  assert '--splits=expressive_train' in str(info.value)


def test_prepared_renders_train(tmp_path):
  _renders_available()
  reader = gm_renders.GMRenders(music21_share=0.0, n_tracks={'train': 2},
                                seconds={'train': 2.0})
  directory = prepare.prepare_split(reader, 'train', str(tmp_path))
  assert os.path.isdir(directory)
  source = gm_renders.open_source(str(tmp_path), seed=0, use_labels=True,
                                  sample_rate=RATE, hop_length=256,
                                  fmin=27.5, bins_per_octave=60, n_bins=440)
  audio, labels = source.item(0, RATE)
  assert audio.shape == (RATE,) and labels.shape == (440, 1 + RATE // 256)


def test_the_recipe_config():
  from configs import pretrained as recipe  # pylint: disable=g-import-not-at-top
  from mpe_jax import train  # pylint: disable=g-import-not-at-top
  config = recipe.get_config()
  train.validate_config(config)
  weights = config.loss_weights
  assert {k for k in weights if weights[k] > 0} == {
      'supervised', 'timbre', 'percussion', 'geometric'}  # ISMIR 'total'
  assert config.data.mixture.sources == ('gm_renders/train',)
  assert config.eval.best_metric == 'gm_renders/valid/f1'
  for name in (*config.eval.validation_sets, *config.eval.evaluation_sets):
    assert name in pipeline.EVAL_SETS
  assert 'chorales' not in ' '.join(config.eval.validation_sets)
  assert recipe.get_config('quick').train.num_steps == 40
  with pytest.raises(ValueError, match='unknown configs/pretrained.py'):
    recipe.get_config('nope')
