"""Tests for data_pipelines.labels: bins, time grids, resampling, note lists."""

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from data_pipelines import labels

HOP_S = 256 / 22050


def test_hz_to_bins_reference_points():
  top = 27.5 * 2 ** (439 / 60)
  got = labels.hz_to_bins([440.0, 27.5, 55.0, top, 261.6255653])
  # A4 is 4 octaves above A0 -> 4 * 60; C4 = MIDI 60 = 39 semitones above A0.
  np.testing.assert_array_equal(got, [240, 0, 60, 439, 195])
  assert got.dtype == np.int64


def test_hz_to_bins_tie_goes_to_lower_bin():
  between_10_and_11 = 27.5 * 2 ** (10.5 / 60)
  np.testing.assert_array_equal(labels.hz_to_bins([between_10_and_11]), [10])
  np.testing.assert_array_equal(
      labels.hz_to_bins([between_10_and_11 * 1.0001]), [11])
  np.testing.assert_array_equal(
      labels.hz_to_bins([between_10_and_11 / 1.0001]), [10])


def test_hz_to_bins_drops_out_of_range_and_keeps_order():
  just_below = 27.5 * 2 ** (-0.3 / 60)  # nearest bin 0, but below fmin
  just_above = 27.5 * 2 ** (439.3 / 60)  # above the top bin centre
  got = labels.hz_to_bins(
      [880.0, 20.0, 0.0, -5.0, 5000.0, just_below, just_above, 110.0])
  np.testing.assert_array_equal(got, [300, 120])
  assert labels.hz_to_bins([]).shape == (0,)


def test_hz_to_bins_other_grid():
  got = labels.hz_to_bins([110.0, 220.0], fmin=55.0, bins_per_octave=12,
                          n_bins=13)
  np.testing.assert_array_equal(got, [12])  # 220 Hz = bin 24 is out of range


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=27.5, max_value=27.5 * 2 ** (439 / 60)))
def test_hz_to_bins_is_nearest_bin(freq):
  centres = labels.bins_to_hz(np.arange(440))
  dist = np.abs(np.log2(centres / freq))
  nearest = np.sort(dist)
  if nearest[1] - nearest[0] < 1e-9:  # a tie: covered elsewhere
    return
  assert labels.hz_to_bins([freq])[0] == np.argmin(dist)


def test_bins_to_hz_round_trip():
  k = np.arange(440)
  np.testing.assert_array_equal(labels.hz_to_bins(labels.bins_to_hz(k)), k)
  assert labels.bins_to_hz([240])[0] == pytest.approx(440.0)


def test_frame_times():
  np.testing.assert_allclose(labels.frame_times(4),
                             [0, HOP_S, 2 * HOP_S, 3 * HOP_S])
  np.testing.assert_allclose(labels.frame_times(3, 512, 16000),
                             [0, 0.032, 0.064])


def test_resample_multipitch_nearest_and_edges():
  ref_times = [1.0, 2.0, 3.0]
  ref_freqs = [np.array([100.0]), np.array([]), np.array([300.0, 400.0])]
  target = [0.0, 1.0, 1.49, 1.5, 1.51, 2.6, 3.0, 9.0]
  got = labels.resample_multipitch(ref_times, ref_freqs, target)
  expected = [[100.0], [100.0], [100.0], [100.0],  # 1.5 ties -> earlier
              [], [300.0, 400.0], [300.0, 400.0], [300.0, 400.0]]
  assert len(got) == len(target)
  for g, e in zip(got, expected):
    np.testing.assert_array_equal(g, e)


def test_resample_multipitch_copies_and_empty():
  ref_freqs = [np.array([100.0])]
  got = labels.resample_multipitch([0.0], ref_freqs, [0.0, 1.0])
  got[0][0] = -1.0
  assert ref_freqs[0][0] == 100.0 and got[1][0] == 100.0
  empty = labels.resample_multipitch([], [], [0.0, 1.0])
  assert [e.size for e in empty] == [0, 0]
  with pytest.raises(ValueError):
    labels.resample_multipitch([0.0, 1.0], [np.array([1.0])], [0.0])


def test_multipitch_to_grid_hand_computed():
  # Frame n is at n * 11.61 ms; the boundary between the two annotation
  # frames is 0.075 s, between frames 6 (69.7 ms) and 7 (81.3 ms). Frames
  # before 0.05 s take the first annotation frame (edge rule).
  ref_times = [0.05, 0.10]
  ref_freqs = [np.array([440.0]), np.array([220.0, 5000.0])]
  grid = labels.multipitch_to_grid(ref_times, ref_freqs, 20)
  expected = np.zeros((440, 20), np.uint8)
  expected[240, :7] = 1
  expected[180, 7:] = 1  # 5000 Hz is out of range: dropped
  assert grid.dtype == np.uint8 and grid.shape == (440, 20)
  np.testing.assert_array_equal(grid, expected)


def test_multipitch_to_grid_tie_and_duplicates():
  mid = 27.5 * 2 ** (100.5 / 60)
  grid = labels.multipitch_to_grid([0.0], [np.array([mid, mid, 440.0])], 3)
  assert grid.sum() == 6
  np.testing.assert_array_equal(np.flatnonzero(grid[:, 0]), [100, 240])


def test_multipitch_to_grid_custom_hop():
  grid = labels.multipitch_to_grid(
      [0.0, 0.032], [np.array([]), np.array([55.0])], 3, hop_length=512,
      sample_rate=16000, n_bins=100)
  assert grid.shape == (100, 3)
  np.testing.assert_array_equal(np.flatnonzero(grid.sum(0)), [1, 2])
  assert grid[60, 1] == 1


def test_frequencies_to_grid_single_f0_rows():
  f0 = np.array([0.0, 440.0, 27.5, 0.0])
  grid = labels.frequencies_to_grid(f0[:, None])
  assert grid.shape == (440, 4)
  np.testing.assert_array_equal(np.argwhere(grid), [[0, 2], [240, 1]])


def test_notes_to_multipitch_onset_inclusive_offset_exclusive():
  times = np.array([0.0, 0.1, 0.2, 0.3])
  onsets = [0.1, 0.0, 0.2, 0.1]
  offsets = [0.3, 0.1, 0.2, 0.25]  # the third note has zero length
  pitches = [100.0, 200.0, 300.0, 400.0]
  got = labels.notes_to_multipitch(onsets, offsets, pitches, times)
  expected = [[200.0], [100.0, 400.0], [100.0, 400.0], []]
  assert len(got) == 4
  for g, e in zip(got, expected):
    np.testing.assert_array_equal(g, e)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 2), st.floats(0, 1),
                          st.floats(30, 4000)), max_size=12),
       st.integers(1, 40))
def test_notes_to_multipitch_matches_brute_force(notes, n_times):
  times = np.linspace(0.0, 2.5, n_times)
  onsets = np.array([n[0] for n in notes])
  offsets = onsets + np.array([n[1] for n in notes])
  pitches = np.array([n[2] for n in notes])
  got = labels.notes_to_multipitch(onsets, offsets, pitches, times)
  for t, g in zip(times, got):
    np.testing.assert_array_equal(
        g, pitches[(onsets <= t) & (t < offsets)])


def test_notes_to_multipitch_validates():
  with pytest.raises(ValueError):
    labels.notes_to_multipitch([0.0], [1.0, 2.0], [100.0], [0.0])
  with pytest.raises(ValueError):
    labels.notes_to_multipitch([0.0], [1.0], [100.0], [1.0, 0.0])
