"""The unit every evaluation corpus yields: a track and its pitch truth."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Track:
  """One evaluation track.

  Attributes:
    name: unique name within its set (used in result tables).
    audio: [N] float32 mono samples at 22,050 Hz.
    ref_times: [M] float64 annotation times (s), ascending.
    ref_freqs: M float arrays of the fundamental frequencies (Hz) sounding at
      each time, possibly empty (mir_eval multipitch format).
  """
  name: str
  audio: np.ndarray  # [N] float32 mono, 22,050 Hz
  ref_times: np.ndarray  # [M] seconds
  ref_freqs: list[np.ndarray]  # M arrays of Hz, possibly empty
