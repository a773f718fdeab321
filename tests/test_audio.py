"""Tests for data_pipelines.audio: loading, normalisation, excerpts."""

import numpy as np
import pytest
import soundfile as sf

from data_pipelines import audio


def _sine(freq, seconds, rate, amp=0.5):
  t = np.arange(int(round(seconds * rate))) / rate
  return amp * np.sin(2 * np.pi * freq * t)


def test_stereo_flac_is_mixed_to_mono_mean(tmp_path):
  left = _sine(440.0, 0.5, 22050, amp=0.6)
  right = _sine(660.0, 0.5, 22050, amp=0.3)
  path = tmp_path / 'stereo.flac'
  sf.write(path, np.stack([left, right], axis=1), 22050, subtype='PCM_16')
  got = audio.load_audio(path)
  assert got.dtype == np.float32 and got.shape == (11025,)
  stored, _ = sf.read(path, dtype='float32')  # what 16-bit storage kept
  np.testing.assert_allclose(got, stored.mean(axis=1), atol=1e-7)
  np.testing.assert_allclose(got, 0.5 * (left + right), atol=1e-4)


def test_pcm16_wav_scaling(tmp_path):
  ints = np.array([0, 16384, -32768, 32767, -1], dtype=np.int16)
  path = tmp_path / 'pcm16.wav'
  sf.write(path, ints, 22050, subtype='PCM_16')
  got = audio.load_audio(str(path))
  np.testing.assert_array_equal(got, ints.astype(np.float32) / 32768.0)


def test_resampling_44k_to_22k(tmp_path):
  path = tmp_path / 'hi_rate.wav'
  sf.write(path, _sine(1000.0, 1.0, 44100), 44100, subtype='FLOAT')
  got = audio.load_audio(path, sample_rate=22050)
  assert got.dtype == np.float32
  assert got.shape == (22050,)
  spectrum = np.abs(np.fft.rfft(got * np.hanning(len(got))))
  peak_hz = np.argmax(spectrum) * 22050 / len(got)
  assert peak_hz == pytest.approx(1000.0, abs=1.0)
  # Amplitude is preserved away from the edges.
  assert np.max(np.abs(got[2000:-2000])) == pytest.approx(0.5, abs=0.01)


def test_same_rate_is_not_resampled(tmp_path):
  x = _sine(220.0, 0.1, 16000).astype(np.float32)
  path = tmp_path / 'low.wav'
  sf.write(path, x, 16000, subtype='FLOAT')
  np.testing.assert_array_equal(audio.load_audio(path, sample_rate=16000), x)


def _assert_one_line_error(path, fragment):
  with pytest.raises(audio.AudioError) as info:
    audio.load_audio(path)
  message = str(info.value)
  assert str(path) in message
  assert '\n' not in message
  assert fragment in message.lower()


def test_missing_file(tmp_path):
  _assert_one_line_error(tmp_path / 'nope.wav', 'not found')


def test_zero_byte_file(tmp_path):
  path = tmp_path / 'empty.wav'
  path.write_bytes(b'')
  _assert_one_line_error(path, 'empty')


def test_text_file_named_wav(tmp_path):
  path = tmp_path / 'notes.wav'
  path.write_text('this is not audio\n' * 20)
  _assert_one_line_error(path, 'cannot read')


def test_header_without_samples(tmp_path):
  path = tmp_path / 'no_samples.wav'
  sf.write(path, np.zeros(0, np.float32), 22050, subtype='FLOAT')
  assert path.stat().st_size > 0
  _assert_one_line_error(path, 'no samples')


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_non_finite_samples(tmp_path, bad):
  x = np.zeros(100, np.float32)
  x[50] = bad
  path = tmp_path / 'nan.wav'
  sf.write(path, x, 22050, subtype='FLOAT')
  _assert_one_line_error(path, 'nan or inf')


def test_audio_error_is_value_error():
  assert issubclass(audio.AudioError, ValueError)


def test_peak_normalize():
  x = np.array([0.1, -0.4, 0.2], np.float32)
  y = audio.peak_normalize(x)
  assert y.dtype == np.float32
  np.testing.assert_allclose(y, [0.25, -1.0, 0.5])
  assert x[1] == np.float32(-0.4)  # input untouched
  zeros = np.zeros(4, np.float32)
  z = audio.peak_normalize(zeros)
  np.testing.assert_array_equal(z, zeros)
  assert z is not zeros
  assert audio.peak_normalize(np.zeros(0)).shape == (0,)


def test_fix_length_excerpt_crops_a_contiguous_slice():
  x = np.arange(100, dtype=np.float32)
  rng = np.random.default_rng(0)
  starts = set()
  for _ in range(300):
    e = audio.fix_length_excerpt(x, 10, rng)
    assert e.shape == (10,) and e.dtype == np.float32
    np.testing.assert_array_equal(e, np.arange(e[0], e[0] + 10))
    starts.add(int(e[0]))
  assert min(starts) == 0 and max(starts) == 90  # the whole range is used


def test_fix_length_excerpt_pads_short_tracks_at_a_random_offset():
  x = np.arange(1, 6, dtype=np.float32)  # 5 samples, no zeros
  rng = np.random.default_rng(1)
  offsets = set()
  for _ in range(200):
    e = audio.fix_length_excerpt(x, 8, rng)
    nz = np.flatnonzero(e)
    assert len(nz) == 5
    np.testing.assert_array_equal(e[nz[0]:nz[0] + 5], x)
    offsets.add(int(nz[0]))
  assert offsets == {0, 1, 2, 3}


def test_fix_length_excerpt_is_deterministic_and_exact_fit():
  x = np.random.default_rng(3).standard_normal(1000).astype(np.float32)
  a = audio.fix_length_excerpt(x, 300, np.random.default_rng(7))
  b = audio.fix_length_excerpt(x, 300, np.random.default_rng(7))
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(
      audio.fix_length_excerpt(x, 1000, np.random.default_rng(0)), x)


def test_excerpt_start_alignment_and_take_excerpt():
  rng = np.random.default_rng(0)
  for _ in range(100):
    start = audio.excerpt_start(5000, 1000, rng, align=256)
    assert start % 256 == 0 and 0 <= start <= 4000
    pad = audio.excerpt_start(300, 1000, rng, align=256)
    assert pad % 256 == 0 and -700 <= pad <= 0
  x = np.arange(1, 6)
  np.testing.assert_array_equal(audio.take_excerpt(x, -2, 4), [0, 0, 1, 2])
  np.testing.assert_array_equal(audio.take_excerpt(x, 3, 4), [4, 5, 0, 0])
  frames = np.ones((3, 2))
  assert audio.take_excerpt(frames, 1, 4).shape == (4, 2)
  with pytest.raises(ValueError):
    audio.excerpt_start(10, 0, rng)
