"""The peak threshold chosen on a validation set (host side).

A trained salience model's output is not calibrated to the default 0.5: the
supervised BCE on blurred, sparse targets leaves true peaks anywhere from
0.2 to 0.9. ``sweep`` scores one set at several thresholds from one salience
computation per track; ``best`` picks the threshold of the highest mean F1.
The chosen value is what a shipped model stores as ``config.eval.threshold``
(``python -m mpe_jax.pretrained --export=... --calibrate_on=SET``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mpe_jax.evaluation import multipitch

DEFAULT_GRID = tuple(round(0.05 * k, 2) for k in range(1, 15))  # 0.05-0.70


def sweep(predictor, tracks: Sequence,
          thresholds: Sequence[float] = DEFAULT_GRID) -> dict[float, float]:
  """Mean F1 over ``tracks`` at each threshold.

  Args:
    predictor: an ``inference.Predictor``.
    tracks: ``data_pipelines.tracks.Track`` items (audio, reference grid).
    thresholds: peak thresholds on the salience, in (0, 1).

  Raises:
    ValueError: no tracks, or a threshold outside (0, 1).
  """
  if not tracks:
    raise ValueError('threshold calibration needs at least one track')
  bad = [t for t in thresholds if not 0.0 < float(t) < 1.0]
  if bad or not thresholds:
    raise ValueError(f'thresholds must lie in (0, 1), got {list(thresholds)}')
  saliences = [predictor.salience(np.asarray(t.audio, np.float32))
               for t in tracks]
  out = {}
  for threshold in thresholds:
    f1 = []
    for salience, track in zip(saliences, tracks):
      est = multipitch.salience_to_multipitch(
          salience, predictor.bin_frequencies, float(threshold))
      times = predictor.frame_times(salience.shape[-1])
      f1.append(multipitch.evaluate_multipitch(
          track.ref_times, track.ref_freqs, times, est)['f1'])
    out[float(threshold)] = float(np.mean(f1))
  return out


def best(scores: dict[float, float]) -> float:
  """The threshold of the highest mean F1 (the lower one on a tie)."""
  return min(scores, key=lambda t: (-scores[t], t))
