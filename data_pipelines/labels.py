"""Multi-pitch ground truth shared by every corpus: Hz <-> bins, time grids.

A multi-pitch annotation is mir_eval-style: ``ref_times [M]`` (seconds,
ascending) and ``ref_freqs``, a list of M float arrays of the fundamental
frequencies (Hz) sounding at each time (possibly empty).

Training targets live on the h=1 HCQT grid (SS-MPE, Sec. 3.1): bin k has
centre frequency ``fmin * 2**(k / bins_per_octave)``, k = 0..n_bins-1, and frame
n is centred at ``n * hop_length / sample_rate`` seconds.

Rules (as in the reference code, timbre-trap
``timbre_trap/datasets/PitchDataset.py`` and ``NoteDataset.py``):

* A pitch maps to its nearest bin; an exact tie between two bins goes to the
  lower bin (scipy ``interp1d(kind='nearest')`` does the same). Pitches whose
  continuous bin position lies outside ``[0, n_bins - 1]`` (i.e. below fmin or
  above the top bin centre, 27.5 Hz .. ~4.38 kHz at the defaults) and
  non-positive frequencies are dropped.
* Resampling an annotation onto other times is nearest-neighbour in time
  (ties go to the earlier annotation frame); target times before the first /
  after the last annotation time take the first / last annotation frame by
  default (``edges=(0, -1)``); GuitarSet uses the first frame at both ends
  (``edges=(0, 0)``), as the reference's ``resample_idcs``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Rounding slack (in bins) for floating-point error at exact bin centres and
# exact midpoints.
_BIN_TOL = 1e-6


def _bin_positions(freqs_hz: np.ndarray, fmin: float,
                   bins_per_octave: int) -> np.ndarray:
  """Continuous bin position of each frequency (NaN for f <= 0)."""
  f = np.asarray(freqs_hz, dtype=np.float64)
  with np.errstate(divide='ignore', invalid='ignore'):
    pos = bins_per_octave * np.log2(f / fmin)
  return np.where(f > 0, pos, np.nan)


def _nearest_bins(freqs_hz: np.ndarray, fmin: float, bins_per_octave: int,
                  n_bins: int) -> tuple[np.ndarray, np.ndarray]:
  """Nearest bin (ties -> lower) and a mask of in-range pitches, same shape."""
  pos = _bin_positions(freqs_hz, fmin, bins_per_octave)
  valid = (pos >= -_BIN_TOL) & (pos <= n_bins - 1 + _BIN_TOL)
  pos = np.where(valid, pos, 0.0)
  bins = np.ceil(pos - 0.5 - _BIN_TOL).astype(np.int64)
  return np.clip(bins, 0, n_bins - 1), valid


def hz_to_bins(freqs_hz: np.ndarray | Sequence[float], fmin: float = 27.5,
               bins_per_octave: int = 60, n_bins: int = 440) -> np.ndarray:
  """Nearest h=1 grid bin of each pitch, out-of-range pitches dropped.

  Args:
    freqs_hz: [P] frequencies in Hz (any order; 0 or negative = no pitch).
    fmin: centre frequency of bin 0 (Hz).
    bins_per_octave: bins per octave of the grid.
    n_bins: number of bins.

  Returns:
    [P'] int64 bin indices (P' <= P), in input order, of the pitches whose
    continuous position lies in ``[0, n_bins - 1]``; ties go to the lower bin.
  """
  bins, valid = _nearest_bins(np.ravel(freqs_hz), fmin, bins_per_octave,
                              n_bins)
  return bins[valid]


def bins_to_hz(bins: np.ndarray | Sequence[float], fmin: float = 27.5,
               bins_per_octave: int = 60) -> np.ndarray:
  """Centre frequency (Hz, float64) of each (possibly fractional) bin."""
  return fmin * 2.0 ** (np.asarray(bins, dtype=np.float64) / bins_per_octave)


def frame_times(n_frames: int, hop_length: int = 256,
                sample_rate: int = 22050) -> np.ndarray:
  """[n_frames] float64 centre times (s) of HCQT frames: n * hop / sr."""
  return np.arange(n_frames, dtype=np.float64) * hop_length / sample_rate


def resample_multipitch(ref_times: np.ndarray, ref_freqs: Sequence[np.ndarray],
                        target_times: np.ndarray, *,
                        edges: tuple[int, int] = (0, -1)) -> list[np.ndarray]:
  """Nearest-neighbour resampling of a multi-pitch annotation in time.

  Args:
    ref_times: [M] ascending annotation times (s).
    ref_freqs: M arrays of Hz.
    target_times: [T] times (s) to sample the annotation at.
    edges: annotation frame indices (Python indexing) taken by target times
      before ``ref_times[0]`` and after ``ref_times[-1]``.

  Returns:
    T float64 arrays (copies): the pitches of the nearest annotation frame
    (ties -> earlier frame); times outside ``[ref_times[0], ref_times[-1]]``
    take the frames ``edges`` (default: the first / last frame). An empty
    annotation gives T empty arrays.
  """
  ref_times = np.asarray(ref_times, dtype=np.float64)
  target_times = np.asarray(target_times, dtype=np.float64)
  if len(ref_times) != len(ref_freqs):
    raise ValueError(f'ref_times has {len(ref_times)} entries but ref_freqs '
                     f'has {len(ref_freqs)}.')
  if len(ref_times) == 0:
    return [np.zeros(0) for _ in range(len(target_times))]
  bounds = 0.5 * (ref_times[:-1] + ref_times[1:])
  idx = np.searchsorted(bounds, target_times, side='left')
  m = len(ref_times)
  idx = np.where(target_times < ref_times[0], edges[0] % m, idx)
  idx = np.where(target_times > ref_times[-1], edges[-1] % m, idx)
  return [np.array(ref_freqs[i], dtype=np.float64, copy=True).reshape(-1)
          for i in idx]


def frequencies_to_grid(freqs: Sequence[np.ndarray], *, fmin: float = 27.5,
                        bins_per_octave: int = 60,
                        n_bins: int = 440) -> np.ndarray:
  """Binary [n_bins, T] uint8 map marking the nearest bin of every pitch.

  Args:
    freqs: T arrays of Hz, one per frame (already on the target time grid).
    fmin, bins_per_octave, n_bins: the h=1 grid.
  """
  n_frames = len(freqs)
  grid = np.zeros((n_bins, n_frames), dtype=np.uint8)
  if n_frames == 0:
    return grid
  counts = np.array([np.size(f) for f in freqs], dtype=np.int64)
  if counts.sum() == 0:
    return grid
  all_f = np.concatenate([np.ravel(f) for f in freqs]).astype(np.float64)
  frames = np.repeat(np.arange(n_frames), counts)
  bins, valid = _nearest_bins(all_f, fmin, bins_per_octave, n_bins)
  grid[bins[valid], frames[valid]] = 1
  return grid


def multipitch_to_grid(ref_times: np.ndarray, ref_freqs: Sequence[np.ndarray],
                       n_frames: int, *, hop_length: int = 256,
                       sample_rate: int = 22050, fmin: float = 27.5,
                       bins_per_octave: int = 60, n_bins: int = 440,
                       edges: tuple[int, int] = (0, -1)) -> np.ndarray:
  """Training target: an annotation on the HCQT grid, [n_bins, n_frames] uint8.

  The annotation is resampled (nearest neighbour, ``edges`` frames outside
  its time range; see ``resample_multipitch``) to the frame times
  ``n * hop_length / sample_rate``, then every pitch marks its nearest bin
  (out-of-range pitches dropped; see the module docstring).
  """
  times = frame_times(n_frames, hop_length, sample_rate)
  freqs = resample_multipitch(ref_times, ref_freqs, times, edges=edges)
  return frequencies_to_grid(freqs, fmin=fmin, bins_per_octave=bins_per_octave,
                             n_bins=n_bins)


def notes_to_multipitch(onsets: np.ndarray, offsets: np.ndarray,
                        pitches_hz: np.ndarray,
                        times: np.ndarray) -> list[np.ndarray]:
  """Note list -> multi-pitch annotation sampled at ``times``.

  Args:
    onsets: [K] note onsets (s).
    offsets: [K] note offsets (s).
    pitches_hz: [K] note pitches (Hz).
    times: [T] ascending sample times (s), e.g. the estimate's frame times.

  Returns:
    T float64 arrays: the pitches of the notes with onset <= t < offset, in
    note order.
  """
  onsets = np.asarray(onsets, dtype=np.float64).reshape(-1)
  offsets = np.asarray(offsets, dtype=np.float64).reshape(-1)
  pitches_hz = np.asarray(pitches_hz, dtype=np.float64).reshape(-1)
  times = np.asarray(times, dtype=np.float64).reshape(-1)
  if not len(onsets) == len(offsets) == len(pitches_hz):
    raise ValueError(f'Got {len(onsets)} onsets, {len(offsets)} offsets and '
                     f'{len(pitches_hz)} pitches; they must match.')
  if np.any(np.diff(times) < 0):
    raise ValueError('times must be ascending.')
  start = np.searchsorted(times, onsets, side='left')  # first t >= onset
  stop = np.searchsorted(times, offsets, side='left')  # first t >= offset
  lengths = np.maximum(stop - start, 0)
  note_ids = np.repeat(np.arange(len(onsets)), lengths)
  # Frame index of each (note, frame) pair: start + 0..length-1 per note.
  first = np.repeat(start, lengths)
  offsets_in_note = np.arange(lengths.sum()) - np.repeat(
      np.cumsum(lengths) - lengths, lengths)
  frames = first + offsets_in_note
  order = np.argsort(frames, kind='stable')  # keeps note order per frame
  frames, note_ids = frames[order], note_ids[order]
  split_at = np.searchsorted(frames, np.arange(1, len(times)), side='left')
  return [pitches_hz[ids] for ids in np.split(note_ids, split_at)]
