"""Expressive performance: per-note pitch and loudness curves, and the labels
that follow them.

Real players do not play a General-MIDI score: an ensemble tunes to A4 =
430-450 Hz, each note sits a few cents off the equal-tempered grid, bowed
strings, winds, brass and voices add vibrato that starts a little after the
onset, long notes drift, and a legato line glides into its next note. This
module draws those deviations for a list of performed notes and turns them
into

* control curves on a grid of ``step`` seconds (a multiple of FluidSynth's
  64-sample block): ``cents`` (deviation from the note's MIDI pitch) and
  ``level`` (an expression gain in dB, <= 0), one array per note, value ``k``
  holding on ``[onset + k * step, onset + (k + 1) * step)``;
* the ground truth that follows the instantaneous f0 (``annotation``): a
  ``corpus.FramePitches`` at the HCQT frame times with continuous Hz, so that
  the 20-cent label grid takes the nearest bin of the bent pitch and the
  mir_eval reference is the bent pitch itself.

Every value is a pure function of the generator passed in. Units: seconds,
cents (1/100 semitone), dB.

Ranges (per track, per player = part, per note):

* tuning: A4 uniform in [430, 450] Hz for the whole track (-39.9..+38.9 c);
* intonation: per note, normal with a per-player sd of 3-10 cents, clipped to
  +-25 cents (fixed-pitch instruments: sd 1.5 cents);
* vibrato (sustained families, notes >= 0.25 s, 85 % of players): rate
  4-7 Hz per player (+-0.4 Hz per note), peak-to-peak depth 10-60 cents per
  player (x0.6-1.3 per note), onset delayed 0.08-0.4 s and faded in over
  0.15-0.4 s, random phase;
* drift (sustained families): a linear sag or rise of up to +-12 cents over
  the note plus a slow random wander of sd 3 cents;
* portamento (sustained families, 35 % of players): a legato note (starting
  within 60 ms of the previous note's end in the same part, interval <= 7
  semitones) starts at the previous pitch and glides to its own over
  40-160 ms (raised-cosine);
* loudness: a phrase-level crescendo/diminuendo per player (a slow sinusoid
  of +-2..6 dB, period 4-12 s), and for sustained families a per-note shape
  (flat, swell, crescendo, fade) of 2-9 dB; levels never go below -15 dB, so
  a labelled note stays audible. Accents are in the velocities
  (``gm_renders.perform``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from data_pipelines import corpus
from data_pipelines import labels as labels_lib

TUNING_HZ = (430.0, 450.0)  # A4 range of a track's global tuning
MAX_INTONATION = 25.0  # cents
MIN_LEVEL_DB = -15.0
VIBRATO_MIN_SECONDS = 0.25
GLIDE_MAX_INTERVAL = 7  # semitones
GLIDE_GAP = 0.06  # s: a note starting this soon after the previous one glides


@dataclasses.dataclass(frozen=True)
class Player:
  """How one part is played (drawn once per part)."""
  sustained: bool  # can bend its pitch (strings, winds, brass, voices)
  intonation_sd: float  # cents
  vibrato: bool
  vibrato_rate: float  # Hz
  vibrato_depth: float  # cents, peak to peak
  glides: bool
  phrase_db: float  # amplitude of the phrase-level crescendo/diminuendo
  phrase_period: float  # s
  phrase_phase: float  # rad


@dataclasses.dataclass(frozen=True)
class Curves:
  """Control curves of one performance.

  Attributes:
    step: seconds between control values.
    cents: per note, [K] deviation from the MIDI pitch (cents).
    level_db: per note, [K] expression gain (dB, in [MIN_LEVEL_DB, 0]).
  """
  step: float
  cents: list[np.ndarray]
  level_db: list[np.ndarray]

  def cents_at(self, note: int, onset: float, t: np.ndarray) -> np.ndarray:
    """Deviation of ``note`` (starting at ``onset``) at times ``t`` (s)."""
    curve = self.cents[note]
    k = np.clip(np.floor((np.asarray(t) - onset) / self.step + 1e-9),
                0, len(curve) - 1).astype(np.int64)
    return curve[k]


def draw_player(rng: np.random.Generator, sustained: bool) -> Player:
  """A player of a part (see the module docstring for the ranges)."""
  return Player(
      sustained=bool(sustained),
      intonation_sd=float(rng.uniform(3.0, 10.0)) if sustained else 1.5,
      vibrato=bool(sustained and rng.random() < 0.85),
      vibrato_rate=float(rng.uniform(4.0, 7.0)),
      vibrato_depth=float(rng.uniform(10.0, 60.0)),
      glides=bool(sustained and rng.random() < 0.35),
      phrase_db=float(rng.uniform(2.0, 6.0)),
      phrase_period=float(rng.uniform(4.0, 12.0)),
      phrase_phase=float(rng.uniform(0, 2 * np.pi)))


def draw_tuning(rng: np.random.Generator) -> float:
  """A track's global tuning offset (cents), A4 uniform in TUNING_HZ."""
  return float(1200.0 * np.log2(rng.uniform(*TUNING_HZ) / 440.0))


def _note_shape(rng: np.random.Generator, t: np.ndarray,
                duration: float) -> np.ndarray:
  """A sustained note's loudness shape (dB, <= 0) at times ``t`` in it."""
  kind = int(rng.integers(0, 4))
  depth = float(rng.uniform(2.0, 9.0))
  x = np.clip(t / max(duration, 1e-3), 0.0, 1.0)
  if kind == 0:  # flat
    return np.zeros_like(t)
  if kind == 1:  # swell (messa di voce)
    return -depth * (1.0 - np.sin(np.pi * x))
  if kind == 2:  # crescendo
    return -depth * (1.0 - x)
  return -depth * x  # fade


def draw_curves(rng: np.random.Generator, pitches: np.ndarray,
                onsets: np.ndarray, offsets: np.ndarray, parts: np.ndarray,
                players: list[Player], *, tuning_cents: float,
                step: float) -> Curves:
  """Pitch and loudness curves of notes (see the module docstring).

  Args:
    rng: the generator (consumed in note order).
    pitches: [L] MIDI pitches.
    onsets, offsets: [L] seconds.
    parts: [L] index of each note's part (into ``players``).
    players: one ``Player`` per part.
    tuning_cents: the track's global tuning.
    step: control step (s).
  """
  cents, levels = [], []
  previous: dict[int, tuple[float, int]] = {}  # part -> (offset, pitch)
  order = np.argsort(onsets, kind='stable')
  by_note: dict[int, tuple[np.ndarray, np.ndarray]] = {}
  for i in order:
    player = players[int(parts[i])]
    duration = float(offsets[i] - onsets[i])
    n = max(1, int(np.ceil(duration / step - 1e-9)))
    t = np.arange(n) * step
    sd = player.intonation_sd
    curve = np.full(n, tuning_cents + float(np.clip(
        rng.normal(0.0, sd), -MAX_INTONATION, MAX_INTONATION)))
    level = np.zeros(n)
    if player.sustained:
      drift = float(rng.uniform(-12.0, 12.0))
      curve += drift * t / max(duration, 1e-3)
      wander = np.cumsum(rng.normal(0.0, 1.0, n))
      wander -= wander.mean()
      curve += 3.0 * wander / max(1.0, float(np.abs(wander).max()))
      if player.vibrato and duration >= VIBRATO_MIN_SECONDS:
        rate = player.vibrato_rate + float(rng.uniform(-0.4, 0.4))
        depth = player.vibrato_depth * float(rng.uniform(0.6, 1.3))
        delay = float(rng.uniform(0.08, 0.4))
        fade = float(rng.uniform(0.15, 0.4))
        ramp = np.clip((t - delay) / fade, 0.0, 1.0)
        phase = float(rng.uniform(0, 2 * np.pi))
        curve += depth / 2 * ramp * np.sin(2 * np.pi * rate * t + phase)
      prev = previous.get(int(parts[i]))
      if (player.glides and prev is not None
          and 0 <= onsets[i] - prev[0] <= GLIDE_GAP
          and 0 < abs(prev[1] - int(pitches[i])) <= GLIDE_MAX_INTERVAL):
        glide = float(rng.uniform(0.04, 0.16))
        start = 100.0 * (prev[1] - int(pitches[i]))
        x = np.clip(t / glide, 0.0, 1.0)
        curve += start * 0.5 * (1 + np.cos(np.pi * x))
      level += _note_shape(rng, t, duration)
    absolute = onsets[i] + t
    level += player.phrase_db * (np.sin(
        2 * np.pi * absolute / player.phrase_period + player.phrase_phase) - 1)
    previous[int(parts[i])] = (float(offsets[i]), int(pitches[i]))
    by_note[int(i)] = (curve, np.clip(level, MIN_LEVEL_DB, 0.0))
  for i in range(len(pitches)):
    cents.append(by_note[i][0])
    levels.append(by_note[i][1])
  return Curves(step, cents, levels)


def annotation(pitches: np.ndarray, onsets: np.ndarray, offsets: np.ndarray,
               curves: Curves | None, *, n_samples: int,
               sample_rate: int = corpus.SAMPLE_RATE,
               hop_length: int = 256) -> corpus.FramePitches:
  """The ground truth of bent notes at the HCQT frame times.

  A note sounds at frame time t when onset <= t < offset; its f0 there is
  its MIDI pitch plus ``curves.cents_at(t)`` (continuous Hz). Without
  curves the notes are in tune (A4 = 440 Hz).

  Returns:
    FramePitches at ``1 + n_samples // hop_length`` frame times.
  """
  times = labels_lib.frame_times(1 + n_samples // hop_length, hop_length,
                                 sample_rate)
  freqs: list[list[float]] = [[] for _ in times]
  for i in range(len(pitches)):
    first = int(np.searchsorted(times, onsets[i], side='left'))
    last = int(np.searchsorted(times, offsets[i], side='left'))
    if last <= first:
      continue
    t = times[first:last]
    deviation = (curves.cents_at(i, float(onsets[i]), t)
                 if curves is not None else np.zeros(len(t)))
    hz = corpus.midi_to_hz(float(pitches[i]) + deviation / 100.0)
    for k, f in zip(range(first, last), hz):
      freqs[k].append(float(f))
  return corpus.FramePitches(
      times, [np.asarray(sorted(f), np.float64) for f in freqs],
      edges=(0, -1))
