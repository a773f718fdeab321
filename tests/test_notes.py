"""Note decoding: onsets that split a repeated note, a legato line, a bent
note and its MIDI pitch bends, a chord.

The unit tests build their audio and salience with numpy; the end-to-end
ones render with FluidSynth (skipped without it) and use the shipped model.
"""

import mido
import numpy as np
import pytest

from mpe_jax import onsets
from mpe_jax import outputs

RATE, HOP = 22050, 256
DT = HOP / RATE
E4 = 329.63


def _struck_tone(f0, strikes, seconds, decay=0.25):
  """Harmonic tone (8 partials) struck at ``strikes`` (s), each attack
  decaying exponentially (time constant ``decay`` s) and adding to the
  previous one, which still rings."""
  t = np.arange(int(seconds * RATE)) / RATE
  env = np.zeros_like(t)
  for s in strikes:
    env += np.where(t >= s, np.exp(-(t - s) / decay), 0.0)
  tone = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 9))
  return (0.2 * env * tone).astype(np.float32)


def _frame(seconds):
  return int(round(seconds / DT))


def test_onset_strength_rises_at_an_attack_of_the_pitch_only():
  # E4 struck twice over a steady C#3 (frames end before the audio).
  audio = (_struck_tone(E4, (0.2, 0.7), 1.6)
           + _struck_tone(138.59, (0.05,), 1.6, decay=100.0))
  n = _frame(1.2)
  strength = onsets.OnsetStrength(RATE, HOP)(audio, 0, n)
  assert strength.shape == (len(onsets.PITCHES), n)
  e4 = strength[64 - 21]
  near = slice(_frame(0.7) - 3, _frame(0.7) + 4)
  assert e4[near].max() >= outputs.ONSET_DB  # the second attack
  assert e4[_frame(0.35):_frame(0.65)].max() < 1.0  # the ringing between
  # The sounding C#3 (harmonics 139, 277, 415, 554 Hz, none of E4's) is
  # not struck again by E4's attack.
  assert strength[49 - 21, _frame(0.3):].max() < outputs.ONSET_DB / 2
  # Blocks give the same values as the whole.
  head = onsets.OnsetStrength(RATE, HOP)(audio, 0, 40)
  tail = onsets.OnsetStrength(RATE, HOP)(audio, 40, n - 40)
  np.testing.assert_allclose(np.concatenate([head, tail], axis=1), strength,
                             atol=1e-3)


def _constant_salience(n, first, last, freq=E4):
  freqs = [np.array([freq]) if first <= t <= last else np.zeros(0)
           for t in range(n)]
  values = [np.array([0.9]) if len(f) else np.zeros(0) for f in freqs]
  return freqs, values


def test_a_repeated_note_is_split_at_its_second_attack():
  audio = _struck_tone(E4, (0.2, 0.7), 1.2)
  n = _frame(1.2)
  strength = onsets.OnsetStrength(RATE, HOP)(audio, 0, n)
  freqs, values = _constant_salience(n, _frame(0.21), n - 1)

  tracker = outputs.NoteTracker(DT)
  tracker.update(0, freqs, values, strength)
  notes = tracker.finish()
  assert [n_.pitch for n_ in notes] == [64, 64]
  assert abs(notes[1].start - 0.7) < 0.03
  assert notes[0].end == notes[1].start  # the first ends where it is struck

  without = outputs.NoteTracker(DT)  # no onsets: one note, as before
  without.update(0, freqs, values)
  assert len(without.finish()) == 1

  # The onset threshold (--onset_threshold): above the attack's rise, the
  # repeated note stays one note.
  rise = strength[64 - 21].max()
  high = outputs.NoteTracker(DT, onset_db=float(rise) + 1.0)
  high.update(0, freqs, values, strength)
  assert len(high.finish()) == 1


def test_a_bent_note_stays_one_note_and_keeps_its_curve():
  n = 60
  midi = 69.0 + 0.3 * np.sin(2 * np.pi * 5.5 * np.arange(n) * DT)  # vibrato
  hz = 440.0 * 2.0 ** ((midi - 69) / 12)
  tracker = outputs.NoteTracker(DT)
  tracker.update(0, [np.array([f]) for f in hz], [np.array([0.8])] * n,
                 np.zeros((len(onsets.PITCHES), n), np.float32))
  (note,) = tracker.finish()
  assert note.pitch == 69 and len(note.curve) == n
  np.testing.assert_allclose(note.curve, midi, atol=2e-3)


def test_refine_frequencies_finds_a_peak_between_bins():
  bins = 27.5 * 2.0 ** (np.arange(440) / 60)
  k, offset = 200, 0.3  # a peak 0.3 bin above bin 200
  salience = np.exp(-0.5 * ((np.arange(440) - k - offset) / 1.2) ** 2)
  block = salience[:, None].astype(np.float32)
  active = np.zeros_like(block, bool)
  active[k, 0] = True
  (refined,) = outputs.refine_frequencies(block, active, bins)
  cents = 1200 * np.log2(refined[0] / bins[k])
  assert abs(cents - offset * 20) < 2.0  # 20-cent bins


def _bent(start, end, pitch, cents):
  frames = int(round((end - start) / DT))
  curve = tuple(pitch + c / 100 for c in np.linspace(0, cents, frames))
  return outputs.Note(start, end, pitch, 90, curve)


def _messages(path):
  now, out = 0, []
  for message in mido.MidiFile(path).tracks[0]:
    now += message.time
    out.append((now, message))
  return out


def test_midi_pitch_bends_follow_the_curve_and_reset(tmp_path):
  notes = [_bent(0.0, 1.0, 60, 100),  # a glide up by a semitone
           _bent(0.5, 1.5, 67, -50),  # overlaps it: another channel
           outputs.Note(0.2, 0.8, 64, 80, (64.0,) * 52),  # in tune
           _bent(1.2, 2.0, 62, 40)]  # after the first: may reuse its channel
  path = str(tmp_path / 'bends.mid')
  outputs.write_midi(path, notes, pitch_bends=True)
  events = _messages(path)
  on = {m.note: (t, m.channel) for t, m in events if m.type == 'note_on'}
  off = {m.note: t for t, m in events if m.type == 'note_off'}
  channels = {p: c for p, (_, c) in on.items()}
  assert channels[64] == 0  # unbent: the shared, never-bent channel
  assert channels[60] != channels[67]  # overlapping bent notes
  assert all(c in outputs.BEND_CHANNELS for p, c in channels.items()
             if p != 64)
  for pitch in (60, 67, 62):
    channel = channels[pitch]
    wheel = [(t, m.pitch) for t, m in events
             if m.type == 'pitchwheel' and m.channel == channel
             and on[pitch][0] <= t <= off[pitch]]
    assert wheel[0][0] == on[pitch][0]  # set at the note-on
    assert wheel[-1] == (off[pitch], 0)  # reset at the note-off
  glide = [v for t, m in events if m.type == 'pitchwheel'
           and m.channel == channels[60] for v in [m.pitch]
           if t < off[60]]
  assert glide == sorted(glide) and glide[-1] == pytest.approx(4096, abs=80)
  assert not any(m.type == 'pitchwheel' and m.channel == 0
                 for _, m in events)
  rpn = [(m.channel, m.control, m.value) for _, m in events
         if m.type == 'control_change']
  assert (channels[60], 6, outputs.BEND_RANGE) in rpn

  plain = str(tmp_path / 'plain.mid')
  outputs.write_midi(plain, notes)
  assert not any(m.type == 'pitchwheel' or m.channel != 0
                 for _, m in _messages(plain) if not m.is_meta)


# ------------------------------------------------- rendered, shipped model --


def _transcribe_rendered(notes, seconds):
  from data_pipelines.generated import fluidsynth_render as fs  # pylint: disable=g-import-not-at-top
  from mpe_jax import inference, transcribe  # pylint: disable=g-import-not-at-top
  audio = fs.render_notes(notes, int(seconds * RATE))
  predictor = inference.load_predictor()
  return transcribe.transcribe_audio(audio / np.abs(audio).max(), RATE,
                                     predictor).notes


def _onset_f1(ref, est):
  from mir_eval import transcription  # pylint: disable=g-import-not-at-top
  hz = lambda p: 440.0 * 2.0 ** ((np.asarray(p, float) - 69) / 12)
  _, _, f1, _ = transcription.precision_recall_f1_overlap(
      np.array([[n.onset, n.offset] for n in ref]), hz([n.pitch for n in ref]),
      np.array([[n.start, n.end] for n in est]), hz([n.pitch for n in est]),
      onset_tolerance=0.05, offset_ratio=None)
  return f1


def _block(seconds):
  from data_pipelines.generated import fluidsynth_render as fs  # pylint: disable=g-import-not-at-top
  step = fs.BLOCK / RATE
  return round(seconds / step) * step


def _line(pitches, program, step=0.3, gap=0.0):
  from data_pipelines.generated import fluidsynth_render as fs  # pylint: disable=g-import-not-at-top
  return [fs.Note(p, _block(0.1 + step * k), _block(0.1 + step * (k + 1) - gap),
                  program, 100) for k, p in enumerate(pitches)]


@pytest.mark.usefixtures('fluidsynth')
def test_rendered_repeated_piano_note_is_several_notes():
  ref = _line([64] * 4, program=0, step=0.4)  # struck again, no pause
  est = _transcribe_rendered(ref, 2.0)
  e4 = [n for n in est if n.pitch == 64]
  # gm_joint_v1 splits 3 of the 4 attacks (the frames alone give 1 note).
  assert len(e4) >= 3
  assert _onset_f1(ref, e4) >= 0.7


@pytest.mark.usefixtures('fluidsynth')
def test_rendered_legato_line_is_one_note_per_pitch():
  ref = _line([67, 69, 71, 72, 74], program=40)  # violin, no pauses
  est = _transcribe_rendered(ref, 1.9)
  # gm_joint_v1: the five notes, each within 30 ms of its onset.
  assert _onset_f1(ref, est) >= 0.9


@pytest.mark.usefixtures('fluidsynth')
def test_rendered_chord_starts_together():
  from data_pipelines.generated import fluidsynth_render as fs  # pylint: disable=g-import-not-at-top
  ref = [fs.Note(p, _block(0.1), _block(1.5), 0, 90) for p in (60, 64, 67)]
  est = _transcribe_rendered(ref, 1.8)
  # gm_joint_v1: the three notes and C5 (C4's octave).
  assert _onset_f1(ref, est) >= 0.8
  assert {60, 64, 67} <= {n.pitch for n in est}
