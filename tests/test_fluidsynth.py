"""FluidSynth renders with exact multi-pitch labels.

These tests need the FluidSynth program and the General-MIDI soundfont
(``apt-get install -y fluidsynth fluid-soundfont-gm``); without them they
are skipped, the reason (that command) shown in pytest's summary.
"""

import os
import shutil

import numpy as np
import pytest

from data_pipelines import corpus
from data_pipelines import pipeline
from data_pipelines import prepare
from data_pipelines import prepared
from data_pipelines.generated import fluidsynth_render as fs
from test_pipeline import make_config

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
RATE = 22050


pytestmark = pytest.mark.usefixtures('fluidsynth')  # skips without it


def test_missing_fluidsynth_is_a_one_line_error(monkeypatch):
  monkeypatch.setattr(shutil, 'which', lambda name: None)
  with pytest.raises(fs.FluidSynthError) as info:
    fs.render_midi('x.mid')
  assert fs.INSTALL in str(info.value) and '\n' not in str(info.value)
  with pytest.raises(fs.FluidSynthError, match='Soundfont not found'):
    fs.check_soundfont('/no/such.sf2')


def test_rendered_note_starts_at_its_midi_time():
  # A4 on a piano and on strings, 0.1 .. 0.3 s (multiples of 64 samples:
  # 2240 and 6592 samples = 35 and 103 blocks).
  onset, offset = 35 * 64 / RATE, 103 * 64 / RATE
  for program in (0, 48):
    notes = [fs.Note(69, onset, offset, program, 100)]
    audio = fs.render_notes(notes, RATE // 2)
    assert audio.shape == (RATE // 2,) and audio.dtype == np.float32
    first = np.flatnonzero(np.abs(audio) > 0)[0]
    assert 2240 <= first <= 2240 + 16  # the onset sample, or just after
    sustain = audio[4000:6000]
    spectrum = np.abs(np.fft.rfft(sustain * np.hanning(len(sustain))))
    assert np.argmax(spectrum) * RATE / len(sustain) == pytest.approx(
        440, abs=12)


def test_random_progressions():
  a = fs.random_progression(0, 3, seconds=2.0)
  assert a == fs.random_progression(0, 3, seconds=2.0)
  assert a != fs.random_progression(0, 4, seconds=2.0)
  assert a != fs.random_progression(0, 3, split='valid', seconds=2.0)
  for index in range(20):
    notes = fs.random_progression(7, index, seconds=3.0)
    block = 64 / RATE
    for note in notes:
      assert 24 <= note.pitch <= 102 and 0 <= note.program < 96
      assert 0 <= note.onset < note.offset <= 3.0 + 1e-9
      for t in (note.onset, note.offset):
        assert abs(t / block - round(t / block)) < 1e-6
    times = np.arange(0, 3.0, 0.01)
    polyphony = [sum(n.onset <= t < n.offset for n in notes) for t in times]
    assert 1 <= max(polyphony) <= 5


def test_progression_corpus_labels_match_the_notes():
  reader = fs.FluidSynthCorpus(seed=1, seconds=1.0,
                               n_tracks={'train': 2, 'valid': 1, 'test': 1})
  assert reader.track_ids('train') == ['train/progression_000000',
                                       'train/progression_000001']
  record = reader.load('train/progression_000001')
  assert record.audio.shape == (RATE,) and record.audio.dtype == np.float32
  assert np.max(np.abs(record.audio)) == pytest.approx(1.0)
  notes = fs.random_progression(1, 1, seconds=1.0)
  grid = record.label_grid()
  times = np.arange(grid.shape[1]) * 256 / RATE
  for n, t in enumerate(times):  # independent: bins 5 * (midi - 21)
    want = sorted({5 * (x.pitch - 21) for x in notes
                   if x.onset <= t < x.offset})
    assert np.flatnonzero(grid[:, n]).tolist() == want


def test_user_midi_folder(tmp_path):
  midi_dir = tmp_path / 'songs'
  (midi_dir / 'a').mkdir(parents=True)
  shutil.copy(os.path.join(FIXTURES, 'trios', 'brahms', 'horn.mid'),
              midi_dir / 'a' / 'horn.mid')
  shutil.copy(os.path.join(FIXTURES, 'trios', 'take_five', 'kick.mid'),
              midi_dir / 'kick.mid')  # GM drum channel: rendered, unlabelled
  reader = fs.FluidSynthCorpus(str(midi_dir))
  assert reader.track_ids('train') == [os.path.join('a', 'horn.mid'),
                                       'kick.mid']
  kick = reader.load('kick.mid')
  assert np.abs(kick.audio).max() > 0 and not kick.label_grid().any()
  record = reader.load(os.path.join('a', 'horn.mid'))
  # Last note-off at 0.25 s plus the 1-s tail.
  assert len(record.audio) == round((0.25 + fs.TAIL_SECONDS) * RATE)
  grid = record.label_grid()
  assert np.flatnonzero(grid[:, 0]).tolist() == [160]  # F3 at 0 .. 0.08 s
  assert np.flatnonzero(grid[:, 11]).tolist() == [170]  # G3 at 0.12 .. 0.25
  assert not grid[:, 30:].any()


def test_prepared_renders_feed_training(tmp_path):
  data_dir = str(tmp_path / 'prepared')
  reader = prepare.open_reader('fluidsynth', '', num_tracks=2, seconds=1.0)
  prepare.prepare_split(reader, 'train', data_dir)
  store = prepared.PreparedStore(
      prepared.prepared_dir(data_dir, 'fluidsynth', 'train'),
      sample_rate=RATE, hop_length=256, fmin=27.5, bins_per_octave=60,
      n_bins=440)
  assert len(store) == 2 and store.annotated
  config = make_config(train_source='mixture', data_dir=data_dir)
  config.data.mixture.sources = ('fluidsynth/train',)
  config.data.mixture.proportions = (1,)
  config.data.mixture.use_labels = (True,)
  source = pipeline.open_source(config, 'fluidsynth/train', use_labels=True)
  assert 'prepared shards' in source.describe()
  audio, grid = source.item(0, 11025)
  assert audio.shape == (11025,) and grid.shape == (440, 44) and grid.any()
  # Without shards: rendered on the fly, or an error
  # asking to prepare a user MIDI folder.
  config.data.data_dir = ''
  live = pipeline.open_source(config, 'fluidsynth/train', use_labels=True)
  audio, grid = live.item(5, 11025)
  expected = corpus.Record('x', audio, RATE, fs.notes_annotation(
      fs.random_progression(0, 5, seconds=0.5))).label_grid()
  np.testing.assert_array_equal(grid, expected)
  config.data.dataset_dirs.fluidsynth = str(tmp_path)
  with pytest.raises(corpus.DatasetNotFoundError, match='rendered first'):
    pipeline.open_source(config, 'fluidsynth/train', use_labels=True)
