"""Scores played by recorded samples: the audio and its frame labels.

``render_track`` takes the parts of a piece (``pieces``: generated textures
or music21 excerpts), performs them as the General-MIDI renders do
(``gm_renders.perform``: tempo drift, onset jitter, velocities, accents,
articulation, held keyboard notes), plays every note on a sampler ``Bank``
(one instrument per part; each part folded by octaves into what its
instrument can play), and records the parts in one room through a
recording chain (``recording_chain``: each part at its own distance and
level, then compression, band-limiting, hiss and hum). The label of each
frame is the f0 of every sounding note as its recording plays it
(``sampler``): the players' own intonation, vibrato and decays.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from data_pipelines import audio as audio_lib
from data_pipelines import corpus
from data_pipelines.generated import gm_renders
from data_pipelines.generated import pieces
from data_pipelines.generated import recording_chain
from data_pipelines.real_samples import sampler

# A program that ``gm_renders.perform`` may sustain (keyboards), and one it
# does not (the other instruments).
_SUSTAINED_PROGRAM, _PLAIN_PROGRAM = 0, 40


def playable_range(bank: sampler.Bank) -> tuple[int, int]:
  """The MIDI pitches the bank plays (its recordings +- the shift)."""
  midi = np.array([n.sounding_midi for n in bank.notes])
  low = int(np.ceil(midi.min() - sampler.MAX_SHIFT))
  high = int(np.floor(midi.max() + sampler.MAX_SHIFT))
  return (max(low, gm_renders.MIDI_RANGE[0]),
          min(high, gm_renders.MIDI_RANGE[1]))


def render_track(rng: np.random.Generator, parts: Sequence[pieces.Part],
                 banks: Sequence[sampler.Bank], *, bpm: float,
                 seconds: float, keyboard: Sequence[bool] = (),
                 sample_rate: int = corpus.SAMPLE_RATE, hop: int = 256,
                 chain: bool = True) -> tuple[np.ndarray,
                                              corpus.FramePitches,
                                              np.ndarray]:
  """``parts[j]`` played on ``banks[j]`` for ``seconds``.

  Args:
    rng: the track's generator (performance, distances, chain).
    parts: the piece's lines.
    banks: one sampler bank per part (at ``sample_rate``, ``hop``).
    bpm: the performance's tempo.
    seconds: the track's length.
    keyboard: per part, whether its notes may be held on (a pedal).
    sample_rate, hop: Hz, and samples between label frames.
    chain: record through a room and a chain (False: a dry mix).

  Returns:
    Peak-normalised float32 audio ``[seconds * sample_rate]``, its labels
    (one frame per ``hop``) and the notes played, ``[L, 3]``: onset and
    note-off (s) and the median f0 (Hz) of the note while held.
  """
  if len(parts) != len(banks):
    raise ValueError(f'{len(parts)} parts for {len(banks)} banks')
  keyboard = tuple(keyboard) or (False,) * len(parts)
  folded = [gm_renders.fold_into(part, *playable_range(bank))
            for part, bank in zip(parts, banks)]
  programs = [_SUSTAINED_PROGRAM if k else _PLAIN_PROGRAM for k in keyboard]
  notes = gm_renders.perform(rng, folded, programs, bpm=bpm, seconds=seconds,
                             sample_rate=sample_rate)
  n_samples = int(round(seconds * sample_rate))
  n_frames = 1 + n_samples // hop
  frames: list[list[float]] = [[] for _ in range(n_frames)]
  sections = np.zeros((len(parts), n_samples))
  played_notes = []
  for note in notes:
    played = banks[note.part].play(note.pitch, note.velocity,
                                   note.offset - note.onset)
    start = int(round(note.onset * sample_rate))
    audio = played.audio[:max(0, n_samples - start)]
    sections[note.part, start:start + len(audio)] += (
        note.velocity / 127.0) * audio
    held = played.f0[:max(1, int(round((note.offset - note.onset) *
                                       sample_rate / hop)))]
    if np.any(held > 0):
      played_notes.append((note.onset, note.offset,
                           float(np.median(held[held > 0]))))
    # Label frame k (at k * hop) reads the note's f0 at its own frame.
    first = -(-start // hop)
    for k in range(first, n_frames):
      i = int(round((k * hop - start) / hop))
      if i >= len(played.f0):
        break
      if played.f0[i] > 0:
        frames[k].append(float(played.f0[i]))
  mix = np.zeros(n_samples)
  room = recording_chain.draw_chain(rng, sample_rate) if chain else None
  for j, section in enumerate(sections):
    if not np.any(section):
      continue
    if room is not None:
      section = recording_chain.place(section, room,
                                      float(rng.uniform(0.2, 1.0)),
                                      sample_rate)
    level = 10 ** (float(rng.uniform(-8.0, 0.0)) / 20)
    mix += level * 0.1 * section / (np.sqrt(np.mean(section ** 2)) + 1e-12)
  if room is not None:
    mix = recording_chain.master(mix, room, rng, sample_rate)
  times = np.arange(n_frames) * hop / sample_rate
  labels = corpus.FramePitches(times, [np.sort(np.asarray(f, np.float64))
                                       for f in frames])
  return (audio_lib.peak_normalize(mix.astype(np.float32)), labels,
          np.asarray(played_notes, np.float64).reshape(-1, 3))
