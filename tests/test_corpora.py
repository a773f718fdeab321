"""Corpus readers on fixtures that mirror each corpus's on-disk layout.

Expected values are worked out by hand from the annotations written by
tests/fixtures/make_fixtures.py. HCQT frame n is at n * 256 / 22050 s
(= n * 11.61 ms); an integer MIDI pitch m sits in bin 5 * (m - 21); a
frequency f in bin round(60 * log2(f / 27.5)).
"""

import os
import shutil

import ml_collections
import numpy as np
import pytest

from data_pipelines import audio as audio_lib
from data_pipelines import catalog
from data_pipelines import corpus
from data_pipelines import midi
from data_pipelines import pipeline
from data_pipelines.corpora import bach10
from data_pipelines.corpora import egmd
from data_pipelines.corpora import fma
from data_pipelines.corpora import guitarset
from data_pipelines.corpora import maestro
from data_pipelines.corpora import musicnet
from data_pipelines.corpora import nsynth
from data_pipelines.corpora import su
from data_pipelines.corpora import trios
from data_pipelines.corpora import urmp

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')


def fixture(name: str) -> str:
  return os.path.join(FIXTURES, name)


def active_bins(grid: np.ndarray, frame: int) -> list[int]:
  return np.flatnonzero(grid[:, frame]).tolist()


def check_audio(record: corpus.Record, n_samples: int) -> None:
  assert record.sample_rate == 22050
  assert record.audio.dtype == np.float32 and record.audio.ndim == 1
  assert len(record.audio) == n_samples
  assert np.max(np.abs(record.audio)) == pytest.approx(1.0)


# -------------------------------------------------------------------- URMP


def test_urmp_splits():
  reader = urmp.URMP(fixture('urmp'))  # Supplementary_Files is ignored
  assert reader.track_ids('valid') == ['01_Jupiter_vn_vc']  # MT3 piece 01
  assert reader.track_ids('train') == ['03_Dance_fl_cl']
  assert reader.track_ids('all') == ['01_Jupiter_vn_vc', '03_Dance_fl_cl']


def test_urmp_t1_t2_split_by_polyphony(tmp_path):
  names = ['01_Jupiter_vn_vc', '03_Dance_fl_cl', '04_Allegro_fl_fl',
           '05_Entertainer_tpt_tbn', '06_Entertainer_sax_sax',
           '07_GString_tpt_tpt_tbn', '08_Spring_fl_tpt_vn',
           '09_Jesus_tpt_vn_vc', '10_March_tpt_tpt_tbn', '11_Maria_ob_vc_vc',
           '12_Spring_vn_vn_vc', '14_Waltz_fl_fl_cl_cl',
           '15_Surprise_tpt_tpt_hn_tbn', '16_Surprise_tpt_tpt_sax_tba',
           '17_Swan_sax_sax_sax_sax', '18_Nocturne_vn_fl_tpt_vc',
           '19_Pavane_cl_vn_vc_db', '20_Pavane_tpt_vn_vc_db_sax',
           '21_Rejoice_vn_vn_va_vc_db', '22_Rejoice_fl_ob_cl_bn_hn',
           '23_Rondeau_tpt_tpt_hn_tbn_tba']
  for n in names:
    (tmp_path / n).mkdir()
  reader = urmp.URMP(str(tmp_path))
  t2 = reader.track_ids('train_t2')
  t1 = reader.track_ids('train_t1')
  assert len(t2) == 10 and not set(t1) & set(t2)
  assert sorted(t1 + t2) == reader.track_ids('train')
  polyphony = sorted(len(p.split('_')[2:]) for p in t2)
  assert polyphony == [2, 2, 3, 3, 3, 4, 4, 4, 5, 5]
  assert '03_Dance_fl_cl' in t2 and '01_Jupiter_vn_vc' not in t1 + t2


def test_urmp_mixture_and_f0_files():
  record = urmp.URMP(fixture('urmp')).load('01_Jupiter_vn_vc')
  check_audio(record, 6615)  # 0.3 s at 48 kHz -> 22,050 Hz
  times, freqs = record.reference()
  # Own time grid (5.8-ms steps); violin 440 Hz on [0.05, 0.15) = steps
  # 9..25, cello 220 Hz on [0.10, 0.25) = steps 18..43; 0 Hz dropped.
  assert len(times) == 52 and times[9] == pytest.approx(0.0522)
  assert freqs[8].size == 0
  np.testing.assert_allclose(freqs[9], [440.0])
  np.testing.assert_allclose(freqs[20], [440.0, 220.0])
  np.testing.assert_allclose(freqs[30], [220.0])
  grid = record.label_grid()
  assert grid.shape == (440, 26) and grid.dtype == np.uint8
  # Frame 4 (46.4 ms) -> step 8: silent. Frame 5 (58.0 ms) -> step 10:
  # violin (bin 240). Frame 9 (104.5 ms) -> step 18: both (cello bin 180).
  # Frame 13 (150.9 ms) -> step 26: cello only. Frame 22 (255.4 ms) -> step
  # 44: silent.
  assert active_bins(grid, 4) == []
  assert active_bins(grid, 5) == [240]
  assert active_bins(grid, 9) == [180, 240]
  assert active_bins(grid, 13) == [180]
  assert active_bins(grid, 22) == []


def test_urmp_inconsistent_or_missing_f0_files(tmp_path):
  root = tmp_path / 'URMP'
  shutil.copytree(fixture('urmp'), root)
  piece = root / '01_Jupiter_vn_vc'
  f0 = piece / 'F0s_2_vc_01_Jupiter.txt'
  lines = f0.read_text().splitlines()
  f0.write_text('\n'.join(lines[:-1]) + '\n')  # one frame short
  reader = urmp.URMP(str(root))
  with pytest.raises(corpus.AnnotationError) as info:
    reader.load('01_Jupiter_vn_vc')
  assert str(f0) in str(info.value) and 'time grid' in str(info.value)
  f0.write_text('0.0000\t440.0\nhello\tworld\n')
  with pytest.raises(corpus.AnnotationError, match='line 2'):
    reader.load('01_Jupiter_vn_vc')
  f0.unlink()
  with pytest.raises(corpus.AnnotationError, match='F0s_2_'):
    reader.load('01_Jupiter_vn_vc')


# ------------------------------------------------------------------ Bach10


def test_bach10_gtf0s_timing():
  reader = bach10.Bach10(fixture('bach10'))
  assert reader.track_ids('test') == ['01-AchGottundHerr',
                                      '02-AchLiebenChristen']
  record = reader.load('01-AchGottundHerr')
  check_audio(record, 5513)  # 0.25 s at 44.1 kHz
  times, freqs = record.reference()
  assert len(times) == 20
  assert times[0] == pytest.approx(0.023) and times[7] == pytest.approx(0.093)
  # Frame 0: soprano C5 (MIDI 72) and tenor E4 (64).
  np.testing.assert_allclose(freqs[0], [523.2511306, 329.6275569])
  grid = record.label_grid()
  assert grid.shape == (440, 22)
  # Annotation frame n at 23 + 10 n ms. HCQT frame 0 (0 ms) is before the
  # first -> n = 0: bins 5*(72-21) = 255, 5*(64-21) = 215.
  assert active_bins(grid, 0) == [215, 255]
  # Frame 3 (34.8 ms) -> n = 1 (33 ms): the alto (67.02 from n = 3) not yet.
  assert active_bins(grid, 3) == [215, 255]
  # Frame 5 (58.0 ms) -> n = 4 (63 ms): + alto 67.02 -> bin 230.
  assert active_bins(grid, 5) == [215, 230, 255]
  # Frame 6 (69.7 ms) -> n = 5: + bass C3 (48) -> bin 135.
  assert active_bins(grid, 6) == [135, 215, 230, 255]
  # Frame 11 (127.7 ms) -> n = 10: tenor off (frames < 10).
  assert active_bins(grid, 11) == [135, 230, 255]
  # Frame 15 (174.1 ms) -> n = 15: bass off (frames 5..14).
  assert active_bins(grid, 15) == [230, 255]
  # Frame 21 (243.8 ms) is after the last annotation (213 ms): held.
  assert active_bins(grid, 21) == [230, 255]


def test_bach10_corrupt_mat(tmp_path):
  root = tmp_path / 'Bach10'
  shutil.copytree(fixture('bach10'), root)
  mat = root / '01-AchGottundHerr' / '01-AchGottundHerr-GTF0s.mat'
  mat.write_bytes(b'MATLAB 5.0 MAT-file, but truncated')
  with pytest.raises(corpus.AnnotationError) as info:
    bach10.Bach10(str(root)).load('01-AchGottundHerr')
  assert str(mat) in str(info.value) and '\n' not in str(info.value)


# ---------------------------------------------------------------------- Su


def test_su_notes():
  reader = su.Su(fixture('su'))
  assert reader.track_ids('test') == ['PQ02_Elgar']  # PQ01 is not evaluated
  record = reader.load('PQ02_Elgar')
  check_audio(record, 6615)  # stereo 44.1 kHz -> mono 22,050 Hz
  times, freqs = record.reference()
  # Notes are sampled on the HCQT frames: 440 Hz on [0.05, 0.15), 261.63 Hz
  # (bin 195) on [0.10, 0.25).
  assert len(times) == 26 and times[5] == pytest.approx(5 * 256 / 22050)
  grid = record.label_grid()
  assert active_bins(grid, 4) == []  # 46.4 ms
  assert active_bins(grid, 5) == [240]  # 58.0 ms
  assert active_bins(grid, 9) == [195, 240]  # 104.5 ms
  assert active_bins(grid, 13) == [195]  # 150.9 ms
  assert active_bins(grid, 21) == [195]  # 243.8 ms
  assert active_bins(grid, 22) == []  # 255.4 ms
  np.testing.assert_allclose(freqs[9], [440.0, 261.63])


# ------------------------------------------------------------------- TRIOS


def test_midi_reader_sustain_rules():
  # brahms/piano.mid: C4 pressed at 0.05 s, released at 0.10 s with the
  # pedal down from 0.05 s to 0.20 s -> sounds until 0.20 s.
  notes = midi.read_notes(fixture('trios/brahms/piano.mid'))
  np.testing.assert_allclose(notes.pitches, [60])
  np.testing.assert_allclose(notes.onsets, [0.05])
  np.testing.assert_allclose(notes.offsets, [0.20])
  # MAESTRO train track: pedal 0 .. 0.15 s; E4 struck at 0.0198 s (19
  # ticks of 1/960 s) and again at 0.10 s -> the first ends at the re-strike;
  # G4 (0.05 .. 0.0802 s) and the second E4 (0.10 .. 0.1198 s) are held
  # until the pedal lifts at 0.15 s.
  notes = midi.read_notes(fixture(
      'maestro/2018/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1'
      '.midi'))
  np.testing.assert_allclose(notes.pitches, [64, 67, 64])
  np.testing.assert_allclose(notes.onsets, [19 / 960, 0.05, 0.10])
  np.testing.assert_allclose(notes.offsets, [0.10, 0.15, 0.15])


def test_trios_pitched_instruments_only():
  reader = trios.TRIOS(fixture('trios'))
  assert reader.track_ids('test') == ['brahms', 'lussier', 'mozart',
                                      'schubert', 'take_five']
  record = reader.load('brahms')
  check_audio(record, 6615)
  grid = record.label_grid()
  # horn F3 (bin 160) on [0, 0.0802), G3 (170) on [0.1198, 0.25); piano C4
  # (195) on [0.05, 0.20) by the pedal; violin G4 (230) on [0, 0.25).
  assert active_bins(grid, 0) == [160, 230]
  assert active_bins(grid, 4) == [160, 230]  # 46.4 ms
  assert active_bins(grid, 5) == [160, 195, 230]  # 58.0 ms
  assert active_bins(grid, 7) == [195, 230]  # 81.3 ms: horn F3 ended
  assert active_bins(grid, 10) == [195, 230]  # 116.1 ms
  assert active_bins(grid, 11) == [170, 195, 230]  # 127.7 ms
  assert active_bins(grid, 17) == [170, 195, 230]  # 197.4 ms
  assert active_bins(grid, 18) == [170, 230]  # 209.0 ms: pedal lifted
  assert active_bins(grid, 22) == []  # 255.4 ms
  # take_five: kick/ride/snare (MIDI 36 = bin 75) are not pitched parts.
  take_five = reader.load('take_five').label_grid()
  assert not take_five[75].any() and take_five[230].any()
  assert [os.path.basename(p) for p in reader.midi_paths('take_five')] == [
      'piano.mid', 'saxophone.mid']


def test_corrupt_midi_names_the_file(tmp_path):
  root = tmp_path / 'TRIOS'
  shutil.copytree(fixture('trios'), root)
  bad = root / 'mozart' / 'viola.mid'
  bad.write_bytes(b'MThd\x00\x00')
  with pytest.raises(corpus.AnnotationError) as info:
    trios.TRIOS(str(root)).load('mozart')
  assert str(bad) in str(info.value) and '\n' not in str(info.value)


# ---------------------------------------------------------------- MusicNet


def test_musicnet_csv_in_samples():
  reader = musicnet.MusicNet(fixture('musicnet'))
  assert reader.track_ids('train') == ['1727']
  assert reader.track_ids('test') == ['2303']
  record = reader.load('2303')
  check_audio(record, 6615)
  # C5 (72 -> bin 255) on samples 0..4410 (0..0.1 s), E5 (76 -> 275) on
  # 4410..11025 (0.1..0.25 s) at 44.1 kHz.
  grid = record.label_grid()
  assert active_bins(grid, 0) == [255]
  assert active_bins(grid, 8) == [255]  # 92.9 ms
  assert active_bins(grid, 9) == [275]  # 104.5 ms
  assert active_bins(grid, 21) == [275]  # 243.8 ms
  assert active_bins(grid, 22) == []  # 255.4 ms
  train = reader.load('1727').label_grid()  # C4 0.05..0.2, G4 0.1..0.3 s
  assert active_bins(train, 4) == [] and active_bins(train, 5) == [195]
  assert active_bins(train, 9) == [195, 230]
  assert active_bins(train, 18) == [230]  # 209.0 ms


def test_musicnet_bad_csv_row(tmp_path):
  root = tmp_path / 'musicnet'
  shutil.copytree(fixture('musicnet'), root)
  labels = root / 'test_labels' / '2303.csv'
  labels.write_text(labels.read_text() + 'x,y\n')
  with pytest.raises(corpus.AnnotationError) as info:
    musicnet.MusicNet(str(root)).load('2303')
  assert str(labels) in str(info.value) and 'line 4' in str(info.value)


# --------------------------------------------------------------- GuitarSet


def test_guitarset_pitch_contours():
  reader = guitarset.GuitarSet(fixture('guitarset'))
  assert reader.track_ids('valid') == ['05_BN1-129-Eb_comp']
  assert reader.track_ids('train') == ['00_Funk2-108-Eb_solo']
  assert reader.track_ids('test') == ['00_Funk2-108-Eb_solo',
                                      '05_BN1-129-Eb_comp']
  record = reader.load('05_BN1-129-Eb_comp')
  check_audio(record, 6615)
  times, freqs = record.reference()
  # Grid n * 256 / 44100 s for n = 0 .. ceil(0.3 / 0.0058) = 52.
  assert len(times) == 53 and times[2] == pytest.approx(512 / 44100)
  # String 2 at 196 + 0.1 n Hz on grid points 4..20 (1 ms late, snapped);
  # point 12 unvoiced, point 13 at 0 Hz; string 4 at 329.63 Hz on 8..10.
  np.testing.assert_allclose(freqs[4], [196.4])
  np.testing.assert_allclose(freqs[9], [196.9, 329.63])
  assert freqs[12].size == 0 and freqs[13].size == 0
  assert freqs[3].size == 0 and freqs[21].size == 0
  grid = record.label_grid()
  # HCQT frame k sits exactly on grid point 2k (hop 256 at half the rate).
  assert active_bins(grid, 1) == []  # point 2
  assert active_bins(grid, 2) == [170]  # point 4: 196.4 Hz
  assert active_bins(grid, 4) == [170, 215]  # point 8: 196.8, 329.63 Hz
  assert active_bins(grid, 6) == []  # point 12: unvoiced
  assert active_bins(grid, 10) == [171]  # point 20: 198.0 Hz
  assert active_bins(grid, 11) == []
  assert record.annotation.edges == (0, 0)  # first frame at both ends


# ----------------------------------------------------------------- MAESTRO


def test_maestro_splits_and_notes():
  reader = maestro.MAESTRO(fixture('maestro'))
  assert reader.track_ids('train') == [
      '2018/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1']
  assert len(reader.track_ids('valid')) == 1  # <= 10 validation tracks
  record = reader.load(reader.track_ids('train')[0])
  check_audio(record, 6615)  # 48 kHz stereo
  grid = record.label_grid()
  # E4 (215) 0.0198..0.10 and 0.10..0.15; G4 (230) 0.05..0.15 (pedal).
  assert active_bins(grid, 1) == []  # 11.6 ms
  assert active_bins(grid, 2) == [215]  # 23.2 ms
  assert active_bins(grid, 5) == [215, 230]  # 58.0 ms
  assert active_bins(grid, 9) == [215, 230]  # 104.5 ms
  assert active_bins(grid, 12) == [215, 230]  # 139.3 ms
  assert active_bins(grid, 13) == []  # 150.9 ms
  assert maestro.MAESTRO.eval_seconds == {'valid': 30.0}


# ------------------------------------------------------------------ NSynth


def test_nsynth_pitch_from_name_and_envelope_rule():
  reader = nsynth.NSynth(fixture('nsynth'))
  # bass_synthetic_033-012-100 (MIDI 12) is outside [21, 109].
  assert reader.track_ids('valid') == [
      'valid/keyboard_acoustic_004-060-025',
      'valid/string_acoustic_012-069-127']
  assert nsynth.pitch_of('keyboard_acoustic_004-060-025') == 60
  record = reader.load('test/guitar_electronic_028-067-075')
  check_audio(record, 11025)  # 0.5 s at 16 kHz
  # The tone sounds 0.10 .. 0.35 s; the centred 100-ms RMS reaches 10 % of
  # its maximum about 50 ms before and after (a 30-Hz low-pass adds a few ms).
  notes = record.annotation
  assert len(notes.onsets) == 1
  assert 0.05 <= notes.onsets[0] <= 0.08
  assert 0.39 <= notes.offsets[0] <= 0.42
  np.testing.assert_allclose(notes.pitches_hz, [391.99543598])  # MIDI 67
  grid = record.label_grid()
  assert active_bins(grid, 4) == []  # 46.4 ms
  assert active_bins(grid, 8) == [230]  # 92.9 ms
  assert active_bins(grid, 30) == [230]  # 348.3 ms
  assert active_bins(grid, 37) == []  # 429.6 ms


def test_nsynth_envelope_of_a_note_active_to_the_end():
  rate = 22050
  t = np.arange(rate) / rate
  audio = np.sin(2 * np.pi * 440 * t) * (t >= 0.5)
  notes = nsynth.envelope_notes(audio, 69, rate)
  assert len(notes.onsets) == 1 and notes.offsets[0] == pytest.approx(1.0)
  assert 0.44 <= notes.onsets[0] <= 0.47


# ------------------------------------------------------- audio-only corpora


def test_egmd_csv_splits():
  reader = egmd.EGMD(fixture('egmd'))
  assert reader.track_ids('train') == [
      'drummer1/session1/1_funk-groove1_138_beat_4-4_1',
      'drummer1/session1/1_funk-groove1_138_beat_4-4_2']
  assert reader.track_ids('valid') == [
      'drummer1/session1/3_jazz_100_fill_4-4_1']
  assert reader.track_ids('test') == [
      'drummer7/eval_session/4_rock_120_beat_4-4_1']
  record = reader.load(reader.track_ids('test')[0])
  check_audio(record, 4410)
  assert record.annotation is None
  with pytest.raises(ValueError):
    record.label_grid()


def test_fma_subset_and_split():
  reader = fma.FMA(fixture('fma'))
  assert reader.size == 'small'
  # 000141 is in 'medium' only: not part of fma_small.
  assert reader.track_ids('train') == ['000002', '001482']
  assert reader.track_ids('valid') == ['000005']
  assert reader.track_ids('all') == ['000002', '000005', '000140', '001482']
  assert reader.audio_path('001482').endswith(
      os.path.join('fma_small', '001', '001482.mp3'))
  record = reader.load('000140')  # 44.1 kHz stereo MP3
  assert record.audio.dtype == np.float32 and record.annotation is None
  assert abs(len(record.audio) - 5512) <= 2


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize('name', sorted(catalog.CORPORA))
def test_missing_corpus_directory_is_one_line(tmp_path, name):
  missing = str(tmp_path / 'nowhere')
  with pytest.raises(corpus.DatasetNotFoundError) as info:
    catalog.CORPORA[name](missing)
  message = str(info.value)
  assert missing in message and catalog.CORPORA[name].title in message
  assert f'dataset_dirs.{name}' in message and '\n' not in message


def test_corrupt_or_missing_audio_names_the_file(tmp_path):
  root = tmp_path / 'Su'
  shutil.copytree(fixture('su'), root)
  wav = root / 'audio' / 'PQ02_Elgar_audio.wav'
  wav.write_bytes(b'RIFF\x10\x00\x00\x00WAVEjunk')
  with pytest.raises(audio_lib.AudioError) as info:
    su.Su(str(root)).load('PQ02_Elgar')
  assert str(wav) in str(info.value) and '\n' not in str(info.value)
  wav.unlink()
  with pytest.raises(audio_lib.AudioError, match='not found'):
    su.Su(str(root)).load('PQ02_Elgar')


def test_missing_layout_parts(tmp_path):
  (tmp_path / 'e-gmd').mkdir()
  with pytest.raises(corpus.DatasetNotFoundError, match='e-gmd-v1.0.0.csv'):
    egmd.EGMD(str(tmp_path / 'e-gmd')).track_ids('train')
  (tmp_path / 'urmp').mkdir()
  with pytest.raises(corpus.DatasetNotFoundError, match="'Dataset' folder"):
    urmp.URMP(str(tmp_path / 'urmp')).track_ids('all')


# ------------------------------------------------------- evaluation sets


def corpus_config(**dirs) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.hcqt = ml_collections.ConfigDict(dict(sample_rate=22050,
                                               hop_length=256))
  config.data = ml_collections.ConfigDict()
  config.data.dataset_dirs = ml_collections.ConfigDict(
      {name: dirs.get(name, '') for name in catalog.CORPORA})
  return config


def test_registered_eval_sets():
  for name in ('urmp/valid', 'bach10/test', 'su/test', 'trios/test',
               'musicnet/test', 'guitarset/valid', 'guitarset/test',
               'maestro/valid', 'nsynth/valid'):
    assert name in pipeline.EVAL_SETS, name
  assert 'egmd/train' not in pipeline.EVAL_SETS  # audio only
  config = corpus_config(bach10=fixture('bach10'))
  tracks = pipeline.eval_tracks(config, 'bach10/test')
  assert [t.name for t in tracks] == ['01-AchGottundHerr',
                                      '02-AchLiebenChristen']
  assert tracks[0].ref_times[0] == pytest.approx(0.023)
  assert tracks[0].audio.dtype == np.float32


def test_eval_set_without_its_directory():
  with pytest.raises(corpus.DatasetNotFoundError) as info:
    pipeline.eval_tracks(corpus_config(), 'urmp/valid')
  message = str(info.value)
  assert 'URMP' in message and 'config.data.dataset_dirs.urmp' in message
  assert '\n' not in message


def test_guitarset_jams_observation_list_form(tmp_path):
  # JAMS stores an annotation's data either as columns (as the fixture) or
  # as a list of observation objects; both read the same.
  import json  # pylint: disable=g-import-not-at-top
  root = tmp_path / 'GuitarSet'
  shutil.copytree(fixture('guitarset'), root)
  path = root / 'annotation' / '05_BN1-129-Eb_comp.jams'
  jam = json.loads(path.read_text())
  for annotation in jam['annotations']:
    data = annotation['data']
    if isinstance(data, dict):
      annotation['data'] = [dict(zip(data, column))
                            for column in zip(*data.values())]
  path.write_text(json.dumps(jam))
  columns = guitarset.load_pitch_contours(
      fixture('guitarset/annotation/05_BN1-129-Eb_comp.jams'))
  rows = guitarset.load_pitch_contours(str(path))
  np.testing.assert_array_equal(rows.times, columns.times)
  for a, b in zip(rows.freqs, columns.freqs):
    np.testing.assert_array_equal(a, b)
  path.write_text('{"annotations": []}')
  with pytest.raises(corpus.AnnotationError, match='Cannot read GuitarSet'):
    guitarset.load_pitch_contours(str(path))


def test_corpus_sets_score_through_the_training_evaluation():
  # The path train_and_evaluate takes for config.eval.*_sets: eval_tracks,
  # then evaluate_tracks (peaks, mir_eval). A salience equal to the label
  # grid must score (almost) perfectly against each corpus's own reference.
  import types  # pylint: disable=g-import-not-at-top
  from mpe_jax import evaluation_loop  # pylint: disable=g-import-not-at-top
  config = corpus_config(su=fixture('su'), bach10=fixture('bach10'))
  bins_hz = 27.5 * 2 ** (np.arange(440) / 60)
  system = types.SimpleNamespace(
      bin_frequencies=lambda frontend: bins_hz,
      frame_times=lambda frontend, n: np.arange(n) * 256 / 22050,
      set_metrics=None)
  readers = {'su/test': su.Su(fixture('su')),
             'bach10/test': bach10.Bach10(fixture('bach10'))}
  for name, reader in readers.items():
    tracks = pipeline.eval_tracks(config, name)
    grids = {t: reader.load(t).label_grid() for t in reader.track_ids('test')}

    def oracle(params, audio, name=name):  # pylint: disable=unused-argument
      n = audio.shape[-1]
      grid = next(g for g in grids.values() if g.shape[1] == 1 + n // 256)
      return grid[None].astype(np.float32)

    means, per_track = evaluation_loop.evaluate_tracks(oracle, None, tracks, system,
                                             None, 0.5)
    assert [t['name'] for t in per_track] == [t.name for t in tracks]
    # Su: references on the HCQT frames -> exact. Bach10: references at
    # 23 + 10 n ms, estimates resampled to them by mir_eval -> near exact.
    assert means['f1'] >= (0.999 if name == 'su/test' else 0.95), means
