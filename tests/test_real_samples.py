"""Sample-library readers on fixture libraries in each real layout, and the
pitch measurement that labels their notes (``data_pipelines.real_samples``).

The fixtures are written here: a Philharmonia folder with ``data.csv``
(MP3s in folders with spaces, a percussion row, a 0-byte file, a listed
file that is missing), an SFZ instrument (comments, defines, an include,
inheritance, note names, a sample path with spaces, a release region, a
loop), the Salamander npm layout (two velocity layers of OGG files).
"""

import os

import numpy as np
import pytest
import soundfile as sf

from data_pipelines.real_samples import library
from data_pipelines.real_samples import philharmonia
from data_pipelines.real_samples import pitch
from data_pipelines.real_samples import salamander
from data_pipelines.real_samples import sfz

RATE = 22050


def _tone(hz, seconds, *, lead=0.0, vibrato_cents=0.0, vibrato_hz=5.5,
          rate=RATE):
  """A harmonic tone after ``lead`` s of silence; returns (audio, f0 [n])."""
  n = int(seconds * rate)
  t = np.arange(n) / rate
  f0 = hz * 2.0 ** (vibrato_cents * np.sin(2 * np.pi * vibrato_hz * t)
                    / 1200)
  phase = 2 * np.pi * np.cumsum(f0) / rate
  tone = sum(np.sin(h * phase) / h for h in range(1, 6))
  envelope = np.minimum(1.0, t / 0.02) * np.exp(-0.3 * t)
  audio = np.concatenate([np.zeros(int(lead * rate)),
                          0.3 * envelope * tone]).astype(np.float32)
  return audio, f0


def _philharmonia(root):
  data = root / 'data'
  rows = [',file,filename,filesize,family,instrument,note,octave,pitch,'
          'length,dynamic,style']

  def add(k, family, instrument, name, note, octave, audio=None,
          empty=False):
    rel = f'{family}/{instrument}/{name}.mp3'
    path = data / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if audio is not None:
      sf.write(path, audio, RATE, format='MP3')
    elif empty:
      path.write_bytes(b'')
    size = path.stat().st_size if path.exists() else 0
    rows.append(f'{k},{rel},{name},{size},{family},{instrument},{note},'
                f'{octave},,1,forte,normal')

  add(0, 'strings', 'violin', 'violin_A4_1_forte_arco-normal', 'A', '4.0',
      _tone(440.0, 1.0, lead=0.2)[0])
  # Named C4, plays D4: 200 cents off.
  add(1, 'woodwind', 'clarinet', 'clarinet_C4_1_forte_normal', 'C', '4.0',
      _tone(293.66, 1.0)[0])
  add(2, 'brass', 'french horn', 'french-horn_As2_1_forte_normal', 'A#',
      '2.0', _tone(116.54, 1.0)[0])
  add(3, 'percussion', 'cymbal', 'cymbal__1_forte_normal', '', '',
      (0.1 * np.random.default_rng(0).standard_normal(RATE)).astype(
          np.float32))
  add(4, 'woodwind', 'saxophone', 'saxophone_Fs3_15_fortissimo_normal', 'F#',
      '3.0', empty=True)
  add(5, 'woodwind', 'flute', 'flute_G5_1_forte_normal', 'G', '5.0')
  (data / 'data.csv').write_text('\n'.join(rows) + '\n')
  return root


def test_philharmonia_reader_counts_what_it_leaves_out(tmp_path):
  samples, dropped = philharmonia.read(str(_philharmonia(tmp_path)))
  assert [(s.instrument, s.midi) for s in samples] == [
      ('violin', 69), ('clarinet', 60), ('french horn', 46)]
  assert dropped == {'unpitched': 1, 'empty': 1, 'missing': 1}
  violin = samples[0]
  assert violin.family == 'strings' and violin.dynamic == 'forte'
  assert violin.velocity == library.DYNAMIC_VELOCITY['forte']
  assert os.path.isfile(violin.path)
  # The data folder itself works as the root too.
  assert len(philharmonia.read(str(tmp_path / 'data'))[0]) == 3


def test_philharmonia_missing_is_one_line_naming_the_source(tmp_path):
  with pytest.raises(library.LibraryError) as info:
    philharmonia.read(str(tmp_path))
  message = str(info.value)
  assert '\n' not in message and 'jurihock/philharmonia' in message


def test_measure_trims_the_start_and_rejects_off_and_unpitched_notes(
    tmp_path):
  samples, _ = philharmonia.read(str(_philharmonia(tmp_path)))
  violin, clarinet, horn = samples
  audio, rate = sf.read(violin.path, dtype='float32')
  got = pitch.measure(audio, rate, violin.midi)
  assert got.kept and abs(got.cents) < 10, got.verdict
  # 0.2 s of silence, plus whatever the MP3 coder added, is trimmed.
  assert abs(got.start / rate - 0.2) < 0.03
  audio, rate = sf.read(clarinet.path, dtype='float32')
  off = pitch.measure(audio, rate, clarinet.midi)
  assert not off.kept and 'cents from its name' in off.verdict
  assert off.cents == pytest.approx(200, abs=15)
  audio, rate = sf.read(horn.path, dtype='float32')
  assert pitch.measure(audio, rate, horn.midi).kept
  noise = (0.2 * np.random.default_rng(1).standard_normal(RATE)).astype(
      np.float32)
  assert pitch.measure(noise, RATE, 69).verdict.startswith('unpitched')


def test_the_measured_f0_follows_a_vibrato_within_one_20_cent_bin():
  audio, f0 = _tone(392.0, 2.0, lead=0.1, vibrato_cents=40.0)
  got = pitch.measure(audio, RATE, 67)
  assert got.kept
  frames = got.start + np.arange(len(got.f0)) * got.hop - int(0.1 * RATE)
  inside = (frames >= 0) & (frames < len(f0)) & np.isfinite(got.f0)
  assert inside.mean() > 0.8
  error = 1200 * np.log2(got.f0[inside] / f0[frames[inside]])
  assert np.percentile(np.abs(error), 95) < 20, np.abs(error).max()


def _sfz_library(root):
  (root / 'samples' / 'long notes').mkdir(parents=True)
  for name in ('A3 sus.wav', 'C4 sus.wav', 'rel.wav'):
    sf.write(root / 'samples' / 'long notes' / name,
             _tone(220.0, 0.2)[0], RATE)
  (root / 'groups.sfzh').write_text(
      '<group> lovel=1 hivel=63 tune=-5 // soft layer\n'
      '<region> sample=$DIR/A3 sus.wav key=a3 loop_mode=loop_continuous '
      'loop_start=100 loop_end=2000\n'
      '<region> sample=$DIR/C4 sus.wav lokey=b3 hikey=c#4 '
      'pitch_keycenter=c4 transpose=1\n')
  (root / 'inst.sfz').write_text(
      '/* an instrument\n   over two lines */\n'
      '#define $DIR long notes\n'
      '<control> default_path=samples/\n'
      '<global> offset=10\n'
      '#include "groups.sfzh"\n'
      '<group> trigger=release\n'
      '<region> sample=$DIR\\rel.wav key=60 offset=0\n'
      '<region> lokey=0 hikey=10\n')  # no sample: not a note
  return root / 'inst.sfz'


def test_sfz_regions_with_inheritance_defines_and_includes(tmp_path):
  path = _sfz_library(tmp_path)
  a3, c4, rel = sfz.read(str(path), instrument='test', family='strings')
  assert a3.midi == 57 and a3.key_range == (57, 57)
  assert a3.velocity == (1, 63) and a3.tune_cents == -5.0
  assert a3.offset == 10 and a3.loop == (100, 2000) and not a3.release
  assert a3.path.endswith(os.path.join('samples', 'long notes', 'A3 sus.wav'))
  assert c4.midi == 60 and c4.key_range == (59, 61)
  assert c4.tune_cents == -5.0 + 100.0
  assert rel.release and rel.offset == 0 and rel.velocity == (1, 127)
  assert rel.library == 'inst'


def test_sfz_missing_sample_is_one_line(tmp_path):
  path = _sfz_library(tmp_path)
  os.remove(tmp_path / 'samples' / 'long notes' / 'C4 sus.wav')
  with pytest.raises(library.LibraryError) as info:
    sfz.read(str(path), instrument='test', family='strings')
  assert '\n' not in str(info.value) and 'C4 sus.wav' in str(info.value)


def test_note_names():
  assert [library.note_to_midi(n) for n in (
      'A4', 'a4', 'C4', 'c-1', 'F#3', 'Fs3', 'Db5', 'A0', '61')] == [
          69, 69, 60, 0, 54, 54, 73, 21, 61]
  with pytest.raises(ValueError):
    library.note_to_midi('H2')


def test_salamander_npm_layout(tmp_path):
  node_modules = tmp_path / 'node_modules'
  for layer in (1, 16):
    audio = node_modules / '@audio-samples' / f'piano-velocity{layer}' / 'audio'
    audio.mkdir(parents=True)
    for note in ('A0', 'C4', 'D#4', 'F#7'):
      sf.write(audio / f'{note}v{layer}.ogg', _tone(261.6, 0.2)[0], RATE,
               format='OGG')
  samples, dropped = salamander.read(str(node_modules))
  assert dropped == {'missing layer': 14}
  assert sorted({s.midi for s in samples}) == [21, 60, 63, 102]
  assert {s.velocity for s in samples} == {(1, 8), (120, 127)}
  with pytest.raises(library.LibraryError, match='npm install'):
    salamander.read(str(tmp_path / 'nothing'))


# ----------------------------------------------------------------- sampler ---

from data_pipelines.real_samples import sampler  # pylint: disable=g-import-not-at-top,g-bad-import-order


def _recorded(tmp_path, name, hz, midi, seconds=2.0, velocity=(1, 127),
              length='', vibrato_cents=0.0, release=False):
  path = tmp_path / f'{name}.wav'
  sf.write(path, _tone(hz, seconds, lead=0.05,
                       vibrato_cents=vibrato_cents)[0], RATE)
  sample = library.Sample(path=str(path), library='fixture',
                          instrument='tone', family='strings', midi=midi,
                          velocity=velocity, length=length, release=release)
  return sampler.load_recorded(sample, RATE)


def _f0_error_cents(note):
  """Cents between the label and the pitch measured on the played audio,
  per frame where both have a pitch."""
  got = pitch.measure(note.audio, RATE, 12 * np.log2(
      np.nanmedian(note.f0[note.f0 > 0]) / 440.0) + 69)
  n = min(len(got.f0), len(note.f0))
  label, heard = note.f0[:n], got.f0[:n]
  both = (label > 0) & np.isfinite(heard)
  return 1200 * np.log2(heard[both] / label[both]), both.mean()


def test_sampler_picks_pitch_velocity_and_length(tmp_path):
  soft = _recorded(tmp_path, 'a4_soft', 440.0, 69, velocity=(1, 63),
                   length='05', seconds=0.6)
  loud = _recorded(tmp_path, 'a4_loud', 440.0, 69, velocity=(64, 127),
                   length='05', seconds=0.6)
  loud_long = _recorded(tmp_path, 'a4_loud_long', 440.0, 69,
                        velocity=(64, 127), length='long', seconds=3.0)
  c5 = _recorded(tmp_path, 'c5', 523.25, 72)
  bank = sampler.Bank([soft, loud, loud_long, c5], rate=RATE)
  assert bank.choose(69, 30, 0.3) is soft
  assert bank.choose(69, 100, 0.3) is loud
  assert bank.choose(69, 100, 2.0) is loud_long  # long enough to hold
  assert bank.choose(71.6, 100, 0.3) is c5  # nearest recorded pitch
  assert bank.playable(66.0) and not bank.playable(75.5)
  with pytest.raises(ValueError, match='no recording within'):
    bank.choose(80, 100, 0.3)


def test_sampler_labels_follow_a_shifted_vibrato(tmp_path):
  recorded = _recorded(tmp_path, 'g4', 392.0, 67, vibrato_cents=35.0)
  bank = sampler.Bank([recorded], rate=RATE)
  note = bank.play(69.0, 100, 1.0)  # two semitones up
  assert note.shift == pytest.approx(2.0 - recorded.measured.cents / 100)
  error, coverage = _f0_error_cents(note)
  assert coverage > 0.7
  assert np.percentile(np.abs(error), 95) < 20, np.abs(error).max()
  # The label moves: around A4 now, with the vibrato's depth.
  voiced = note.f0[note.f0 > 0]
  assert abs(1200 * np.log2(np.median(voiced) / 440.0)) < 15
  assert 1200 * np.log2(voiced.max() / voiced.min()) > 40


def test_sampler_cuts_to_the_note_with_a_release(tmp_path):
  recorded = _recorded(tmp_path, 'a3', 220.0, 57, seconds=2.0)
  bank = sampler.Bank([recorded], rate=RATE)
  note = bank.play(57.0, 100, 0.5)
  assert len(note.audio) == int(0.5 * RATE) + int(
      sampler.RELEASE_SECONDS * RATE)
  held = int(0.5 * RATE) // 256
  assert np.all(note.f0[:held] > 0)  # labelled while it sounds
  assert note.f0[-1] == 0  # silent at the end of the release
  assert np.abs(note.audio[-10:]).max() < 1e-3
  # With a release sample, it is mixed in at the note-off.
  rel = _recorded(tmp_path, 'rel', 220.0, 57, seconds=0.4, release=True)
  with_release = sampler.Bank([recorded], [rel], rate=RATE).play(
      57.0, 100, 0.5)
  assert len(with_release.audio) > len(note.audio)
  # Held by a pedal: longer, still labelled.
  pedal = bank.play(57.0, 100, 0.5, sustain_seconds=0.5)
  assert np.all(pedal.f0[:int(1.0 * RATE) // 256] > 0)


def test_measurements_are_stored_and_reused(tmp_path, monkeypatch):
  from data_pipelines.real_samples import measurements  # pylint: disable=g-import-not-at-top
  samples, _ = philharmonia.read(str(_philharmonia(tmp_path)))
  store = str(tmp_path / 'measured.npz')
  kept, dropped = measurements.measure_all(samples, store)
  assert [s.instrument for s, _ in kept] == ['violin', 'french horn']
  assert dropped == {'off pitch': 1}
  calls = []
  monkeypatch.setattr(pitch, 'measure',
                      lambda *a, **k: calls.append(a) or None)
  again, dropped_again = measurements.measure_all(samples, store)
  assert not calls  # read back, not measured
  assert dropped_again == dropped
  for (_, a), (_, b) in zip(kept, again):
    assert (a.start, a.verdict) == (b.start, b.verdict)
    np.testing.assert_allclose(a.f0, b.f0, rtol=1e-6)


def test_held_out_instruments_never_reach_train_or_valid(tmp_path):
  from data_pipelines.real_samples import splits  # pylint: disable=g-import-not-at-top
  samples, _ = philharmonia.read(str(_philharmonia(tmp_path)))
  piano = library.Sample(path='p.ogg', library='salamander',
                         instrument='grand piano', family='keyboard', midi=60)
  parts = splits.split_samples(samples + [piano])
  assert {s.instrument for s in parts['test']} == {'french horn',
                                                   'grand piano'}
  assert not [s for s in parts['train_valid'] if splits.held_out(s)]
  # Per family, at least one held-out instrument.
  families = {'strings', 'woodwind', 'brass'}
  held = {'viola': 'strings', 'banjo': 'strings', 'oboe': 'woodwind',
          'bass clarinet': 'woodwind', 'french horn': 'brass'}
  assert set(held.values()) == families
  assert set(splits.HELD_OUT_INSTRUMENTS['philharmonia']) == set(held)


def test_a_score_played_by_samples_is_labelled_by_their_f0(tmp_path):
  from data_pipelines.generated import pieces  # pylint: disable=g-import-not-at-top
  from data_pipelines.real_samples import renders  # pylint: disable=g-import-not-at-top
  low = sampler.Bank([_recorded(tmp_path, f'low{m}', 440 * 2 ** ((m - 69) / 12),
                                m, seconds=3.0) for m in (45, 50, 55)],
                     rate=RATE)
  high = sampler.Bank([_recorded(tmp_path, f'hi{m}', 440 * 2 ** ((m - 69) / 12),
                                 m, seconds=3.0, vibrato_cents=25.0)
                       for m in (64, 69, 74)], rate=RATE)
  lo, hi = renders.playable_range(low)  # 45 .. 55 +- 3, as measured
  assert lo in (42, 43) and hi in (57, 58)
  bass = pieces.Part(np.array([0.0, 2.0]), np.array([2.0, 2.0]),
                     np.array([33, 50]), 'bass')  # 33 folds up to 45
  tune = pieces.Part(np.array([0.0, 1.0, 2.0, 3.0]), np.ones(4),
                     np.array([69, 71, 72, 86]), 'melody')  # 86 folds to 74
  audio, labels, notes = renders.render_track(
      np.random.default_rng(0), [bass, tune], [low, high], bpm=120.0,
      seconds=2.5, chain=False)
  # The notes played: onset, note-off, the f0 they were held at.
  assert len(notes) == 6 and np.all(notes[:, 1] > notes[:, 0])
  assert sorted(int(round(12 * np.log2(f / 440) + 69)) for f in notes[:, 2]
                ) == [45, 50, 69, 71, 72, 74]
  assert audio.shape == (int(2.5 * RATE),) and np.abs(audio).max() == 1.0
  midi = [12 * np.log2(f / 440) + 69 for f in labels.freqs if len(f)]
  # At most two notes a part: a released note overlaps the next one while
  # its release is within 30 dB of it.
  assert max(len(f) for f in labels.freqs) <= 4
  sounding = {int(round(m)) for frame in midi for m in frame}
  assert sounding <= {45, 50, 69, 71, 72, 74}, sounding  # 86 -> 74
  assert {45, 69, 74} <= sounding
  # Each label frame holds a pitch the audio holds: the spectrum has a peak
  # within a semitone of every labelled f0 (checked mid-note).
  k = int(0.4 * RATE) // 256
  frame = audio[k * 256 - 1024:k * 256 + 1024] * np.hanning(2048)
  spectrum = np.abs(np.fft.rfft(frame))
  for f in labels.freqs[k]:
    b = int(round(f * 2048 / RATE))
    assert spectrum[b - 1:b + 2].max() > 0.1 * spectrum.max(), f
  # Recorded: the same score through a room and chain keeps its labels.
  _, chained, _ = renders.render_track(
      np.random.default_rng(0), [bass, tune], [low, high], bpm=120.0,
      seconds=2.5)
  assert [len(f) for f in chained.freqs] == [len(f) for f in labels.freqs]


# ------------------------------------------------------------------ corpus ---


def _library_root(root):
  """A Philharmonia copy with 12 notes each of violin and cello (train
  instruments) and viola (held out)."""
  data = root / 'philharmonia' / 'data'
  rows = [',file,filename,filesize,family,instrument,note,octave,pitch,'
          'length,dynamic,style']
  names = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')
  k = 0
  for instrument, first in (('violin', 67), ('cello', 48), ('viola', 60)):
    for midi in range(first, first + 24, 2):
      note, octave = names[midi % 12], midi // 12 - 1
      name = f'{instrument}_{note.replace("#", "s")}{octave}_1_forte_arco'
      rel = f'strings/{instrument}/{name}.mp3'
      (data / rel).parent.mkdir(parents=True, exist_ok=True)
      sf.write(data / rel, _tone(440 * 2 ** ((midi - 69) / 12), 1.2,
                                 lead=0.02)[0], RATE, format='MP3')
      rows.append(f'{k},{rel},{name},1,strings,{instrument},{note},{octave}.0'
                  f',,1,forte,arco-normal')
      k += 1
  (data / 'data.csv').write_text('\n'.join(rows) + '\n')
  return root


def test_realsamples_tracks_hold_out_instruments(tmp_path):
  from data_pipelines.real_samples import realsamples  # pylint: disable=g-import-not-at-top
  root = _library_root(tmp_path)
  reader = realsamples.RealSamples(
      str(root), n_tracks={s: 2 for s in realsamples.SPLITS},
      seconds={s: 3.0 for s in realsamples.SPLITS}, music21_share=0.0)
  banks = reader.banks()
  assert sorted(banks['train_valid']) == ['philharmonia:cello',
                                          'philharmonia:violin']
  assert sorted(banks['test']) == ['philharmonia:viola']
  for split in realsamples.SPLITS:
    for track_id in reader.track_ids(split):
      _, parts, chosen, _, _ = reader.plan(track_id)
      assert len(chosen) == len(parts)
      if split == 'test':
        assert set(chosen) == {'philharmonia:viola'}
      else:
        assert 'philharmonia:viola' not in chosen
  record = reader.load('valid/00001')
  assert record.audio.shape == (3 * RATE,) and np.abs(record.audio).max() > 0
  labelled = [f for f in record.annotation.freqs if len(f)]
  assert len(labelled) > 0.3 * len(record.annotation.freqs)
  again = realsamples.RealSamples(
      str(root), n_tracks={s: 2 for s in realsamples.SPLITS},
      seconds={s: 3.0 for s in realsamples.SPLITS}, music21_share=0.0)
  np.testing.assert_array_equal(again.load('valid/00001').audio,
                                record.audio)  # a pure function of its id
  assert os.path.exists(root / 'measurements.npz')  # measured once


def test_realsamples_without_the_library_is_one_line(tmp_path):
  from data_pipelines.real_samples import realsamples  # pylint: disable=g-import-not-at-top
  with pytest.raises(library.LibraryError) as info:
    realsamples.RealSamples(str(tmp_path))
  assert '\n' not in str(info.value) and 'jurihock/philharmonia' in str(
      info.value)


def test_realsamples_prepares_into_shards_and_errors_are_one_line(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from data_pipelines import prepare, prepared  # pylint: disable=g-import-not-at-top
  from data_pipelines.real_samples import realsamples  # pylint: disable=g-import-not-at-top
  root = _library_root(tmp_path / 'lib')
  reader = realsamples.RealSamples(
      str(root), n_tracks={s: 2 for s in realsamples.SPLITS},
      seconds={s: 2.0 for s in realsamples.SPLITS}, music21_share=0.0)
  out = str(tmp_path / 'prepared')
  directory = prepare.prepare_split(reader, 'test', out, chunk_seconds=1.0)
  assert prepared.is_prepared(out, 'realsamples', 'test')
  assert directory.endswith(os.path.join('realsamples', 'test'))
  # Without the libraries: one line naming what is missing and where to get
  # it, nothing written.
  (tmp_path / 'empty').mkdir()
  done = subprocess.run(
      [sys.executable, '-m', 'data_pipelines.prepare', '--dataset=realsamples',
       f'--manual_dir={tmp_path / "empty"}', f'--data_dir={tmp_path / "x"}'],
      capture_output=True, text=True, check=False,
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert done.returncode != 0
  lines = [l for l in done.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and 'jurihock/philharmonia' in lines[0], lines
  assert not (tmp_path / 'x').exists()


def test_realsamples_eval_sets_need_the_library_folder():
  from data_pipelines import corpus, eval_sets  # pylint: disable=g-import-not-at-top
  import tiny_config  # pylint: disable=g-import-not-at-top
  config = tiny_config.get_config()
  assert {'realsamples/valid', 'realsamples/test'} <= set(eval_sets.EVAL_SETS)
  with pytest.raises(corpus.DatasetNotFoundError, match='dataset_dirs'):
    eval_sets.EVAL_SETS['realsamples/valid'](config)


def test_evaluate_takes_the_library_folder(tmp_path, capsys):
  from mpe_jax import evaluate  # pylint: disable=g-import-not-at-top
  status = evaluate.run(['mpe_jax.evaluate', '--checkpoint=gm_joint_v2',
                         '--dataset=realsamples/valid',
                         f'--dataset_dir={tmp_path}',
                         f'--output_dir={tmp_path / "out"}'])
  err = capsys.readouterr().err.strip().splitlines()
  assert status != 0 and len(err) == 1, err
  assert 'philharmonia' in err[0] and str(tmp_path) in err[0]
