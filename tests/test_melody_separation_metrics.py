"""Single-pitch (melody) and separation scores against hand-computed values."""

import math

import numpy as np
import pytest

from mpe_jax.evaluation import melody
from mpe_jax.evaluation import separation

# A semitone grid 55 .. 440 Hz (bin 24 = 220 Hz, 25 = 233.1 Hz, 36 = 440 Hz).
FREQS = 55.0 * 2.0 ** (np.arange(37) / 12)
TIMES = np.arange(10) * 0.01


def _salience(peaks):
  """[37, 10] salience with one peak per frame: (bin, value) per frame."""
  sal = np.full((len(FREQS), len(peaks)), 0.01)
  for t, (k, v) in enumerate(peaks):
    sal[k, t] = v
  return sal


# Frames: 0-3 right and voiced; 4-5 an octave up; 6 right but below the
# threshold; 7 a semitone off; 8 silent and unvoiced; 9 a voiced false alarm.
PEAKS = [(24, .9)] * 4 + [(36, .8)] * 2 + [(24, .3), (25, .9), (24, .2),
                                         (24, .7)]
REF_F0 = np.array([220.0] * 8 + [0.0, 0.0])


def test_estimate_is_the_argmax_bin_negated_when_unvoiced():
  est = melody.estimate_melody(_salience(PEAKS), FREQS, threshold=0.5)
  np.testing.assert_allclose(
      est, [220] * 4 + [440] * 2 + [-220, FREQS[25], -220, 220])


def test_melody_scores_by_hand():
  scores = melody.evaluate_salience(_salience(PEAKS), FREQS, TIMES, TIMES,
                                    REF_F0, threshold=0.5)
  assert set(scores) == set(melody.MELODY_KEYS)
  # 8 voiced reference frames: pitch right in 0-3 and 6 (voicing ignored).
  assert scores['rpa'] == pytest.approx(5 / 8)
  # The octave errors of frames 4-5 count for chroma, not for pitch.
  assert scores['rca'] == pytest.approx(7 / 8)
  assert scores['voicing_recall'] == pytest.approx(7 / 8)  # all but 6
  assert scores['voicing_false_alarm'] == pytest.approx(1 / 2)  # frame 9
  # Voiced with the right pitch (0-3) plus unvoiced and silent (8): 5 of 10.
  assert scores['overall_accuracy'] == pytest.approx(5 / 10)


def test_threshold_moves_voicing_not_raw_pitch():
  low = melody.evaluate_salience(_salience(PEAKS), FREQS, TIMES, TIMES,
                                 REF_F0, threshold=0.25)
  assert low['rpa'] == pytest.approx(5 / 8)
  assert low['voicing_recall'] == pytest.approx(1.0)  # frame 6 now voiced
  assert low['voicing_false_alarm'] == pytest.approx(1 / 2)


def test_references_take_the_lowest_pitch():
  grid = np.zeros((len(FREQS), 3), np.uint8)
  grid[[12, 24], 0] = 1  # 110 and 220 Hz
  grid[36, 2] = 1
  np.testing.assert_allclose(melody.reference_from_grid(grid, FREQS),
                             [110.0, 0.0, 440.0])
  np.testing.assert_allclose(
      melody.reference_from_multipitch([np.array([220.0, 110.0]),
                                        np.array([]), np.array([330.0])]),
      [110.0, 0.0, 330.0])


def test_estimate_on_another_time_grid_is_resampled():
  # Reference at twice the frame rate over the same span (0 .. 90 ms).
  ref_times = np.arange(19) * 0.005
  ref_f0 = np.full(19, 220.0)
  scores = melody.evaluate_salience(_salience([(24, .9)] * 10), FREQS, TIMES,
                                    ref_times, ref_f0)
  assert scores['rpa'] == pytest.approx(1.0)
  assert scores['overall_accuracy'] == pytest.approx(1.0)


def test_melody_bad_input_is_one_line():
  with pytest.raises(ValueError, match='salience must be'):
    melody.estimate_melody(np.zeros((5, 3)), FREQS)
  with pytest.raises(ValueError, match='frame_times has 3'):
    melody.evaluate_salience(_salience(PEAKS), FREQS, TIMES[:3], TIMES,
                             REF_F0)
  with pytest.raises(ValueError, match='>= 0 Hz'):
    melody.evaluate_melody(TIMES, -REF_F0, TIMES, REF_F0)


# ------------------------------------------------------------ separation ---


def test_nsdr_by_hand():
  s = np.array([1.0, 1.0])
  x = np.array([2.0, 2.0])  # SDR(s, x) = 10 log10(2 / 2) = 0 dB
  e = np.array([1.1, 0.9])  # SDR(s, e) = 10 log10(2 / 0.02) = 20 dB
  assert separation.nsdr(s, e, x) == pytest.approx(20.0, abs=1e-6)
  assert separation.nsdr(s, x, x) == pytest.approx(0.0, abs=1e-9)


def test_filtered_nsdr_by_hand():
  # One tap: the estimate is projected onto s alone.
  s = np.array([1.0, 1.0, 0.0, 0.0])
  x = np.array([1.0, 1.0, 1.0, 1.0])  # projection s, residual 2: 0 dB
  e = np.array([2.0, 2.0, 1.0, 0.0])  # projection 2s (8), residual 1
  assert separation.nsdr(s, e, x, filtered=True, filter_length=1) == (
      pytest.approx(10 * math.log10(8), abs=1e-6))
  # Without the filter the gain of 2 costs: 10 log10(2 / 3) - 0.
  assert separation.nsdr(s, e, x) == pytest.approx(10 * math.log10(2 / 3),
                                                   abs=1e-6)


def test_gnsdr_weights_by_length():
  assert separation.gnsdr([20.0, 10.0], [1, 3]) == pytest.approx(12.5)
  assert separation.gnsdr([4.0], [7.0]) == pytest.approx(4.0)
  with pytest.raises(ValueError, match='one length per NSDR'):
    separation.gnsdr([1.0, 2.0], [1.0])
  with pytest.raises(ValueError, match='> 0'):
    separation.gnsdr([1.0, 2.0], [1.0, 0.0])
  with pytest.raises(ValueError, match='mixture has 3'):
    separation.nsdr(np.ones(2), np.ones(2), np.ones(3))
