"""Peak picking on salience-grams (host side, numpy)."""

from __future__ import annotations

import numpy as np


def peak_mask(salience: np.ndarray, threshold: float = 0.5) -> np.ndarray:
  """Strict local maxima over frequency with value >= ``threshold``.

  ``salience`` is ``[..., K, T]``. Each frame is zero-padded by one bin below
  and above, so an edge bin is a peak when it exceeds its only neighbour;
  plateaus (equal neighbours) are not peaks. Returns a boolean ``[..., K, T]``.
  """
  s = np.asarray(salience)
  pad = [(0, 0)] * s.ndim
  pad[-2] = (1, 1)
  p = np.pad(s, pad)
  centre = p[..., 1:-1, :]
  is_peak = (centre > p[..., :-2, :]) & (centre > p[..., 2:, :])
  return is_peak & (centre >= threshold)


def filter_non_peaks(salience: np.ndarray) -> np.ndarray:
  """Salience with every non-peak bin set to 0 (no threshold)."""
  s = np.asarray(salience)
  return np.where(peak_mask(s, threshold=-np.inf), s, 0.0)
