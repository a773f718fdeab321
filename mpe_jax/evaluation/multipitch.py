"""Multi-pitch estimates from salience and mir_eval scoring (host side)."""

from __future__ import annotations

from typing import Mapping, Sequence

import mir_eval
import numpy as np

from mpe_jax.evaluation import peaks

# The scores reported per track and averaged per dataset.
SUMMARY_KEYS = ('precision', 'recall', 'accuracy', 'f1')


def salience_to_multipitch(salience: np.ndarray, bin_freqs: np.ndarray,
                           threshold: float = 0.5,
                           low: float = 0.0) -> list[np.ndarray]:
  """``[K, T]`` salience -> T arrays of active frequencies (Hz): the peaks
  at or above ``threshold``, or with ``low`` the peak tracks that reach
  ``threshold`` and continue down to ``low`` (``peaks.PeakDecoder``)."""
  active = peaks.decode(salience, threshold, low)
  return [np.asarray(bin_freqs[active[:, t]], np.float64)
          for t in range(active.shape[1])]


def multipitch_to_frame_activity(freqs: Sequence[np.ndarray]) -> np.ndarray:
  """Number of active pitches per frame, ``[T]`` int."""
  return np.asarray([len(f) for f in freqs], np.int64)


def evaluate_multipitch(ref_times: np.ndarray, ref_freqs: Sequence[np.ndarray],
                        est_times: np.ndarray,
                        est_freqs: Sequence[np.ndarray]) -> dict[str, float]:
  """mir_eval multi-pitch scores of one track plus F1 and degeneration stats.

  Keys: ``precision``, ``recall``, ``accuracy``, the mir_eval error rates
  (lower-case, spaces as underscores), ``f1`` = 2PR / (P + R) from this track's
  P and R, and ``blank_rate`` = fraction of reference-voiced frames for which
  the (time-resampled) estimate is empty.
  """
  ref_freqs = [np.asarray(f, np.float64) for f in ref_freqs]
  est_freqs = [np.asarray(f, np.float64) for f in est_freqs]
  scores = mir_eval.multipitch.evaluate(
      np.asarray(ref_times, np.float64), ref_freqs,
      np.asarray(est_times, np.float64), est_freqs)
  out = {k.lower().replace(' ', '_').replace('-', '_'): float(v)
         for k, v in scores.items()}
  p, r = out['precision'], out['recall']
  out['f1'] = 2 * p * r / (p + r + 1e-8)
  resampled = mir_eval.multipitch.resample_multipitch(
      np.asarray(est_times, np.float64), est_freqs,
      np.asarray(ref_times, np.float64))
  voiced = np.asarray([len(f) > 0 for f in ref_freqs])
  blank = np.asarray([len(f) == 0 for f in resampled])
  out['blank_rate'] = (float(np.mean(blank[voiced])) if voiced.any()
                       else 0.0)
  return out


def mean_scores(per_track: Sequence[Mapping[str, float]]) -> dict[str, float]:
  """Mean of each score over tracks (rounded to 5 decimals, as reported)."""
  if not per_track:
    return {}
  keys = per_track[0].keys()
  return {k: round(float(np.mean([t[k] for t in per_track])), 5)
          for k in keys}
