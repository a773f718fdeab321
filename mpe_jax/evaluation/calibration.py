"""The peak threshold chosen on a validation set (host side).

A trained salience model's output is not calibrated to the default 0.5: the
supervised BCE on blurred, sparse targets leaves true peaks anywhere from
0.2 to 0.9. ``sweep`` scores one set at several thresholds from one salience
computation per track; ``best`` picks the threshold of the highest mean F1.
The chosen value is what a shipped model stores as ``config.eval.threshold``
(``python -m mpe_jax.pretrained --export=... --calibrate_on=SET``). With
``lows`` the sweep also tries temporal hysteresis (a continuation threshold,
``config.eval.continue_threshold``) under each threshold.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mpe_jax.evaluation import multipitch

DEFAULT_GRID = tuple(round(0.05 * k, 2) for k in range(1, 15))  # 0.05-0.70


DEFAULT_LOWS = (0.15, 0.2, 0.25, 0.3)  # continuation thresholds tried


def _check(tracks: Sequence, thresholds: Sequence[float]) -> None:
  if not tracks:
    raise ValueError('threshold calibration needs at least one track')
  bad = [t for t in thresholds if not 0.0 < float(t) < 1.0]
  if bad or not thresholds:
    raise ValueError(f'thresholds must lie in (0, 1), got {list(thresholds)}')


def _mean_f1(predictor, saliences, tracks, threshold: float,
             low: float) -> float:
  f1 = []
  for salience, track in zip(saliences, tracks):
    est = multipitch.salience_to_multipitch(
        salience, predictor.bin_frequencies, float(threshold), float(low))
    times = predictor.frame_times(salience.shape[-1])
    f1.append(multipitch.evaluate_multipitch(
        track.ref_times, track.ref_freqs, times, est)['f1'])
  return float(np.mean(f1))


def sweep(predictor, tracks: Sequence,
          thresholds: Sequence[float] = DEFAULT_GRID,
          lows: Sequence[float] = ()) -> dict:
  """Mean F1 over ``tracks`` at each threshold.

  Args:
    predictor: an ``inference.Predictor``.
    tracks: ``data_pipelines.tracks.Track`` items (audio, reference grid).
    thresholds: peak thresholds on the salience, in (0, 1).
    lows: continuation thresholds (hysteresis, ``peaks.PeakDecoder``) to
      try with every threshold above them; empty: none.

  Returns:
    ``{threshold: F1}`` without ``lows``; with them ``{(threshold, low):
    F1}``, ``low = 0`` standing for the threshold alone.

  Raises:
    ValueError: no tracks, or a threshold outside (0, 1).
  """
  _check(tracks, thresholds)
  if lows:
    _check(tracks, lows)
  saliences = [predictor.salience(np.asarray(t.audio, np.float32))
               for t in tracks]
  if not lows:
    return {float(t): _mean_f1(predictor, saliences, tracks, t, 0.0)
            for t in thresholds}
  return {(float(t), float(low)): _mean_f1(predictor, saliences, tracks, t,
                                           low)
          for t in thresholds for low in (0.0, *lows) if low < t}


def best(scores: dict):
  """The key of the highest mean F1 (on a tie the lower threshold, then no
  or the higher continuation threshold)."""
  def order(key):
    if isinstance(key, tuple):
      threshold, low = key
      return (-scores[key], threshold, -low if low else -1.0)
    return (-scores[key], key)
  return min(scores, key=order)
