"""The sonification output: the MIDI notes synthesised and mixed with the
input (``--formats=wav``)."""

import numpy as np
import pytest
import soundfile as sf

from mpe_jax import outputs
from mpe_jax import transcribe

RATE = 22050


def test_sonify_plays_each_note_at_its_pitch_and_time():
  notes = [outputs.Note(0.1, 0.6, 69, 100), outputs.Note(0.5, 0.9, 76, 64)]
  audio = outputs.sonify(notes, 0, RATE, RATE)
  assert np.all(audio[:int(0.09 * RATE)] == 0)
  assert np.all(audio[int(0.92 * RATE):] == 0)
  first = audio[int(0.15 * RATE):int(0.45 * RATE)]
  spectrum = np.abs(np.fft.rfft(first))
  freqs = np.fft.rfftfreq(len(first), 1 / RATE)
  assert abs(freqs[np.argmax(spectrum)] - 440.0) < 5
  # Blocks of any size give the same samples.
  blocks = np.concatenate([outputs.sonify(notes, a, 1000, RATE)
                           for a in range(0, RATE, 1000)])[:RATE]
  np.testing.assert_allclose(blocks, audio, atol=1e-9)


def test_command_writes_the_sonified_mix(tmp_path):
  t = np.arange(2 * RATE) / RATE
  tone = sum(np.sin(2 * np.pi * h * 220.0 * t) / h for h in range(1, 7))
  wav = tmp_path / 'a3.wav'
  sf.write(wav, (0.3 * tone).astype(np.float32), RATE)
  for balance in ('0', '1'):
    out = tmp_path / f'out{balance}'
    status = transcribe.run(['transcribe', '--noprogress', '--nocompile_cache',
                             '--formats=wav,mid', f'--output_dir={out}',
                             f'--sonify_balance={balance}', str(wav)])
    assert status == 0
    mix, rate = sf.read(out / 'a3.sonified.wav')
    assert rate == RATE and len(mix) == 2 * RATE
    if balance == '0':  # the recording alone, peak-normalised, at 0.9
      np.testing.assert_allclose(mix, 0.9 * tone / np.abs(tone).max(),
                                 atol=2e-4)
    else:  # the notes alone: A3 found and played (gm_joint_v2 also adds
      # A4, the tone's strong second harmonic, at a lower velocity)
      seg = mix[RATE // 2:3 * RATE // 2]
      freqs = np.fft.rfftfreq(len(seg), 1 / RATE)
      spectrum = np.abs(np.fft.rfft(seg))
      a3 = spectrum[np.abs(freqs - 220.0) < 3].max()
      assert a3 > 0.5 * spectrum.max()
      assert spectrum[freqs < 200].max() < 0.1 * a3  # nothing below A3


def test_sonify_needs_the_audio_and_a_valid_balance(tmp_path):
  with pytest.raises(ValueError, match='needs the audio'):
    outputs.Writers(str(tmp_path / 'x'), ['wav'], np.array([440.0]), 0.01, 3,
                    threshold=0.5)
  with pytest.raises(ValueError, match='balance'):
    outputs.Writers(str(tmp_path / 'x'), ['wav'], np.array([440.0]), 0.01, 3,
                    threshold=0.5, audio=np.zeros(10), sample_rate=RATE,
                    balance=1.5)
  status = transcribe.run(['transcribe', '--sonify_balance=2',
                           str(tmp_path / 'missing.wav')])
  assert status == 2
