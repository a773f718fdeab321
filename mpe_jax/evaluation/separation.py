"""Signal-to-distortion ratios of reconstructed audio (host side, numpy).

Two definitions, both in dB and both computed in float64:

* ``sdr``: ``10 log10(||s||^2 / ||s - s_hat||^2)`` -- no projection, so the
  estimate must match level and phase (the "SDR" of the music-demixing
  challenges and ``museval``'s newer metric). All-zero estimates score exactly
  0 dB; a perfect estimate scores ``10 log10(||s||^2 / eps)``.
* ``sdr_filtered``: BSS-Eval's SDR of one source: the estimate is projected
  onto the span of the reference and its delays ``0 .. filter_length - 1``
  (a 512-tap distortion filter is allowed), ``10 log10(||P s_hat||^2 /
  ||s_hat - P s_hat||^2)``. This is ``mir_eval.separation.bss_eval_sources``
  for a single source and torchmetrics' ``SignalDistortionRatio`` (the metric
  of the Timbre-Trap paper's Table 1); it is invariant to gain and to short
  filters. The same ``eps`` is added to both energies, so an all-zero
  estimate also gives 0 dB.

Over a test set (MIR-1K's convention, used by MAJL):

* ``nsdr``: the SDR gain of the estimate over the unprocessed mixture,
  ``SDR(s, s_hat) - SDR(s, x)`` in dB, with either definition above.
* ``gnsdr``: the mean of the tracks' NSDRs weighted by track length.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import scipy.linalg

EPS = 1e-10


def _pair(reference: np.ndarray, estimate: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
  s = np.asarray(reference, np.float64).reshape(-1)
  e = np.asarray(estimate, np.float64).reshape(-1)
  if s.shape != e.shape:
    raise ValueError(f'reference has {s.size} samples but estimate has '
                     f'{e.size}.')
  return s, e


def sdr(reference: np.ndarray, estimate: np.ndarray, *,
        eps: float = EPS) -> float:
  """``10 log10((||s||^2 + eps) / (||s - s_hat||^2 + eps))`` in dB."""
  s, e = _pair(reference, estimate)
  return float(10.0 * np.log10((np.sum(s ** 2) + eps) /
                               (np.sum((s - e) ** 2) + eps)))


def sdr_filtered(reference: np.ndarray, estimate: np.ndarray, *,
                 filter_length: int = 512, eps: float = EPS) -> float:
  """BSS-Eval SDR with a ``filter_length``-tap distortion filter, in dB.

  Solves the normal equations ``R h = b`` (``R`` the Toeplitz autocorrelation
  of the reference over ``filter_length`` lags, ``b`` its cross-correlation
  with the estimate); the projection's energy is ``b . h``.
  """
  s, e = _pair(reference, estimate)
  n_fft = 1 << int(s.size + filter_length - 1).bit_length()
  spec_s = np.fft.rfft(s, n_fft)
  spec_e = np.fft.rfft(e, n_fft)
  auto = np.fft.irfft(np.abs(spec_s) ** 2, n_fft)[:filter_length]
  cross = np.fft.irfft(np.conj(spec_s) * spec_e, n_fft)[:filter_length]
  if auto[0] <= 0:
    raise ValueError('sdr_filtered needs a reference that is not all zeros.')
  # A tiny diagonal load keeps R invertible for narrow-band references.
  auto = auto.copy()
  auto[0] *= 1.0 + 1e-10
  taps = scipy.linalg.solve_toeplitz(auto, cross)
  target = float(np.clip(cross @ taps, 0.0, None))
  residual = max(float(np.sum(e ** 2)) - target, 0.0)
  return float(10.0 * np.log10((target + eps) / (residual + eps)))


def nsdr(reference: np.ndarray, estimate: np.ndarray, mixture: np.ndarray, *,
         filtered: bool = False, filter_length: int = 512,
         eps: float = EPS) -> float:
  """Normalised SDR: ``SDR(s, s_hat) - SDR(s, x)`` in dB.

  Args:
    reference: ``[N]`` target source ``s``.
    estimate: ``[N]`` separated source ``s_hat``.
    mixture: ``[N]`` the mixture ``x`` the estimate was separated from.
    filtered: use ``sdr_filtered`` (with ``filter_length`` taps) instead of
      ``sdr`` for both terms.
    filter_length: distortion-filter taps when ``filtered``.
    eps: energy floor of both terms.

  Raises:
    ValueError: the three signals differ in length.
  """
  if np.size(mixture) != np.size(reference):
    raise ValueError(f'reference has {np.size(reference)} samples but mixture '
                     f'has {np.size(mixture)}.')
  if filtered:
    score = functools.partial(sdr_filtered, filter_length=filter_length,
                              eps=eps)
  else:
    score = functools.partial(sdr, eps=eps)
  return score(reference, estimate) - score(reference, mixture)


def gnsdr(nsdrs: Sequence[float], lengths: Sequence[float]) -> float:
  """Global NSDR: ``sum_i l_i NSDR_i / sum_i l_i`` in dB.

  Args:
    nsdrs: per-track NSDR (dB).
    lengths: per-track length (samples or seconds; only ratios matter), > 0.

  Raises:
    ValueError: empty or mismatched inputs, or a length that is not > 0.
  """
  values = np.asarray(nsdrs, np.float64).reshape(-1)
  weights = np.asarray(lengths, np.float64).reshape(-1)
  if values.size == 0 or values.size != weights.size:
    raise ValueError(f'gnsdr needs one length per NSDR and at least one '
                     f'track, got {values.size} NSDRs and {weights.size} '
                     'lengths.')
  if not np.all(weights > 0):
    raise ValueError(f'gnsdr track lengths must be > 0, got {weights}.')
  return float(np.sum(weights * values) / np.sum(weights))
