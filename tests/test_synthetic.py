"""Tests for data_pipelines.generated.synthetic: notes, mixtures, labels, determinism."""

import numpy as np
import pytest
import scipy.signal

from data_pipelines.generated import synthetic

SR = 22050
HOP = 256


def _cents(a, b):
  return 1200.0 * np.log2(np.asarray(a) / np.asarray(b))


def _spectrum_db(x, n_fft=1 << 16):
  """Blackman-Harris magnitude spectrum (dB re its max) and bin freqs."""
  x = np.asarray(x, np.float64)
  mag = np.abs(np.fft.rfft(x * scipy.signal.get_window('blackmanharris',
                                                        len(x)), n_fft))
  freqs = np.arange(len(mag)) * SR / n_fft
  return 20 * np.log10(mag / mag.max() + 1e-15), freqs


def _instantaneous_f0(x, f0_nominal):
  """Instantaneous frequency (Hz, per sample) of the band around the f0."""
  band = [f0_nominal * 2 ** (-3 / 12), f0_nominal * 2 ** (3 / 12)]
  sos = scipy.signal.butter(6, band, btype='band', fs=SR, output='sos')
  analytic = scipy.signal.hilbert(scipy.signal.sosfiltfilt(sos, x))
  freq = np.diff(np.unwrap(np.angle(analytic))) * SR / (2 * np.pi)
  freq = np.append(freq, freq[-1])
  return np.convolve(freq, np.ones(129) / 129, mode='same')


def _find_notes(predicate, count, *, seed=0, midi_range=(21, 108), limit=300):
  found = []
  for index in range(limit):
    note = synthetic.synth_note(seed, index, midi_range=midi_range)
    if predicate(note):
      found.append(note)
      if len(found) == count:
        return found
  raise AssertionError(f'only {len(found)} matching notes in {limit}')


# ------------------------------------------------------------------- notes


def test_note_shapes_and_ranges():
  note = synthetic.synth_note(0, 0)
  assert note.audio.shape == (88200,) and note.audio.dtype == np.float32
  assert np.max(np.abs(note.audio)) == pytest.approx(1.0)
  assert note.f0_hz.shape == (1 + 88200 // HOP,) == (345,)
  assert 21 <= note.midi <= 108 and note.midi == int(note.midi)
  voiced = note.f0_hz[note.f0_hz > 0]
  assert voiced.size > 0
  assert np.all(np.abs(_cents(voiced, synthetic.midi_to_hz(note.midi))) <= 30)
  # NSynth-like: label present early, gone at the end of a 4-s note.
  assert note.f0_hz[5] > 0


def test_note_is_deterministic_and_keyed():
  a = synthetic.synth_note(3, 7)
  b = synthetic.synth_note(3, 7)
  np.testing.assert_array_equal(a.audio, b.audio)
  np.testing.assert_array_equal(a.f0_hz, b.f0_hz)
  assert a.midi == b.midi and a.info == b.info
  for other in (synthetic.synth_note(3, 8), synthetic.synth_note(4, 7),
                synthetic.synth_note(3, 7, split='valid')):
    assert not np.array_equal(a.audio, other.audio)


def test_note_options():
  note = synthetic.synth_note(0, 1, seconds=1.0, midi_range=(60, 60),
                              sample_rate=16000, hop_length=128)
  assert note.audio.shape == (16000,) and note.f0_hz.shape == (126,)
  assert note.midi == 60
  with pytest.raises(ValueError):
    synthetic.synth_note(0, 0, split='training')
  with pytest.raises(ValueError):
    synthetic.synth_note(0, -1)


def _voiced_until(note):
  """Time (s) of the last labelled frame."""
  return np.flatnonzero(note.f0_hz)[-1] * HOP / SR


def test_steady_note_pitch_matches_label():
  notes = _find_notes(lambda n: (n.info['vibrato_depth_cents'] == 0
                                 and _voiced_until(n) > 0.4), 8)
  for note in notes:
    end = min(_voiced_until(note), 1.1)
    steady = note.audio[int(0.1 * SR):int(end * SR)]
    db, freqs = _spectrum_db(steady)
    peaks, _ = scipy.signal.find_peaks(db, height=-30)
    lowest = freqs[peaks[0]]  # the fundamental is never 20 dB below the max
    label = note.f0_hz[int(0.5 * (0.1 + end) * SR) // HOP]
    assert label > 0
    assert abs(_cents(lowest, label)) < 50, (note.midi, lowest, label)


@pytest.mark.parametrize('kind', ['vibrato', 'inharmonic'])
def test_f0_label_tracks_the_audio(kind):
  if kind == 'vibrato':
    predicate = lambda n: n.info['vibrato_depth_cents'] >= 10
  else:
    predicate = lambda n: n.info['inharmonicity'] > 0
  for note in _find_notes(predicate, 3, midi_range=(40, 100)):
    inst = _instantaneous_f0(note.audio.astype(np.float64),
                             synthetic.midi_to_hz(note.midi))
    frames = np.arange(len(note.f0_hz))
    t = frames * HOP / SR
    use = (note.f0_hz > 0) & (t > 0.2) & (t < 2.9)
    assert use.sum() > 20
    err = np.abs(_cents(inst[frames[use] * HOP], note.f0_hz[use]))
    assert np.median(err) < 3 and np.percentile(err, 95) < 10, note.info
    if kind == 'vibrato':  # the label really moves
      assert np.ptp(_cents(note.f0_hz[use], note.f0_hz[use].mean())) > 10


def test_no_aliasing_near_the_top_of_the_range():
  notes = _find_notes(lambda n: n.info['noise_db'] == -np.inf, 6,
                      midi_range=(100, 108))
  for note in notes:
    f0 = synthetic.midi_to_hz(note.midi)
    assert note.info['n_partials'] * f0 * 2 ** (30 / 1200) < SR / 2
    db, freqs = _spectrum_db(note.audio[int(0.1 * SR):int(0.1 * SR) + 16384])
    assert db[freqs < 0.9 * f0].max() < -80  # nothing folded below f0
    peaks, _ = scipy.signal.find_peaks(db, height=-80)
    ratio = freqs[peaks] / f0
    assert np.all(np.abs(ratio - np.round(ratio)) < 0.05), freqs[peaks]


def test_label_rule_on_a_constructed_envelope():
  env = np.linspace(0.0, 2.0, 201)  # peak 2 -> threshold 0.02 = index 2
  active = synthetic.active_mask(env)
  np.testing.assert_array_equal(np.flatnonzero(~active), [0, 1])
  np.testing.assert_array_equal(synthetic.active_mask(env, peak=1.0),
                                env >= 0.01)
  assert not synthetic.active_mask(np.zeros(5)).any()
  # ADSR: -20 dB sustain, released at 1 s by 60 dB per 0.6 s: the -40 dB
  # point is 0.2 s after the note-off.
  t = np.arange(0, 2.0, 1e-3)
  env = synthetic.adsr_envelope(
      t, attack_s=0.01, decay_s=0.05, sustain_db=-20.0,
      sustain_slope_db_per_s=0.0, note_off_s=1.0, release_s=0.6)
  assert env.max() == pytest.approx(1.0)
  assert env[0] == 0.0
  active_t = t[synthetic.active_mask(env)]
  assert active_t[0] == pytest.approx(0.001)  # 1 % of a 10-ms linear attack
  assert active_t[-1] == pytest.approx(1.2, abs=2e-3)
  assert np.all(np.diff(np.flatnonzero(synthetic.active_mask(env))) == 1)


def test_unlabelled_frames_are_quiet():
  for index in range(8):
    note = synthetic.synth_note(1, index)
    x = np.pad(note.audio.astype(np.float64), 256)
    rms = np.sqrt(np.array([np.mean(x[i * HOP:i * HOP + 512] ** 2)
                            for i in range(len(note.f0_hz))]))
    db = 20 * np.log10(rms / rms.max() + 1e-12)
    silent = (note.f0_hz == 0) & (np.arange(len(db)) > 4)
    if silent.any():
      assert db[silent].max() < -25, index


def test_source_splits_and_excerpts():
  train = synthetic.SyntheticSource(5, 'train')
  valid = synthetic.SyntheticSource(5, 'valid')
  np.testing.assert_array_equal(train.note(2).audio,
                                synthetic.synth_note(5, 2).audio)
  assert not np.array_equal(train.note(2).audio, valid.note(2).audio)
  with pytest.raises(ValueError):
    synthetic.SyntheticSource(5, 'dev')

  note = train.note(2)
  n = 11025
  audio, f0 = train.note_excerpt(2, n)
  assert audio.shape == (n,) and audio.dtype == np.float32
  assert f0.shape == (1 + n // HOP,)
  a2, f2 = train.note_excerpt(2, n)
  np.testing.assert_array_equal(audio, a2)
  np.testing.assert_array_equal(f0, f2)
  starts = [s for s in range(0, 88200 - n + 1, HOP)
            if np.array_equal(note.audio[s:s + n], audio)]
  assert len(starts) == 1  # hop-aligned crop of the 4-s note
  s = starts[0] // HOP
  np.testing.assert_array_equal(f0, note.f0_hz[s:s + len(f0)])


def test_short_note_is_zero_padded_with_aligned_labels():
  source = synthetic.SyntheticSource(0, 'train', note_seconds=0.5)
  note = source.note(0)
  audio, f0 = source.note_excerpt(0, 22050)
  nz = np.flatnonzero(audio)
  start = nz[0] - np.flatnonzero(note.audio)[0]
  assert start % HOP == 0
  np.testing.assert_array_equal(audio[start:start + len(note.audio)],
                                note.audio)
  np.testing.assert_array_equal(f0[start // HOP:start // HOP + len(note.f0_hz)],
                                note.f0_hz)
  track = source.note_track(0, 22050)
  assert len(track.ref_times) == len(track.ref_freqs) == len(f0)
  assert all(len(f) <= 1 for f in track.ref_freqs)


# ---------------------------------------------------------------- mixtures


def test_mixture_references():
  polyphony = []
  for index in range(6):
    track = synthetic.synth_mixture(0, index, seconds=3.0, max_voices=6)
    n = len(track.audio)
    assert n == 66150 and track.audio.dtype == np.float32
    assert np.max(np.abs(track.audio)) == pytest.approx(1.0)
    np.testing.assert_allclose(track.ref_times,
                               np.arange(1 + n // HOP) * HOP / SR)
    assert len(track.ref_freqs) == len(track.ref_times)
    counts = [len(f) for f in track.ref_freqs]
    assert max(counts) <= 6
    freqs = np.concatenate(track.ref_freqs)
    assert freqs.size > 0
    assert freqs.min() >= 27.5 and freqs.max() <= 4400
    # Pitches stay near MIDI 28..96 (tuning and vibrato are < 50 cents).
    midi = 69 + 12 * np.log2(freqs / 440)
    assert midi.min() > 27.5 and midi.max() < 96.5
    polyphony.append(max(counts))
  assert max(polyphony) >= 3  # voices overlap in time
  assert len(set(polyphony)) >= 2  # the number of voices varies


def test_mixture_is_deterministic_and_keyed():
  a = synthetic.synth_mixture(1, 2, seconds=2.0)
  b = synthetic.synth_mixture(1, 2, seconds=2.0)
  np.testing.assert_array_equal(a.audio, b.audio)
  assert a.name == b.name
  for fa, fb in zip(a.ref_freqs, b.ref_freqs):
    np.testing.assert_array_equal(fa, fb)
  c = synthetic.synth_mixture(1, 3, seconds=2.0)
  d = synthetic.synth_mixture(1, 2, seconds=2.0, split='test')
  assert not np.array_equal(a.audio, c.audio)
  assert not np.array_equal(a.audio, d.audio)


def test_single_voice_mixture_is_monophonic_and_quiet_when_unlabelled():
  for index in range(3):
    track = synthetic.synth_mixture(4, index, seconds=3.0, max_voices=1)
    labelled = np.array([len(f) for f in track.ref_freqs])
    assert labelled.max() == 1
    x = np.pad(track.audio.astype(np.float64), 256)
    rms = np.sqrt(np.array([np.mean(x[i * HOP:i * HOP + 512] ** 2)
                            for i in range(len(labelled))]))
    db = 20 * np.log10(rms / rms.max() + 1e-12)
    near = np.convolve(labelled > 0, np.ones(5), mode='same') > 0
    if (~near).any():
      assert db[~near].max() < -30


def test_mixture_pitch_matches_audio_for_one_voice():
  track = synthetic.synth_mixture(7, 0, seconds=3.0, max_voices=1)
  f0 = np.array([f[0] if len(f) else 0.0 for f in track.ref_freqs])
  # The longest run of frames with one steady pitch (within 40 cents).
  best, run_start = (0, 0), 0
  for i in range(1, len(f0) + 1):
    if (i == len(f0) or f0[i] == 0 or f0[run_start] == 0
        or abs(_cents(f0[i], f0[run_start])) > 40):
      if f0[run_start] > 0 and i - run_start > best[1] - best[0]:
        best = (run_start, i)
      run_start = i
  lo, hi = best
  assert hi - lo >= 16
  segment = track.audio[(lo + 2) * HOP:(hi - 2) * HOP]
  db, freqs = _spectrum_db(segment)
  peaks, _ = scipy.signal.find_peaks(db, height=-30)
  assert abs(_cents(freqs[peaks[0]], np.median(f0[lo:hi]))) < 50


def test_mixture_validates():
  with pytest.raises(ValueError):
    synthetic.synth_mixture(0, 0, max_voices=0)
