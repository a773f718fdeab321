"""Where a recorded note starts, and the f0 it plays, frame by frame.

Sample libraries name each note; the player did not always hit it, and a
vibrato moves around it. ``measure`` trims the leading silence (and with it
an MP3 decoder's delay, which is silence), tracks the f0 with probabilistic
YIN (``librosa.pyin``) within 6 semitones of the named pitch, and keeps
the note only if it is pitched (voiced in at least ``MIN_VOICED`` of the
frames within 30 dB of its loudest) and its median f0 lies within ``MAX_CENTS`` of the name. The labels
of a render then follow ``f0``, not the name.
"""

from __future__ import annotations

import dataclasses

import numpy as np

MAX_CENTS = 50.0  # farther from its name: dropped
MIN_VOICED = 0.5  # fewer voiced frames where it sounds: unpitched, dropped
SOUNDING_DB = -30.0  # a frame sounds within 30 dB of the note's loudest
ONSET_DB = -40.0  # the note starts where it first rises above peak - 40 dB
PREROLL_SECONDS = 0.005  # kept before that point (the attack's start)
# The f0 search range around the name. Wider ranges let the tracker jump
# an octave on notes with strong harmonics (measured on 200 Philharmonia
# notes: trombones an octave low, double basses an octave high), so an
# octave mislabel cannot be told from the tracker's own octave errors; the
# libraries name octaves reliably, and within 6 semitones a mistuned or
# misnamed semitone still shows.
SEARCH_SEMITONES = 6


@dataclasses.dataclass(frozen=True)
class Measured:
  """The measured note.

  Attributes:
    start: first sample of the note (samples at ``rate``).
    rate: Hz of the samples measured.
    hop: samples between frames of ``f0``.
    f0: ``[T]`` f0 (Hz) of frames ``start + t * hop``; NaN where unvoiced.
    cents: median distance (cents) of the voiced f0 from the named pitch.
    voiced: share of the sounding frames (within ``SOUNDING_DB`` of the
      loudest) that are voiced.
    verdict: '' (kept), or why the note is dropped (one line).
  """
  start: int
  rate: int
  hop: int
  f0: np.ndarray
  cents: float
  voiced: float
  verdict: str

  @property
  def kept(self) -> bool:
    return not self.verdict


def note_start(audio: np.ndarray, rate: int, *, threshold_db: float = ONSET_DB,
               preroll_seconds: float = PREROLL_SECONDS) -> int:
  """First sample of the note: where ``|audio|`` first exceeds
  ``threshold_db`` below its peak, less ``preroll_seconds`` (0 for a
  silent signal)."""
  x = np.abs(np.asarray(audio, np.float32))
  peak = float(x.max(initial=0.0))
  if peak <= 0:
    return 0
  first = int(np.argmax(x >= peak * 10 ** (threshold_db / 20)))
  return max(0, first - int(round(preroll_seconds * rate)))


def measure(audio: np.ndarray, rate: int, midi: float, *, hop: int = 256,
            max_seconds: float = 4.0) -> Measured:
  """Measures the note in mono ``audio`` (``rate`` Hz) named MIDI ``midi``
  (with its library tuning), over at most its first ``max_seconds``."""
  import librosa  # pylint: disable=g-import-not-at-top  (slow import)

  x = np.asarray(audio, np.float32)
  start = note_start(x, rate)
  body = x[start:start + int(max_seconds * rate)]
  named = 440.0 * 2.0 ** ((float(midi) - 69.0) / 12.0)
  fmin = named * 2.0 ** (-SEARCH_SEMITONES / 12)
  fmax = min(named * 2.0 ** (SEARCH_SEMITONES / 12), 0.45 * rate)
  frame = 2048
  while frame < 2.5 * rate / fmin:
    frame *= 2
  if len(body) < frame:
    body = np.pad(body, (0, frame - len(body)))
  f0, voiced_flag, _ = librosa.pyin(
      body, fmin=fmin, fmax=fmax, sr=rate, frame_length=frame,
      hop_length=hop, center=True)
  f0 = np.where(voiced_flag, f0, np.nan).astype(np.float64)
  # Voicing is judged where the note sounds: frames within SOUNDING_DB of
  # the loudest (a short note's decaying tail is mostly unvoiced noise).
  rms = librosa.feature.rms(y=body, frame_length=frame, hop_length=hop,
                            center=True)[0][:len(f0)]
  sounding = rms >= rms.max(initial=0.0) * 10 ** (SOUNDING_DB / 20)
  voiced = float(np.mean(voiced_flag[sounding])) if sounding.any() else 0.0
  if voiced < MIN_VOICED or not np.any(voiced_flag):
    return Measured(start, rate, hop, f0, float('nan'), voiced,
                    f'unpitched: {100 * voiced:.0f} % of frames voiced')
  cents = float(np.median(1200.0 * np.log2(f0[voiced_flag] / named)))
  verdict = (f'{cents:+.0f} cents from its name' if abs(cents) > MAX_CENTS
             else '')
  return Measured(start, rate, hop, f0, cents, voiced, verdict)
