"""Peak picking and mir_eval scoring."""

import numpy as np

from mpe_jax.evaluation import multipitch, peaks


def test_peaks_plateaus_and_edges():
  s = np.asarray([0.9, 0.2, 0.7, 0.7, 0.1, 0.6, 0.8])[:, None]  # [K, T=1]
  got = peaks.peak_mask(s, 0.5)[:, 0]
  # bin 0: edge peak (0.9 > padded 0 and > 0.2); 2-3: plateau -> no peak;
  # bin 6: top edge peak; bin 5 rises to 6 -> no peak.
  np.testing.assert_array_equal(got, [1, 0, 0, 0, 0, 0, 1])
  assert not peaks.peak_mask(np.asarray([[0.4], [0.1]]), 0.5).any()
  assert peaks.peak_mask(np.asarray([[0.5], [0.1]]), 0.5)[0, 0]  # >= thresh
  np.testing.assert_array_equal(
      peaks.filter_non_peaks(np.asarray([[0.1], [0.3], [0.2]]))[:, 0],
      [0, 0.3, 0])


def test_salience_to_multipitch_and_perfect_score():
  freqs = 27.5 * 2 ** (np.arange(440) / 60)
  sal = np.zeros((440, 3))
  sal[240, 0] = 0.9  # 440 Hz
  sal[[100, 300], 1] = 0.8
  est = multipitch.salience_to_multipitch(sal, freqs, 0.5)
  assert [len(e) for e in est] == [1, 2, 0]
  assert est[0][0] == np.float64(freqs[240])
  times = np.arange(3) * 256 / 22050
  scores = multipitch.evaluate_multipitch(times, est, times, est)
  assert scores['f1'] > 0.999 and scores['blank_rate'] == 0.0
  blank = multipitch.evaluate_multipitch(times, est, times,
                                         [np.zeros(0)] * 3)
  assert blank['recall'] == 0.0 and blank['blank_rate'] == 1.0


def test_mean_scores():
  m = multipitch.mean_scores([{'f1': 0.5, 'recall': 1.0},
                              {'f1': 0.25, 'recall': 0.0}])
  assert m == {'f1': 0.375, 'recall': 0.5}


def test_ground_truth_salience_of_a_synthetic_mixture_scores_perfectly():
  """The whole evaluation path (grid -> peaks -> Hz -> mir_eval) is lossless."""
  from data_pipelines import labels
  from data_pipelines.generated import synthetic
  from mpe_jax.features.hcqt import HCQTConfig

  cfg = HCQTConfig()
  track = synthetic.synth_mixture(0, 3, split='test', seconds=6.0,
                                  max_voices=4)
  n_frames = cfg.num_frames(len(track.audio))
  grid = labels.multipitch_to_grid(track.ref_times, track.ref_freqs, n_frames)
  assert grid.sum() > 0
  est = multipitch.salience_to_multipitch(grid.astype(np.float32),
                                          cfg.bin_frequencies(1.0), 0.5)
  scores = multipitch.evaluate_multipitch(
      track.ref_times, track.ref_freqs, cfg.frame_times(n_frames), est)
  assert scores['f1'] >= 0.99, scores
