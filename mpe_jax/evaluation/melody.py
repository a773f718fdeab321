"""Single-pitch (melody) scores of a salience-gram with mir_eval (host side).

One f0 per frame on both sides, in mir_eval's melody convention: Hz > 0 for a
voiced frame, 0 for an unvoiced reference frame, and for an unvoiced estimate
the negated pitch guess (so raw pitch and chroma accuracy can still score the
guess while the voicing measures count the frame as unvoiced).

* Estimate: the argmax bin of each salience frame; voiced when that salience
  is ``>= threshold``.
* Reference: the lowest pitch sounding in each frame (the only one for a
  monophonic part), from a label grid or a mir_eval multi-pitch annotation.

Scores (``evaluate_melody``), all fractions in [0, 1], with mir_eval's
50-cent tolerance; the estimate is resampled to the reference times by
mir_eval (``melody.to_cent_voicing``, linear in cents):

* ``rpa``: raw pitch accuracy, reference-voiced frames whose estimated pitch
  is within 50 cents (the estimate's voicing is ignored);
* ``rca``: raw chroma accuracy, the same modulo octaves;
* ``voicing_recall``: reference-voiced frames estimated voiced;
* ``voicing_false_alarm``: reference-unvoiced frames estimated voiced;
* ``overall_accuracy``: frames with the right voicing and, where voiced, the
  right pitch.
"""

from __future__ import annotations

from typing import Sequence

import mir_eval
import numpy as np

MELODY_KEYS = ('rpa', 'rca', 'voicing_recall', 'voicing_false_alarm',
               'overall_accuracy')


def _check_salience(salience: np.ndarray, bin_freqs: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
  s = np.asarray(salience)
  f = np.asarray(bin_freqs, np.float64).reshape(-1)
  if s.ndim != 2 or s.shape[0] != f.size:
    raise ValueError(f'salience must be [K, T] with K = {f.size} bin '
                     f'frequencies, got shape {s.shape}.')
  return s, f


def estimate_melody(salience: np.ndarray, bin_freqs: np.ndarray,
                    threshold: float = 0.5) -> np.ndarray:
  """One f0 per frame from a ``[K, T]`` salience.

  Args:
    salience: ``[K, T]`` in [0, 1].
    bin_freqs: ``[K]`` centre frequency (Hz) of each bin.
    threshold: a frame is voiced when its largest salience is >= this.

  Returns:
    ``[T]`` float64 Hz: the argmax bin's frequency, negated in unvoiced
    frames.
  """
  s, f = _check_salience(salience, bin_freqs)
  if s.shape[1] == 0:
    return np.zeros(0, np.float64)
  best = np.argmax(s, axis=0)  # [T]
  peak = s[best, np.arange(s.shape[1])]
  return np.where(peak >= threshold, f[best], -f[best])


def reference_from_multipitch(ref_freqs: Sequence[np.ndarray]) -> np.ndarray:
  """``[M]`` f0 (Hz): the lowest positive pitch of each frame, 0 if none."""
  out = np.zeros(len(ref_freqs), np.float64)
  for i, freqs in enumerate(ref_freqs):
    f = np.asarray(freqs, np.float64).reshape(-1)
    f = f[f > 0]
    if f.size:
      out[i] = f.min()
  return out


def reference_from_grid(labels: np.ndarray,
                        bin_freqs: np.ndarray) -> np.ndarray:
  """``[T]`` f0 (Hz) from a ``[K, T]`` label grid: the lowest active bin's
  frequency, 0 in frames without an active bin."""
  grid = np.asarray(labels)
  f = np.asarray(bin_freqs, np.float64).reshape(-1)
  if grid.ndim != 2 or grid.shape[0] != f.size:
    raise ValueError(f'labels must be [K, T] with K = {f.size} bin '
                     f'frequencies, got shape {grid.shape}.')
  active = grid > 0
  lowest = np.argmax(active, axis=0)  # first active bin (0 when none)
  return np.where(active.any(axis=0), f[lowest], 0.0)


def evaluate_melody(ref_times: np.ndarray, ref_f0: np.ndarray,
                    est_times: np.ndarray, est_f0: np.ndarray
                    ) -> dict[str, float]:
  """The single-pitch scores of ``MELODY_KEYS`` (fractions in [0, 1]).

  Args:
    ref_times: ``[M]`` ascending reference times (s).
    ref_f0: ``[M]`` reference Hz (0 = unvoiced).
    est_times: ``[T]`` ascending estimate times (s).
    est_f0: ``[T]`` estimated Hz (<= 0 = unvoiced; negative = a pitch guess).

  Raises:
    ValueError: empty or mismatched arrays.
  """
  ref_times = np.asarray(ref_times, np.float64).reshape(-1)
  ref_f0 = np.asarray(ref_f0, np.float64).reshape(-1)
  est_times = np.asarray(est_times, np.float64).reshape(-1)
  est_f0 = np.asarray(est_f0, np.float64).reshape(-1)
  if ref_times.size == 0 or ref_times.size != ref_f0.size:
    raise ValueError(f'reference needs matching non-empty times and f0, got '
                     f'{ref_times.size} and {ref_f0.size}.')
  if est_times.size == 0 or est_times.size != est_f0.size:
    raise ValueError(f'estimate needs matching non-empty times and f0, got '
                     f'{est_times.size} and {est_f0.size}.')
  if np.any(ref_f0 < 0):
    raise ValueError('reference f0 must be >= 0 Hz (0 = unvoiced).')
  ref_v, ref_c, est_v, est_c = mir_eval.melody.to_cent_voicing(
      ref_times, ref_f0, est_times, est_f0)
  recall, false_alarm = mir_eval.melody.voicing_measures(ref_v, est_v)
  return {
      'rpa': float(mir_eval.melody.raw_pitch_accuracy(ref_v, ref_c, est_v,
                                                      est_c)),
      'rca': float(mir_eval.melody.raw_chroma_accuracy(ref_v, ref_c, est_v,
                                                       est_c)),
      'voicing_recall': float(recall),
      'voicing_false_alarm': float(false_alarm),
      'overall_accuracy': float(mir_eval.melody.overall_accuracy(
          ref_v, ref_c, est_v, est_c)),
  }


def evaluate_salience(salience: np.ndarray, bin_freqs: np.ndarray,
                      frame_times: np.ndarray, ref_times: np.ndarray,
                      ref_f0: np.ndarray, *,
                      threshold: float = 0.5) -> dict[str, float]:
  """``evaluate_melody`` of ``estimate_melody(salience)`` at ``frame_times``.

  Args:
    salience: ``[K, T]`` in [0, 1].
    bin_freqs: ``[K]`` Hz.
    frame_times: ``[T]`` s.
    ref_times: ``[M]`` s.
    ref_f0: ``[M]`` Hz, e.g. ``reference_from_grid`` or
      ``reference_from_multipitch``.
    threshold: voicing threshold on the frame's largest salience.
  """
  est = estimate_melody(salience, bin_freqs, threshold)
  times = np.asarray(frame_times, np.float64).reshape(-1)
  if times.size != est.size:
    raise ValueError(f'frame_times has {times.size} entries but the salience '
                     f'has {est.size} frames.')
  return evaluate_melody(ref_times, ref_f0, times, est)
