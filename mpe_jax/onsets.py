"""Per-pitch onset strength from the audio (host side, numpy).

The salience-gram says which pitches sound, not when one is struck again: a
note repeated without a pause keeps its salience high across the new attack.
The energy at the note's harmonics does show the attack. For MIDI pitch p
and frame t, the onset strength is the mean over harmonics h = 1..4 of the
rise (dB) of the spectral peak within a semitone of h * f0(p) since frame
t - ``LAG``, rises below 0 counted as 0. A Hann-windowed 2048-point STFT at
the model's hop gives the spectrum; frames are centred on ``n * hop``
samples, like the salience frames.
"""

from __future__ import annotations

import numpy as np

N_FFT = 2048
HARMONICS = (1, 2, 3, 4)
LAG = 2  # frames: the rise is measured over 2 hops (23 ms at 22,050 Hz)
# Magnitudes are floored FLOOR_DB below a full-scale sine's peak (the
# audio is peak-normalised), so that leakage and noise in bands far below
# the music do not count as rises.
FLOOR_DB = -70.0
PITCHES = np.arange(21, 109)  # A0..C8


class OnsetStrength:
  """``[P, n]`` onset strength (dB) of frames ``first .. first + n - 1``.

  Args:
    sample_rate: Hz of the audio.
    hop_length: samples between frames.
    pitches: MIDI pitches (rows of the output).
  """

  def __init__(self, sample_rate: int, hop_length: int,
               pitches: np.ndarray = PITCHES):
    self.sample_rate, self.hop = int(sample_rate), int(hop_length)
    self.pitches = np.asarray(pitches, np.int64)
    self.window = np.hanning(N_FFT).astype(np.float32)
    # dB of a full-scale sine's spectral peak: sum(window) / 2.
    self._floor = 20.0 * np.log10(self.window.sum() / 2) + FLOOR_DB
    bin_hz = self.sample_rate / N_FFT
    nyquist_bin = N_FFT // 2
    ranges = []  # (row, lo, hi) FFT bins within a semitone of h * f0
    for row, p in enumerate(self.pitches):
      f0 = 440.0 * 2.0 ** ((p - 69) / 12)
      for h in HARMONICS:
        lo = int(np.floor(h * f0 * 2 ** (-0.5 / 12) / bin_hz))
        hi = int(np.ceil(h * f0 * 2 ** (0.5 / 12) / bin_hz))
        if hi <= nyquist_bin:
          ranges.append((row, max(lo, 1), hi))
    self._ranges = ranges
    counts = np.bincount([r for r, _, _ in ranges],
                         minlength=len(self.pitches))
    self._counts = np.maximum(counts, 1)[:, None]
    # All ranges' maxima in one np.maximum.reduceat over [lo, hi + 1)
    # boundaries (every other result is between two ranges: dropped).
    self._rows = np.asarray([r for r, _, _ in ranges], np.int64)
    self._bounds = np.asarray([b for _, lo, hi in ranges
                               for b in (lo, hi + 1)], np.int64)

  def pitch_row(self, midi: int) -> int:
    """Row of MIDI pitch ``midi`` in the output (-1 if out of range)."""
    row = int(midi) - int(self.pitches[0])
    return row if 0 <= row < len(self.pitches) else -1

  def _spectrum_db(self, audio, first: int, n: int) -> np.ndarray:
    """``[N_FFT // 2 + 1, n]`` dB magnitudes of frames first .. first+n-1."""
    half = N_FFT // 2
    lo = first * self.hop - half
    hi = (first + n - 1) * self.hop + half
    segment = np.zeros(hi - lo, np.float32)
    a, b = max(lo, 0), min(hi, len(audio))
    if b > a:
      segment[a - lo:b - lo] = np.asarray(audio[a:b], np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(
        segment, N_FFT)[::self.hop][:n]
    mag = np.abs(np.fft.rfft(frames * self.window, axis=-1)).T
    return np.maximum(20.0 * np.log10(mag + 1e-10), self._floor)

  def __call__(self, audio, first_frame: int, n_frames: int) -> np.ndarray:
    """Onset strength ``[P, n_frames]`` (dB >= 0); ``audio`` is anything
    with ``len`` and slicing (samples at ``sample_rate``, peak-normalised
    for the floor to mean what it says)."""
    if n_frames <= 0:
      return np.zeros((len(self.pitches), 0), np.float32)
    start = first_frame - LAG
    spec = self._spectrum_db(audio, start, n_frames + LAG)
    rise = np.zeros((len(self.pitches), n_frames), np.float32)
    if not len(self._rows):
      return rise
    # The last bound may be one past the spectrum's end: pad one row.
    padded = np.concatenate([spec, spec[-1:]], axis=0)
    peaks = np.maximum.reduceat(padded, self._bounds, axis=0)[::2]
    np.add.at(rise, self._rows, np.maximum(peaks[:, LAG:] - peaks[:, :-LAG],
                                           0.0))
    return rise / self._counts
