"""Peak picking on salience-grams (host side, numpy)."""

from __future__ import annotations

import math

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


class PeakDecoder:
  """Salience blocks -> (salience, active-peak mask) blocks, in order.

  With ``low`` (0 < low < threshold) the decision has temporal hysteresis:
  the candidates are the peaks at or above ``low``, joined into tracks of
  candidates one bin or less apart in consecutive frames (8-connectivity on
  the ``[K, T]`` grid); a track is active where it reaches ``threshold``
  anywhere, so a note that starts above the threshold continues while it
  fades down to ``low``, and a track that never reaches the threshold is
  dropped. Without ``low`` it is ``peak_mask(block, threshold)``.

  ``push`` returns the blocks whose every track is decided (a track still
  below the threshold that reaches the newest frame might rise later: its
  frames wait); ``finish`` decides the rest. Tracks still undecided after
  waiting ``max_pending`` frames are dropped, which bounds the memory.
  """

  def __init__(self, threshold: float, low: float = 0.0, *,
               max_pending: float = 2048):
    if low and not 0.0 < low < threshold:
      raise ValueError(f'the continuation threshold must lie in (0, '
                       f'threshold={threshold}), got {low}')
    self.threshold, self.low = float(threshold), float(low or 0.0)
    self.max_pending = max_pending
    self._pending: np.ndarray | None = None  # [K, m] not yet emitted
    self._previous: np.ndarray | None = None  # [K] active, last emitted

  def push(self, block: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    block = np.asarray(block)
    if not self.low:
      return [(block, peak_mask(block, self.threshold))]
    waited = 0 if self._pending is None else self._pending.shape[-1]
    buf = (block if self._pending is None
           else np.concatenate([self._pending, block], axis=-1))
    return self._decide(buf, final=waited > self.max_pending)

  def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
    if not self.low or self._pending is None:
      return []
    return self._decide(self._pending, final=True)

  def _decide(self, buf: np.ndarray, final: bool
              ) -> list[tuple[np.ndarray, np.ndarray]]:
    from scipy import ndimage  # pylint: disable=g-import-not-at-top
    cand = peak_mask(buf, self.low)
    labels, n = ndimage.label(cand, structure=np.ones((3, 3), bool))
    keep = np.zeros(n + 1, bool)
    if n:
      # Each track's maximum, over its candidate cells only (few per frame).
      best = np.full(n + 1, -np.inf)
      np.maximum.at(best, labels[cand], buf[cand])
      keep[1:] = best[1:] >= self.threshold
      if self._previous is not None:  # continues an active track
        prev = np.convolve(self._previous.astype(np.int8), np.ones(3),
                           'same') > 0
        keep[np.unique(labels[:, 0][prev & cand[:, 0]])] = True
        keep[0] = False
    end = buf.shape[-1]
    if not final and n:
      open_tracks = np.unique(labels[:, -1])
      open_tracks = open_tracks[(open_tracks > 0) & ~keep[open_tracks]]
      if len(open_tracks):
        starts = [s[1].start for s in ndimage.find_objects(labels)]
        end = min(starts[t - 1] for t in open_tracks)
    active = keep[labels] & cand
    self._pending = buf[:, end:] if end < buf.shape[-1] else None
    if end == 0:
      return []
    self._previous = active[:, end - 1]
    return [(buf[:, :end], active[:, :end])]


def decode(salience: np.ndarray, threshold: float,
           low: float = 0.0) -> np.ndarray:
  """Active-peak mask ``[K, T]`` of a whole salience-gram (``PeakDecoder``
  on one block)."""
  decoder = PeakDecoder(threshold, low, max_pending=math.inf)
  parts = decoder.push(salience) + decoder.finish()
  return np.concatenate([m for _, m in parts], axis=-1)


def decoding(eval_config, threshold: float | None = None
             ) -> tuple[float, float]:
  """``(threshold, low)`` to decode with: the config's (``eval.threshold``
  and ``eval.continue_threshold``, 0 when absent), or ``threshold`` alone
  (no hysteresis) when one is given."""
  if threshold is not None:
    return float(threshold), 0.0
  return (float(eval_config.threshold),
          float(eval_config.get('continue_threshold', 0.0)))
