"""The one-call Python API: ``mpe_jax.transcribe_file`` / ``transcribe_array``
with the shipped model, and the result's writers."""

import mido
import numpy as np
import pytest
import soundfile as sf

import mpe_jax
from data_pipelines import audio as audio_lib
from mpe_jax import outputs

RATE = 44100  # not the model's rate: resampled on the way in


def _a_major(seconds=2.0):
  t = np.arange(int(seconds * RATE)) / RATE
  tones = [sum(np.sin(2 * np.pi * h * f * t) / h for h in range(1, 7))
           for f in (220.0, 277.18, 329.63)]  # harmonic tones, A major
  return (0.1 * sum(tones)).astype(np.float32)


def test_array_and_file_give_the_same_transcription(tmp_path):
  audio = _a_major()
  stereo = np.stack([audio, audio], axis=1)
  result = mpe_jax.transcribe_array(stereo, RATE, cache=False)
  assert result.salience.shape[0] == len(result.frequencies)
  assert len(result.times) == result.salience.shape[1] == len(
      result.multipitch)
  assert result.notes, 'no note in a held chord'
  assert 57 in {n.pitch for n in result.notes}  # A3 = 220 Hz
  path = tmp_path / 'chord.wav'
  sf.write(path, audio, RATE, subtype='FLOAT')
  again = mpe_jax.transcribe_file(path, cache=False)
  np.testing.assert_allclose(again.salience, result.salience, atol=1e-4)

  midi = result.write_midi(str(tmp_path / 'chord.mid'))
  pitches = {m.note for m in mido.MidiFile(midi) if m.type == 'note_on'
             and m.velocity > 0}
  assert pitches == {n.pitch for n in result.notes}
  times, freqs = outputs.read_multipitch(result.write_txt(
      str(tmp_path / 'chord.multipitch.txt')))
  np.testing.assert_allclose(times, result.times, atol=1e-6)
  for got, want in zip(freqs, result.multipitch):
    np.testing.assert_allclose(got, want, atol=1e-3)
  with np.load(result.write_npz(str(tmp_path / 'chord.npz'))) as data:
    np.testing.assert_array_equal(data['salience'], result.salience)


def test_api_errors_are_one_line(tmp_path):
  bad = tmp_path / 'not_audio.wav'
  bad.write_text('hello')
  with pytest.raises(audio_lib.AudioError) as info:
    mpe_jax.transcribe_file(bad, cache=False)
  assert '\n' not in str(info.value) and 'not_audio.wav' in str(info.value)
  with pytest.raises(ValueError, match='NaN'):
    mpe_jax.transcribe_array(np.full(1000, np.nan, np.float32), RATE,
                             cache=False)


def test_channel_layouts_give_the_same_transcription():
  """``[N]``, ``[N, C]`` (soundfile) and ``[C, N]`` (librosa) are the same
  audio; a shape whose channel axis cannot be told is a one-line error."""
  audio = _a_major(1.0)
  stereo = np.stack([audio, audio], axis=1)
  mono = mpe_jax.transcribe_array(audio, RATE, cache=False)
  for layout in (stereo, stereo.T):
    result = mpe_jax.transcribe_array(layout, RATE, cache=False)
    np.testing.assert_allclose(result.salience, mono.salience, atol=1e-5)
    assert [n.pitch for n in result.notes] == [n.pitch for n in mono.notes]
  for bad in (np.zeros((4, 4), np.float32), np.zeros((20, 30), np.float32),
              np.zeros((2, 2, 100), np.float32)):
    with pytest.raises(ValueError) as info:
      mpe_jax.transcribe_array(bad, RATE, cache=False)
    assert '\n' not in str(info.value)


def test_options_of_the_command_in_python(tmp_path):
  audio = _a_major(2.0)
  plain = mpe_jax.transcribe_array(audio, RATE, cache=False)
  # A frequency range leaves out the pitches outside it, notes and frames.
  high = mpe_jax.transcribe_array(audio, RATE, cache=False,
                                  min_frequency=250.0)
  assert high.notes and min(n.pitch for n in high.notes) >= 59
  assert all(np.all(f >= 250.0) for f in high.multipitch)
  assert 57 not in {n.pitch for n in high.notes}
  np.testing.assert_array_equal(high.salience, plain.salience)
  with pytest.raises(ValueError, match='frequency range'):
    mpe_jax.transcribe_array(audio, RATE, cache=False, min_frequency=500.0,
                             max_frequency=100.0)
  # The shortest note kept.
  none = mpe_jax.transcribe_array(audio, RATE, cache=False,
                                  min_note_seconds=10.0)
  assert not none.notes
  # The MIDI tempo changes ticks, not seconds.
  slow = mido.MidiFile(plain.write_midi(str(tmp_path / 'slow.mid'),
                                        tempo_bpm=60))
  fast = mido.MidiFile(plain.write_midi(str(tmp_path / 'fast.mid')))
  assert [m.tempo for m in slow if m.type == 'set_tempo'] == [1_000_000]
  assert abs(slow.length - fast.length) < 0.01
  # The note events: one row per note.
  rows = open(plain.write_notes(str(tmp_path / 'a.notes.csv'))).read()
  lines = rows.splitlines()
  assert lines[0] == ('start_time_s,end_time_s,pitch_midi,velocity,'
                      'mean_bend_cents,note')
  assert len(lines) == len(plain.notes) + 1
