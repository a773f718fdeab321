"""Recording chains: rooms, microphones, dynamics, noise and bandwidth, drawn
per track and applied per section of an ensemble. Labels are unchanged.

A track's chain is drawn once (``draw_chain``) and applied to each of its
sections (``place``: the section's distance sets its direct-to-reverberant
ratio and its microphone colouring) before the sections are summed, then to
the mix (``master``). Every stage is numpy/scipy on [N] float arrays at the
given sample rate.

* **room**: a synthesised impulse response with a pre-delay, 4-12 early
  reflections (5-80 ms, decaying, alternating signs, each low-passed) and a
  late tail of noise whose decay is frequency dependent (RT60 per octave band
  from 125 Hz to 8 kHz, the highest bands decaying 1.5-4x faster than the
  lowest). RT60 at low frequencies: 0.1 s (a dry booth) to 2.8 s (a church);
  the section's distance (0.2-1) sets the wet share (5-85 %);
* **microphone**: a tilt of -4..+3 dB per decade around 1 kHz, a proximity
  low-shelf (+0..6 dB under 200 Hz, close sections only) and a presence
  resonance (+-5 dB at 2-8 kHz);
* **compression** (p = 0.5): an RMS compressor (threshold -30..-12 dB,
  ratio 1.5-6, 5-30 ms attack, 50-300 ms release, make-up gain);
* **band-limiting** (p = 0.3): a 6th-order low-pass at 3.5-10 kHz, or
  resampling through 8, 11.025 or 16 kHz;
* **noise floor** (p = 0.6): white/pink hiss at 25-55 dB below the signal,
  and with p = 0.2 mains hum (50 or 60 Hz and 4 harmonics) 35-55 dB below;
* **level rides** (p = 0.5): a slow gain curve of +-1..5 dB.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import signal

from data_pipelines import audio as audio_lib

_BANDS = np.array([125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0])


@dataclasses.dataclass(frozen=True)
class Chain:
  """One track's recording chain (see the module docstring)."""
  room_ir: np.ndarray  # [L] reverberant part (unit energy)
  tilt_db: float  # per decade around 1 kHz
  presence: tuple[float, float]  # (Hz, dB)
  compress: tuple[float, float, float, float] | None  # thr dB, ratio, att, rel
  lowpass_hz: float | None
  resample_hz: int | None
  hiss_db: float | None  # below the signal
  pink: bool
  hum: tuple[float, float] | None  # (Hz, dB below the signal)
  ride_db: float
  ride_period: float


def room_impulse(rng: np.random.Generator, sample_rate: int, *,
                 rt60: float | None = None) -> np.ndarray:
  """A room's reverberant impulse response (unit energy, no direct path)."""
  rt60 = float(rt60 if rt60 is not None else np.exp(
      rng.uniform(np.log(0.1), np.log(2.8))))
  n = int(min(rt60 * 1.2 + 0.1, 3.5) * sample_rate)
  t = np.arange(n) / sample_rate
  # Late tail: octave bands with a decay that quickens with frequency.
  hf_factor = float(rng.uniform(1.5, 4.0))
  tail = np.zeros(n)
  noise = rng.standard_normal(n)
  spectrum = np.fft.rfft(noise)
  freqs = np.fft.rfftfreq(n, 1 / sample_rate)
  edges = np.concatenate([[0.0], np.sqrt(_BANDS[:-1] * _BANDS[1:]),
                          [sample_rate / 2 + 1]])
  for k in range(len(_BANDS)):
    band = np.fft.irfft(np.where((freqs >= edges[k]) & (freqs < edges[k + 1]),
                                 spectrum, 0), n)
    rt = rt60 / hf_factor ** (k / (len(_BANDS) - 1))
    tail += band * 10.0 ** (-3.0 * t / rt)
  onset = float(rng.uniform(0.005, 0.03))
  tail *= np.clip((t - onset) / 0.02, 0, 1)
  # Early reflections.
  early = np.zeros(n)
  for _ in range(int(rng.integers(4, 13))):
    delay = float(rng.uniform(0.005, 0.08))
    k = int(delay * sample_rate)
    if k < n:
      early[k] += rng.choice([-1.0, 1.0]) * float(rng.uniform(0.3, 1.0)) * (
          10.0 ** (-3.0 * delay / rt60))
  b, a = signal.butter(2, min(0.99, 6000.0 / (sample_rate / 2)))
  early = signal.lfilter(b, a, early)
  ir = tail / (np.sqrt(np.sum(tail ** 2)) + 1e-12) + 0.7 * early / (
      np.sqrt(np.sum(early ** 2)) + 1e-12)
  return ir / (np.sqrt(np.sum(ir ** 2)) + 1e-12)


def draw_chain(rng: np.random.Generator, sample_rate: int) -> Chain:
  """A track's chain (probabilities and ranges in the module docstring)."""
  ir = room_impulse(rng, sample_rate)
  compress = None
  if rng.random() < 0.5:
    compress = (float(rng.uniform(-30, -12)), float(rng.uniform(1.5, 6.0)),
                float(rng.uniform(0.005, 0.03)), float(rng.uniform(0.05, 0.3)))
  lowpass_hz, resample_hz = None, None
  if rng.random() < 0.3:
    if rng.random() < 0.5:
      lowpass_hz = float(rng.uniform(3500, 10000))
    else:
      resample_hz = int(rng.choice([8000, 11025, 16000]))
  hiss_db, hum = None, None
  if rng.random() < 0.6:
    hiss_db = float(rng.uniform(25, 55))
  if rng.random() < 0.2:
    hum = (float(rng.choice([50.0, 60.0])), float(rng.uniform(35, 55)))
  return Chain(
      room_ir=ir, tilt_db=float(rng.uniform(-4, 3)),
      presence=(float(np.exp(rng.uniform(np.log(2000), np.log(8000)))),
                float(rng.uniform(-5, 5))),
      compress=compress, lowpass_hz=lowpass_hz, resample_hz=resample_hz,
      hiss_db=hiss_db, pink=bool(rng.random() < 0.5), hum=hum,
      ride_db=float(rng.uniform(1, 5)) if rng.random() < 0.5 else 0.0,
      ride_period=float(rng.uniform(3, 12)))


def _rms(x: np.ndarray) -> float:
  return float(np.sqrt(np.mean(np.square(x)))) + 1e-12


def _microphone(x: np.ndarray, chain: Chain, distance: float,
                sample_rate: int) -> np.ndarray:
  spectrum = np.fft.rfft(x)
  freqs = np.maximum(np.fft.rfftfreq(len(x), 1 / sample_rate), 1.0)
  gain_db = chain.tilt_db * np.log10(freqs / 1000.0)
  proximity = max(0.0, 1.0 - 2.5 * distance) * 6.0
  gain_db += proximity / (1.0 + (freqs / 200.0) ** 2)
  centre, peak = chain.presence
  gain_db += peak * np.exp(-0.5 * (np.log2(freqs / centre) / 0.5) ** 2)
  return np.fft.irfft(spectrum * 10.0 ** (gain_db / 20.0), n=len(x))


def place(section: np.ndarray, chain: Chain, distance: float,
          sample_rate: int) -> np.ndarray:
  """A section recorded at ``distance`` (0.2 close .. 1 far) in the room:
  microphone colouring, then direct + reverberant sound (wet share 5-85 %,
  growing with distance), RMS kept."""
  x = np.asarray(section, np.float64)
  if not np.any(x):
    return x
  level = _rms(x)
  x = _microphone(x, chain, distance, sample_rate)
  wet = float(np.clip(0.05 + 0.8 * (distance - 0.2) / 0.8, 0.05, 0.85))
  reverb = signal.fftconvolve(x, chain.room_ir)[:len(x)]
  reverb *= _rms(x) / _rms(reverb)
  y = np.sqrt(1 - wet) * x + np.sqrt(wet) * reverb
  return y * (level / _rms(y))


def _compress(x: np.ndarray, params, sample_rate: int) -> np.ndarray:
  threshold, ratio, attack, release = params
  level = _rms(x)
  power = np.square(x / level)
  # One-pole smoothing of the power, attack and release averaged (a cheap,
  # vectorised stand-in for a switching detector).
  tau = 0.5 * (attack + release)
  alpha = np.exp(-1.0 / (tau * sample_rate))
  env = signal.lfilter([1 - alpha], [1, -alpha], power)
  env_db = 10 * np.log10(env + 1e-10)
  over = np.maximum(env_db - threshold, 0.0)
  gain_db = -over * (1 - 1 / ratio)
  y = x * 10.0 ** (gain_db / 20.0)
  return y * (level / _rms(y))


def master(mix: np.ndarray, chain: Chain, rng: np.random.Generator,
           sample_rate: int) -> np.ndarray:
  """The mix through the chain's dynamics, bandwidth, noise and level."""
  x = np.asarray(mix, np.float64)
  if not np.any(x):
    return x
  if chain.compress is not None:
    x = _compress(x, chain.compress, sample_rate)
  if chain.lowpass_hz is not None and chain.lowpass_hz < sample_rate / 2:
    sos = signal.butter(6, chain.lowpass_hz / (sample_rate / 2),
                        output='sos')
    x = signal.sosfilt(sos, x)
  if chain.resample_hz is not None and chain.resample_hz < sample_rate:
    low = audio_lib.resample(x.astype(np.float32), sample_rate,
                             chain.resample_hz)
    back = audio_lib.resample(low, chain.resample_hz, sample_rate)
    x = np.zeros_like(x)
    x[:min(len(x), len(back))] = back[:len(x)]
  signal_rms = _rms(x)
  t = np.arange(len(x)) / sample_rate
  if chain.hiss_db is not None:
    noise = rng.standard_normal(len(x))
    if chain.pink:
      spectrum = np.fft.rfft(noise)
      spectrum /= np.sqrt(np.arange(1, len(spectrum) + 1))
      noise = np.fft.irfft(spectrum, n=len(x))
    x = x + noise * signal_rms / _rms(noise) * 10 ** (-chain.hiss_db / 20)
  if chain.hum is not None:
    f, db = chain.hum
    hum = sum(np.sin(2 * np.pi * f * h * t + rng.uniform(0, 2 * np.pi)) / h
              for h in range(1, 6))
    x = x + hum * signal_rms / _rms(hum) * 10 ** (-db / 20)
  if chain.ride_db:
    x = x * 10.0 ** (chain.ride_db * np.sin(
        2 * np.pi * t / chain.ride_period) / 20.0)
  return x
