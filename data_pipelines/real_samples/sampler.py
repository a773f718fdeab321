"""A sampler: notes of a score played by recorded samples, with labels that
follow each sample's measured f0.

``Bank`` holds the kept notes of an instrument (``Sample`` with its
``pitch.Measured``). ``Bank.play(midi, velocity, seconds)`` picks the
sample to play a note with:

* the nearest recorded pitch (the named pitch plus the library's tuning),
  within ``MAX_SHIFT`` semitones; a note between recorded pitches is
  resampled by the difference, and its label moves with it;
* among those, the velocity layer whose range holds the velocity (else the
  nearest), then the length class that best fits the note (Philharmonia's
  0.25-1.5 s, long and very long notes; a note is never held longer than
  its sample, only cut);

and cuts the sample to the note's length with a release: the library's
release sample where it has one, else a ``RELEASE_SECONDS`` fade that
continues the recording's own decay. The label of each frame is the sample's
own f0 at that frame (its intonation and vibrato), times the shift; frames
where the f0 tracker found no pitch take the nearest voiced value, and the
release is labelled while its level is within ``LABEL_TAIL_DB`` of the
note's. Sustain pedal: a piano note whose pedal is down keeps sounding
(its label too) until the pedal lifts, as long as the recording lasts.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import numpy as np

from data_pipelines import audio as audio_lib
from data_pipelines.real_samples import library
from data_pipelines.real_samples import pitch

MAX_SHIFT = 3.0  # semitones a sample is resampled at most
RELEASE_SECONDS = 0.12  # fade after a note-off without a release sample
LABEL_TAIL_DB = -30.0  # a released note is labelled while this loud
# Philharmonia length classes, in seconds of the recorded note.
LENGTH_SECONDS = {'025': 0.25, '05': 0.5, '1': 1.0, '15': 1.5, 'long': 3.0,
                  'very-long': 6.0}


@dataclasses.dataclass(frozen=True)
class Recorded:
  """A kept note: the sample, its measurement and its decoded audio
  (mono, at the bank's rate, from the note's start). ``audio`` None: read
  from the file when played (``decoded``), so a bank of thousands of notes
  holds only the ones in use."""
  sample: library.Sample
  measured: pitch.Measured
  audio: np.ndarray | None = None

  def decoded(self) -> np.ndarray:
    """The note's samples from its start (read through a small cache)."""
    if self.audio is not None:
      return self.audio
    return _decode(self.sample.path, self.sample.offset,
                   self.measured.start, self.measured.rate)

  def seconds(self, rate: int) -> float:
    """How long the recording lasts from the note's start (s)."""
    if self.audio is not None:
      return len(self.audio) / rate
    f0_frames = len(self.measured.f0)  # measured over at most 4 s
    return max(f0_frames * self.measured.hop / self.measured.rate,
               LENGTH_SECONDS.get(self.sample.length, 0.0))

  @property
  def sounding_midi(self) -> float:
    """The pitch the recording plays (MIDI, fractional)."""
    return float(self.sample.midi) + self.sample.tune_cents / 100.0 + (
        self.measured.cents / 100.0)


@dataclasses.dataclass(frozen=True)
class Note:
  """A played note: its audio and its label, both from ``start`` (s)."""
  audio: np.ndarray  # [n] at the bank's rate
  f0: np.ndarray  # [frames] Hz per hop from the note's start; 0: silent
  sample: library.Sample
  shift: float  # semitones the sample was resampled by


class Bank:
  """The kept notes of one instrument, at ``rate`` Hz, ``hop`` per frame.

  Args:
    notes: ``Recorded`` notes of attacks (not release samples).
    releases: release samples by nearest pitch (SFZ ``trigger=release``).
  """

  def __init__(self, notes: Sequence[Recorded],
               releases: Sequence[Recorded] = (), *, rate: int = 22050,
               hop: int = 256):
    if not notes:
      raise library.LibraryError('a sampler bank needs at least one note')
    self.notes, self.releases = list(notes), list(releases)
    self.rate, self.hop = int(rate), int(hop)
    self._midi = np.array([n.sounding_midi for n in self.notes])

  def playable(self, midi: float) -> bool:
    """A recording lies within ``MAX_SHIFT`` semitones of ``midi``."""
    return bool(np.min(np.abs(self._midi - midi)) <= MAX_SHIFT + 1e-9)

  def choose(self, midi: float, velocity: int, seconds: float) -> Recorded:
    """The recording to play the note with (module docstring).

    Raises:
      ValueError: no recording within ``MAX_SHIFT`` semitones.
    """
    distance = np.abs(self._midi - midi)
    nearest = float(distance.min())
    if nearest > MAX_SHIFT + 1e-9:
      raise ValueError(f'no recording within {MAX_SHIFT:g} semitones of '
                       f'MIDI {midi:.1f}')
    # The nearest recorded pitch (within a quarter tone of the best).
    candidates = [n for n, d in zip(self.notes, distance)
                  if d <= nearest + 0.25]

    def velocity_miss(n: Recorded) -> int:
      lo, hi = n.sample.velocity
      return 0 if lo <= velocity <= hi else min(abs(velocity - lo),
                                                abs(velocity - hi))

    best = min(velocity_miss(n) for n in candidates)
    candidates = [n for n in candidates if velocity_miss(n) == best]

    def length_miss(n: Recorded) -> tuple[int, float]:
      held = n.seconds(self.rate)
      if n.sample.length in LENGTH_SECONDS:
        held = min(held, LENGTH_SECONDS[n.sample.length] + RELEASE_SECONDS)
      return (0 if held >= seconds else 1, abs(held - seconds))

    return min(candidates, key=length_miss)

  def play(self, midi: float, velocity: int, seconds: float, *,
           sustain_seconds: float = 0.0) -> Note:
    """The note's audio and label: ``midi`` (fractional) for ``seconds``
    (``sustain_seconds`` more while a pedal holds it)."""
    recorded = self.choose(midi, velocity, seconds)
    shift = float(midi) - recorded.sounding_midi
    ratio = 2.0 ** (shift / 12.0)
    audio = _played_faster(recorded.decoded(), ratio, self.rate)
    held = int(round((seconds + sustain_seconds) * self.rate))
    release = int(round(RELEASE_SECONDS * self.rate))
    body = audio[:held].copy()
    if len(audio) > held:  # cut: the release continues the recording
      tail = audio[held:held + release].copy()
      tail *= np.linspace(1.0, 0.0, len(tail), dtype=np.float32) ** 2
      released = self._release(midi, velocity)
      if released is not None:
        mix = np.zeros(max(len(tail), len(released)), np.float32)
        mix[:len(tail)] += tail
        mix[:len(released)] += released
        tail = mix
      body = np.concatenate([body, tail])
    f0 = self._label(recorded, ratio, body, held)
    return Note(body, f0, recorded.sample, shift)

  def _release(self, midi: float, velocity: int) -> np.ndarray | None:
    """The release sample nearest in pitch (resampled to ``midi``), or
    None when the library has none."""
    if not self.releases:
      return None
    del velocity  # release samples are one layer here
    best = min(self.releases, key=lambda n: abs(n.sounding_midi - midi))
    return _played_faster(best.decoded(), 2.0 ** (
        (midi - best.sounding_midi) / 12.0), self.rate)

  def _label(self, recorded: Recorded, ratio: float, audio: np.ndarray,
             held: int) -> np.ndarray:
    """f0 (Hz) per frame of ``audio``: the recording's own, times
    ``ratio``, read at the resampled times; 0 once the release has decayed
    ``LABEL_TAIL_DB`` below the note."""
    measured = recorded.measured
    n_frames = 1 + len(audio) // self.hop
    own = np.asarray(measured.f0, np.float64)
    voiced = np.flatnonzero(np.isfinite(own))
    if not len(voiced):
      return np.zeros(n_frames)
    # Unvoiced frames take the nearest voiced value (the note goes on).
    nearest = voiced[np.clip(np.searchsorted(voiced, np.arange(len(own))),
                             0, len(voiced) - 1)]
    filled = own[nearest]
    # Frame t of the played note is at recording time t * hop * ratio.
    at = np.arange(n_frames) * self.hop * ratio / measured.hop
    f0 = np.interp(at, np.arange(len(filled)), filled) * ratio
    # Silent where the note has decayed: before the cut by its own level,
    # after it by LABEL_TAIL_DB.
    level = _frame_level(audio, self.hop, n_frames)
    peak = level.max(initial=1e-12)
    quiet = level < peak * 10 ** (LABEL_TAIL_DB / 20)
    after = np.arange(n_frames) * self.hop >= held
    f0[quiet & after] = 0.0
    f0[level < peak * 10 ** (-60 / 20)] = 0.0
    return f0


def _played_faster(audio: np.ndarray, ratio: float, rate: int) -> np.ndarray:
  """``audio`` played ``ratio`` times faster (its pitch ``ratio`` times
  higher, its length ``1 / ratio``)."""
  audio = np.asarray(audio, np.float32)
  if abs(ratio - 1.0) <= 1e-9:
    return audio
  return audio_lib.resample(audio, int(round(rate * ratio)),
                            rate).astype(np.float32)


def _frame_level(audio: np.ndarray, hop: int, n_frames: int) -> np.ndarray:
  """Peak |audio| within each frame's hop-long window (centred)."""
  padded = np.pad(np.abs(audio), (hop // 2, hop + hop // 2))
  windows = padded[:n_frames * hop].reshape(n_frames, hop)
  return windows.max(axis=1)


@functools.lru_cache(maxsize=256)
def _decode(path: str, offset: int, start: int, rate: int) -> np.ndarray:
  audio = audio_lib.load_audio(path, rate)[offset:][start:]
  audio.setflags(write=False)
  return audio


def load_recorded(sample: library.Sample, rate: int = 22050,
                  hop: int = 256) -> Recorded:
  """Decodes and measures one sample (``pitch.measure``), trimmed to its
  note's start (after the library's ``offset``).

  Raises:
    data_pipelines.audio.AudioError: an unreadable file.
  """
  audio = audio_lib.load_audio(sample.path, rate)[sample.offset:]
  measured = pitch.measure(audio, rate, float(sample.midi or 69) +
                           sample.tune_cents / 100.0, hop=hop)
  return Recorded(sample, measured, audio[measured.start:])
