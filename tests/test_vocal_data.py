"""Singing-voice corpora (MIR-1K, MedleyDB, MUSDB18, MIR-ST500), their 80/20
splits, label units, and the vocal sources, folders and batches.

Every fixture is written here in its corpus's real layout with a few tenths
of a second of audio. Label frames are 20 ms (hop 320 at 16 kHz); MIDI m is
440 * 2 ** ((m - 69) / 12) Hz.
"""

import json
import os
import sys

import ml_collections
import numpy as np
import pytest
import soundfile as sf

from data_pipelines import catalog
from data_pipelines import corpus
from data_pipelines import pipeline
from data_pipelines import vocal
from data_pipelines.corpora import medleydb
from data_pipelines.corpora import mir1k
from data_pipelines.corpora import mir_st500
from data_pipelines.corpora import musdb18

SR = 16000
GRID = dict(sample_rate=SR, hop_length=320, fmin=32.70319566257483,
            bins_per_octave=60, n_bins=360)


def hz(midi):
  return 440.0 * 2.0 ** ((np.asarray(midi, float) - 69) / 12)


def tone(seconds, f, rate=SR, amp=0.5):
  t = np.arange(int(seconds * rate)) / rate
  return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


# ------------------------------------------------------------- fixtures


def make_mir1k(root, clips=('abjones_1_01', 'abjones_1_02', 'amy_3_05',
                            'bobon_2_01', 'geniusturtle_6_03')):
  os.makedirs(root / 'Wavfile')
  os.makedirs(root / 'PitchLabel')
  os.makedirs(root / 'UnvoicedFrameLabel')  # present, not read
  for i, c in enumerate(clips):
    acc, voice = tone(0.2, 110.0 + i), tone(0.2, 220.0, amp=0.25)
    sf.write(str(root / 'Wavfile' / f'{c}.wav'),
             np.stack([acc, voice], axis=1), SR, subtype='FLOAT')
    # 9 frames: unvoiced, then MIDI 57 (220 Hz) and 57.5.
    (root / 'PitchLabel' / f'{c}.pv').write_text(
        '0\n57\n57\n57.5\n57.5\n0\n57\n57\n57\n')
  return root


def make_medleydb(root):
  def track(name, stems):
    d = root / 'Audio' / name
    os.makedirs(d / f'{name}_STEMS')
    mix = np.zeros(int(0.2 * 44100), np.float32)
    lines = ['stem_dir: %s_STEMS' % name, f'mix_filename: {name}_MIX.wav',
             'stems:']
    for i, (label, f) in enumerate(stems, start=1):
      audio = tone(0.2, f, rate=44100, amp=0.3)
      mix += audio
      sf.write(str(d / f'{name}_STEMS' / f'{name}_STEM_{i:02d}.wav'), audio,
               44100, subtype='FLOAT')
      lines += [f'  S{i:02d}:', f'    filename: {name}_STEM_{i:02d}.wav',
                f'    instrument: {label}', '    component: ""']
    sf.write(str(d / f'{name}_MIX.wav'), mix, 44100, subtype='FLOAT')
    (d / f'{name}_METADATA.yaml').write_text('\n'.join(lines) + '\n')

  track('LizNelson_Rainfall', [('female singer', 330.0),
                               ('acoustic guitar', 110.0)])
  track('MusicDelta_Beethoven', [('violin', 440.0)])  # no singer: left out
  ann = root / 'Annotations' / 'Pitch_Annotations'
  os.makedirs(ann)
  grid = 256 / 44100
  rows = [f'{k * grid:.6f},{330.0 if k < 10 else 0.0}' for k in range(2, 13)]
  (ann / 'LizNelson_Rainfall_STEM_01.csv').write_text('\n'.join(rows) + '\n')
  return root


def make_musdb(root, split_songs=(('train', 'A Artist - Song'),
                                  ('train', 'B Band - Tune'),
                                  ('test', 'C Choir - Hymn'))):
  for split, song in split_songs:
    d = root / split / song
    os.makedirs(d)
    stems = {'vocals': tone(0.2, 300.0, 44100, 0.2),
             'drums': tone(0.2, 60.0, 44100, 0.1),
             'bass': tone(0.2, 80.0, 44100, 0.1),
             'other': tone(0.2, 500.0, 44100, 0.1)}
    stems['mixture'] = sum(stems.values())
    for name, audio in stems.items():
      sf.write(str(d / f'{name}.wav'), np.stack([audio, audio], axis=1),
               44100, subtype='FLOAT')
  return root


def make_st500(root):
  notes = {'1': [[0.05, 0.15, 60], [0.2, 0.3, 62.0]],
           '2': [[0.0, 0.1, 57]], '401': [[0.1, 0.2, 69]], '3': [[0, 1, 60]]}
  (root / mir_st500.LABEL_FILE).parent.mkdir(parents=True, exist_ok=True)
  (root / mir_st500.LABEL_FILE).write_text(json.dumps(notes))
  for split, song, fmt in (('train', '1', 'MP3'), ('train', '2', 'WAV'),
                           ('test', '401', 'MP3')):
    d = root / split / song
    os.makedirs(d)
    audio = np.stack([tone(0.4, 261.6, 44100)] * 2, axis=1)
    sf.write(str(d / f'Mixture.{fmt.lower()}'), audio, 44100, format=fmt)
  return root


def data_config(**dirs):
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.hcqt = ml_collections.ConfigDict(GRID)
  config.data = ml_collections.ConfigDict()
  config.data.data_dir = str(dirs.pop('data_dir', ''))
  config.data.pseudo_label_dir = str(dirs.pop('pseudo_label_dir', ''))
  config.data.dataset_dirs = ml_collections.ConfigDict(
      {name: str(dirs.get(name, '')) for name in catalog.CORPORA})
  config.data.vocal = ml_collections.ConfigDict(dict(
      synthetic_tracks=3, synthetic_seconds=0.5, fractions=(1.0,)))
  config.data.mixture = ml_collections.ConfigDict(dict(
      sources=(), proportions=(), use_labels=(), use_stems=()))
  config.data.excerpt_seconds = 0.32
  config.data.num_parallel_calls = 1
  config.data.prefetch = 1
  config.data.train_source = 'vocal'
  config.train = ml_collections.ConfigDict(dict(batch_size=4))
  return config


# --------------------------------------------------------------- MIR-1K


def test_mir1k_layout_split_and_label_units(tmp_path):
  reader = mir1k.MIR1K(str(make_mir1k(tmp_path / 'MIR-1K')))
  everything = reader.track_ids('all')
  train, test = reader.track_ids('train'), reader.track_ids('test')
  assert len(everything) == 5 and len(test) == 1 and len(train) == 4
  assert sorted(train + test) == everything
  # The split is a pure function of the clip names: 20 % of 1000 is 200.
  names = [f'singer{i % 19}_{i // 50}_{i % 50:02d}' for i in range(1000)]
  tr, te = mir1k.random_split(names, mir1k.SPLIT_SEED)
  assert (len(tr), len(te)) == (800, 200) and not set(tr) & set(te)
  assert mir1k.random_split(names[::-1], mir1k.SPLIT_SEED) == (tr, te)
  assert mir1k.random_split(names, 1)[1] != te
  # .pv: semitones per 20-ms frame, stamped at 20 ms + k * 20 ms.
  ann = reader.pitch_annotation('abjones_1_01')
  np.testing.assert_allclose(ann.times[:3], [0.02, 0.04, 0.06])
  assert ann.freqs[0].size == 0
  np.testing.assert_allclose(ann.freqs[1], hz([57]))
  np.testing.assert_allclose(ann.freqs[3], hz([57.5]))
  stems = reader.stems('abjones_1_01', SR)
  np.testing.assert_allclose(stems['mixture'],
                             stems['vocals'] + stems['accompaniment'])
  rec = vocal.load_corpus_vocal(reader, 'abjones_1_01', sample_rate=SR,
                                hop_length=320)
  assert np.max(np.abs(rec.mixture)) == pytest.approx(1.0)
  np.testing.assert_allclose(rec.mixture, rec.vocals + stems[
      'accompaniment'] / np.max(np.abs(stems['mixture'])), atol=1e-6)
  # Label frame t (t * 20 ms) takes the nearest .pv frame: t=2 -> line 1.
  assert len(rec.f0) == 1 + 3200 // 320
  np.testing.assert_allclose(rec.f0[:5], [0, 0, hz(57), hz(57), hz(57.5)],
                             rtol=1e-5)
  np.testing.assert_array_equal(rec.confi_pe, 1.0)


def test_mir1k_published_split_file(tmp_path):
  root = make_mir1k(tmp_path / 'MIR-1K')
  (tmp_path / 'split.csv').write_text('name,split\nabjones_1_01.wav,test\n'
                                      'amy_3_05,train\n')
  reader = mir1k.MIR1K(str(root), split_file=str(tmp_path / 'split.csv'))
  assert reader.track_ids('test') == ['abjones_1_01']
  assert reader.track_ids('train') == ['amy_3_05']
  (tmp_path / 'bad.csv').write_text('clip,part\nx,y\n')
  with pytest.raises(corpus.AnnotationError, match='name and split'):
    mir1k.MIR1K(str(root), split_file=str(tmp_path / 'bad.csv')
                ).track_ids('test')


# ------------------------------------------------------------- MedleyDB


def test_medleydb_vocal_subset_and_label_units(tmp_path):
  reader = medleydb.MedleyDB(str(make_medleydb(tmp_path / 'MedleyDB')))
  assert reader.track_ids('all') == ['LizNelson_Rainfall']
  assert reader.track_ids('test') + reader.track_ids('train') == [
      'LizNelson_Rainfall']  # round(0.2 * 1) = 0 test tracks
  ann = reader.pitch_annotation('LizNelson_Rainfall')
  # CSV rows time,Hz on the 256/44100-s grid; 0 Hz rows are unvoiced.
  np.testing.assert_allclose(ann.times[:3], np.arange(3) * 256 / 44100)
  assert ann.freqs[1].size == 0 and ann.freqs[2][0] == 330.0
  assert ann.freqs[10].size == 0
  stems = reader.stems('LizNelson_Rainfall', SR)
  assert set(stems) == {'mixture', 'vocals', 'accompaniment'}
  # 'vocals' is the singer stem alone (0.3 peak), the guitar is the rest.
  assert np.max(np.abs(stems['vocals'])) == pytest.approx(0.3, abs=0.01)
  spectrum = np.abs(np.fft.rfft(stems['accompaniment']))
  assert np.argmax(spectrum) * SR / len(stems['accompaniment']) == (
      pytest.approx(110.0, abs=10))
  rec = vocal.load_corpus_vocal(reader, 'LizNelson_Rainfall',
                                sample_rate=SR, hop_length=320)
  # Frames 0 (0 s) and 1 (20 ms = 3.4 grid points) map into the voiced rows.
  assert rec.f0[1] == pytest.approx(330.0) and rec.f0[0] == 0.0
  assert rec.vocals is not None and rec.ref[0][2] == pytest.approx(
      2 * 256 / 44100)


# -------------------------------------------------------------- MUSDB18


def test_musdb18_hq_layout_splits_and_stems(tmp_path):
  reader = musdb18.MUSDB18(str(make_musdb(tmp_path / 'musdb18hq')))
  assert reader.track_ids('train') == ['train/A Artist - Song',
                                       'train/B Band - Tune']
  assert reader.track_ids('test') == ['test/C Choir - Hymn']
  assert not reader.annotated and reader.pitch_annotation('x') is None
  stems = reader.stems('test/C Choir - Hymn', SR)
  np.testing.assert_allclose(stems['mixture'],
                             stems['vocals'] + stems['accompaniment'],
                             atol=1e-4)
  source = vocal.CorpusVocal(reader)
  assert (source.has_stems, source.has_pitch) == (True, False)
  rec = source.load_vocal('test/C Choir - Hymn', sample_rate=SR,
                          hop_length=320)
  assert rec.f0 is None and rec.vocals.shape == rec.mixture.shape


def test_musdb18_stem_mp4_release_is_refused_in_one_line(tmp_path):
  (tmp_path / 'musdb18' / 'train').mkdir(parents=True)
  (tmp_path / 'musdb18' / 'train' / 'A - B.stem.mp4').write_bytes(b'\0')
  with pytest.raises(corpus.DatasetNotFoundError) as info:
    musdb18.MUSDB18(str(tmp_path / 'musdb18')).track_ids('train')
  assert 'MUSDB18-HQ' in str(info.value) and '\n' not in str(info.value)


# ------------------------------------------------------------ MIR-ST500


def test_mir_st500_splits_and_note_units(tmp_path):
  reader = mir_st500.MIRST500(str(make_st500(tmp_path / 'MIR-ST500')))
  # Songs 1..400 train, 401..500 test; only those with audio are listed.
  assert reader.track_ids('train') == ['train/1', 'train/2']
  assert reader.track_ids('test') == ['test/401']
  notes = reader.pitch_annotation('train/1')
  np.testing.assert_allclose(notes.pitches_hz, hz([60, 62]))
  rec = vocal.load_corpus_vocal(reader, 'train/1', sample_rate=SR,
                                hop_length=320)
  assert rec.vocals is None and len(rec.mixture) == int(0.4 * SR)
  # Frames at 0, 20, ..., 380 ms: note 1 on [50, 150) ms, note 2 [200, 300).
  voiced = np.flatnonzero(rec.f0 > 0)
  np.testing.assert_array_equal(voiced, [3, 4, 5, 6, 7, 10, 11, 12, 13, 14])
  assert rec.f0[3] == pytest.approx(hz(60)) and rec.f0[10] == pytest.approx(
      hz(62))
  rec_wav = vocal.load_corpus_vocal(reader, 'train/2', sample_rate=SR,
                                    hop_length=320)
  assert rec_wav.f0[0] == pytest.approx(hz(57))


def test_mir_st500_bad_labels_are_one_line(tmp_path):
  root = make_st500(tmp_path / 'MIR-ST500')
  (root / mir_st500.LABEL_FILE).write_text(json.dumps(
      {'1': [[0.3, 0.1, 60]]}))
  reader = mir_st500.MIRST500(str(root))
  with pytest.raises(corpus.AnnotationError, match='onset < offset'):
    reader.pitch_annotation('train/1')
  with pytest.raises(corpus.AnnotationError, match="no entry for song '2'"):
    reader.pitch_annotation('train/2')
  (root / mir_st500.LABEL_FILE).write_text('{not json')
  with pytest.raises(corpus.AnnotationError) as info:
    mir_st500.MIRST500(str(root)).track_ids('train')
  assert '\n' not in str(info.value)


# ------------------------------------------- catalog, prepare, sources


def test_readers_are_registered_with_eval_sets():
  for name in ('mir1k', 'medleydb', 'musdb18', 'mir_st500'):
    assert name in catalog.CORPORA
  for name in ('vocal/mir1k/test', 'vocal/medleydb/test',
               'vocal/musdb18/test', 'vocal/mir_st500/test',
               'vocal/synth_full/test'):
    assert name in pipeline.EVAL_SETS


def test_prepared_folder_round_trip_and_preference(tmp_path):
  reader = mir1k.MIR1K(str(make_mir1k(tmp_path / 'MIR-1K')))
  data_dir = tmp_path / 'prepared'
  folder = vocal.prepare_split(reader, 'train', str(data_dir))
  store = vocal.VocalFolder(folder, sample_rate=SR, hop_length=320,
                            what='test')
  assert store.names == reader.track_ids('train')
  got = store.load_index(0)
  want = vocal.load_corpus_vocal(reader, store.names[0], sample_rate=SR,
                                 hop_length=320)
  for key in ('mixture', 'vocals', 'f0', 'confi_mss', 'confi_pe'):
    np.testing.assert_array_equal(getattr(got, key), getattr(want, key))
  config = data_config(mir1k=tmp_path / 'MIR-1K', data_dir=data_dir)
  assert isinstance(vocal.open_store(config, 'mir1k/train'),
                    vocal.VocalFolder)
  assert not isinstance(vocal.open_store(config, 'mir1k/test'),
                        vocal.VocalFolder)  # not prepared: the raw corpus
  with pytest.raises(vocal.VocalDataError, match='written at 16000 Hz'):
    vocal.VocalFolder(folder, sample_rate=22050, hop_length=256, what='x')


def test_vocal_batches_shapes_flags_and_half_fraction(tmp_path):
  config = data_config(mir1k=make_mir1k(tmp_path / 'MIR-1K'))
  config.data.mixture.sources = ('mir1k/train', 'synth_pe/train')
  config.data.mixture.proportions = (1, 1)
  config.data.mixture.use_labels = (True, True)
  config.data.mixture.use_stems = (True, False)
  config.data.vocal.fractions = (0.5, 1.0)
  layout = vocal.open_sources(config, 4)
  assert [c for _, c in layout] == [2, 2]
  assert len(layout[0][0].kept) == 2  # half of the 4 training clips
  batches = pipeline.train_batches(config)
  batch = next(batches)
  batches.close()
  n = int(0.32 * SR)
  assert batch['mixture'].shape == batch['vocals'].shape == (4, n)
  assert batch['labels'].shape == (4, 360, 17)
  np.testing.assert_array_equal(batch['has_stems'], [1, 1, 0, 0])
  np.testing.assert_array_equal(batch['has_pitch'], [1, 1, 1, 1])
  assert not batch['vocals'][2:].any()
  assert batch['labels'].sum(axis=1).max() == 1  # one pitch per frame
  assert batch['confi_mss'].shape == (4, 17) and np.all(batch['confi_pe'] == 1)
  # Same step, same batch (a pure function of the seed and step).
  again = pipeline.train_batches(config)
  np.testing.assert_array_equal(next(again)['mixture'], batch['mixture'])
  again.close()


def test_synthetic_songs_have_exact_labels():
  rec = vocal.synth_song(0, 'synth_full', 'train', 0, seconds=1.0,
                         sample_rate=SR, hop_length=320)
  assert rec.mixture.shape == rec.vocals.shape == (SR,)
  assert rec.f0.shape == (51,) and np.max(np.abs(rec.mixture)) == 1.0
  voiced = rec.f0 > 0
  assert voiced.any() and np.all((rec.f0[voiced] > 100) & (rec.f0[voiced]
                                                           < 900))
  # The voice's energy follows its labels: silent where unvoiced.
  frames = rec.vocals[:50 * 320].reshape(50, 320)
  energy = np.sqrt(np.mean(frames ** 2, axis=1))
  assert energy[voiced[:50]].mean() > 5 * energy[~voiced[:50]].mean()
  pe = vocal.synth_song(0, 'synth_pe', 'train', 0, seconds=1.0,
                        sample_rate=SR, hop_length=320)
  assert pe.vocals is None and not np.array_equal(pe.mixture, rec.mixture)


def test_bad_vocal_sources_are_one_line(tmp_path):
  config = data_config(musdb18=make_musdb(tmp_path / 'musdb'))
  config.data.mixture.sources = ('musdb18/train',)
  config.data.mixture.proportions = (1,)
  config.data.mixture.use_labels = (True,)
  config.data.mixture.use_stems = (True,)
  errors = []
  with pytest.raises(vocal.VocalDataError, match='no pitch labels') as info:
    vocal.open_sources(config, 4)
  errors.append(info.value)
  with pytest.raises(corpus.DatasetNotFoundError,
                     match='pseudo_label_dir') as info:
    vocal.open_store(config, 'pseudo/musdb18/train')
  errors.append(info.value)
  config.data.pseudo_label_dir = str(tmp_path / 'nothing')
  with pytest.raises(corpus.DatasetNotFoundError,
                     match='no pseudo-labels') as info:
    vocal.open_store(config, 'pseudo/musdb18/train')
  errors.append(info.value)
  with pytest.raises(vocal.VocalDataError, match='Unknown vocal') as info:
    vocal.open_store(config, 'urmp/train')
  errors.append(info.value)
  with pytest.raises(corpus.DatasetNotFoundError, match='dataset_dirs') as i:
    vocal.open_store(data_config(), 'mir1k/train')
  errors.append(i.value)
  with pytest.raises(vocal.VocalDataError, match='fractions') as info:
    vocal.fraction_order(10, 0.0)
  errors.append(info.value)
  assert all('\n' not in str(e) for e in errors)


def test_prepare_command_writes_the_vocal_form(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  make_mir1k(tmp_path / 'MIR-1K')
  cmd = [sys.executable, '-m', 'data_pipelines.prepare', '--dataset=mir1k',
         f'--manual_dir={tmp_path / "MIR-1K"}', '--vocal', '--splits=test',
         f'--data_dir={tmp_path / "out"}']
  done = subprocess.run(cmd, capture_output=True, text=True, check=False)
  assert done.returncode == 0, done.stderr
  manifest = json.loads((tmp_path / 'out' / 'vocal' / 'mir1k' / 'test' /
                         vocal.MANIFEST).read_text())
  assert manifest['sample_rate'] == 16000 and manifest['hop_length'] == 320
  assert manifest['tracks'] == mir1k.MIR1K(str(tmp_path / 'MIR-1K')
                                           ).track_ids('test')
