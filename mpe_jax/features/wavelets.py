"""Hann-windowed complex sinusoids: the time-domain filters of a (V)CQT bank.

Filter ``k`` at centre frequency ``f_k`` (Hz) has the fractional length
``L_k = Q * sr / (f_k + gamma / alpha)`` samples with ``Q = 1 / alpha``
(``alpha``: the bank's relative bandwidth; ``gamma``: the variable-Q offset in
Hz, or ``None`` for the ERB rule ``gamma = 24.7 * alpha / 0.108``). Its taps
are ``exp(2 pi i f_k n / sr)`` for ``n`` from ``floor(-L_k / 2)`` up to (not
including) ``floor(L_k / 2)``, times a periodic Hann window of as many taps,
centre-padded to ``ceil(max_k L_k)``. These are the filters of
``librosa.filters.wavelet(window='hann', filter_scale=1, pad_fft=False)``
(``tests/test_features.py`` checks them tap for tap), built here in numpy so
that the model's code path does not import librosa (and numba with it).
"""

from __future__ import annotations

import numpy as np

# Equivalent noise bandwidth of the Hann window in frequency bins (the figure
# librosa uses for its Nyquist checks).
HANN_BANDWIDTH = 1.50018310546875


def filter_lengths(freqs: np.ndarray, sample_rate: float, alpha: float,
                   gamma: float | None) -> np.ndarray:
  """Fractional filter lengths (samples) for centre frequencies ``freqs`` (Hz).

  Raises:
    ValueError: a frequency <= 0, or ``gamma < 0``.
  """
  freqs = np.asarray(freqs, np.float64)
  if np.any(freqs <= 0):
    raise ValueError('filter frequencies must be > 0 Hz')
  if gamma is not None and gamma < 0:
    raise ValueError(f'gamma must be >= 0 or None, got {gamma}')
  offset = alpha * 24.7 / 0.108 if gamma is None else gamma
  q = 1.0 / alpha
  return q * sample_rate / (freqs + offset / alpha)


def hann_wavelets(freqs: np.ndarray, sample_rate: float, alpha: float,
                  gamma: float | None, l1_normalize: bool = False
                  ) -> np.ndarray:
  """Filters ``[len(freqs), ceil(max length)]`` complex128 (module docstring).

  With ``l1_normalize`` each filter is divided by the sum of its magnitudes.
  """
  lengths = filter_lengths(freqs, sample_rate, alpha, gamma)
  size = int(np.ceil(lengths.max()))
  # scipy.signal is a slow import; only building a filterbank needs it.
  from scipy import signal  # pylint: disable=g-import-not-at-top
  out = np.zeros((len(lengths), size), np.complex128)
  for row, (length, freq) in enumerate(zip(lengths, np.asarray(freqs))):
    n = np.arange(-length // 2, length // 2, dtype=np.float64)
    phase = n * 2 * np.pi * freq / sample_rate
    taps = (np.cos(phase) + 1j * np.sin(phase)) * signal.get_window(
        'hann', len(n))
    if l1_normalize:
      taps = taps / np.sum(np.abs(taps))
    left = (size - len(taps)) // 2
    out[row, left:left + len(taps)] = taps
  return out
