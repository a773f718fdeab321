"""Music to render: generated textures and works of the music21 corpus.

A piece is a list of ``Part``s, each a voice or an instrument's line of
(onset, duration, MIDI pitch) in beats; ``gm_renders`` turns beats into
seconds (tempo), chooses a General-MIDI program per part and performs it.

* ``generated_piece``: a seeded piece in one of four textures -- chords over
  a bass with a melody (block or broken), free counterpoint of 2-4 voices
  moving mostly by step, a solo melody, and dense voicings of up to six
  notes (sevenths, ninths, doublings). Functional harmony in a random key and
  mode.
* ``music21_works`` / ``music21_excerpt``: the works of the music21 corpus
  (``pip install music21``; Palestrina, Monteverdi, trecento, Josquin, the
  Haydn/Mozart/Beethoven quartets, folk-song collections ...) with every Bach
  work, every chorale, hymn and theory exercise, and every four-part chorale
  harmonisation left out: those pieces are reserved for evaluation
  (``bach_chorales``). Each work belongs to one split by a hash of its path.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import hashlib
import os

import numpy as np

SPLITS = ('train', 'valid', 'test')
TEXTURES = ('chords', 'counterpoint', 'melody', 'dense')

# Paths (relative to the music21 corpus root) that no split may read: Bach,
# C. P. E. Bach, chorales/hymns anywhere, and the demos/theory exercises
# (which include four-part chorale harmonisations).
_EXCLUDED_FOLDERS = ('bach', 'cpebach', 'demos', 'theoryExercises')
_EXCLUDED_WORDS = ('bach', 'bwv', 'choral', 'hymn', 'riemenschneider')
# Works whose parse takes > 5 s (large quartet scores) are left out of the
# pool so that preparation stays quick; their excerpts add little.
_MAX_FILE_BYTES = 400_000
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_NEXT = {0: (3, 4, 5, 1), 1: (4, 6), 2: (5, 3), 3: (4, 0, 1), 4: (0, 5),
         5: (3, 1, 4), 6: (0,)}


@dataclasses.dataclass
class Part:
  """One line. Arrays of equal length: onsets and durations in beats, MIDI
  pitches (ints); ``role`` is 'bass', 'chords', 'melody' or 'voice'."""
  onsets: np.ndarray
  durations: np.ndarray
  pitches: np.ndarray
  role: str = 'voice'

  def __len__(self) -> int:
    return len(self.pitches)


def _part(notes: list[tuple[float, float, int]], role: str) -> Part:
  if not notes:
    return Part(np.zeros(0), np.zeros(0), np.zeros(0, np.int64), role)
  onsets, durations, pitches = (np.asarray(x) for x in zip(*notes))
  return Part(onsets.astype(np.float64), durations.astype(np.float64),
              pitches.astype(np.int64), role)


class _Key:
  """Scale steps -> MIDI pitches in one key and mode."""

  def __init__(self, rng: np.random.Generator):
    self.tonic = int(rng.integers(0, 12))
    self.scale = _MAJOR if rng.random() < 0.6 else _MINOR

  def pitch(self, step: int, octave: int) -> int:
    return (12 * octave + self.tonic + self.scale[step % 7]
            + 12 * (step // 7))


def _harmony(rng: np.random.Generator, beats: float) -> list[tuple]:
  """(start beat, length in beats, scale degree) of a chord progression."""
  out, t, degree = [], 0.0, 0
  while t < beats:
    length = float(rng.choice([1, 2, 2, 4]))
    out.append((t, min(length, beats - t), degree))
    degree = int(rng.choice(_NEXT[degree]))
    t += length
  return out


def _chords(rng, key, beats, dense: bool) -> list[Part]:
  octave = int(rng.integers(4, 6))
  broken = (not dense) and rng.random() < 0.4
  chord_notes, bass, melody = [], [], []
  n_tones = int(rng.integers(4, 6)) if dense else 3
  for start, length, degree in _harmony(rng, beats):
    steps = [degree + 2 * k for k in range(n_tones)]  # stacked thirds
    if broken:
      step = float(rng.choice([0.5, 0.25, 1.0 / 3.0]))
      for k, t in enumerate(np.arange(start, start + length - 1e-9, step)):
        chord_notes.append((t, step, key.pitch(steps[k % len(steps)], octave)))
    else:
      for s in steps:
        chord_notes.append((start, length, key.pitch(s, octave)))
    bass.append((start, length, key.pitch(degree, octave - 2)))
    for t in np.arange(start, start + length - 1e-9, 1.0):
      if rng.random() < 0.2:
        continue  # a rest
      tone = int(rng.choice(steps[:3])) + int(rng.choice([0, 0, 1, -1]))
      melody.append((t, min(1.0, start + length - t),
                     key.pitch(tone, octave + 1)))
  parts = [_part(chord_notes, 'chords')]
  if rng.random() < 0.8:
    parts.append(_part(bass, 'bass'))
  if rng.random() < (0.3 if dense else 0.6):
    parts.append(_part(melody, 'melody'))
  return parts


def _counterpoint(rng, key, beats) -> list[Part]:
  """2-4 voices, each a walk in the scale (mostly steps, some leaps)."""
  n_voices = int(rng.integers(2, 5))
  parts = []
  for v in range(n_voices):
    octave = 5 - v  # soprano .. bass, an octave apart at the start
    step, t, notes = int(rng.integers(0, 7)), 0.0, []
    values = rng.choice([[0.5, 1, 1, 2], [1, 1, 2, 3], [0.25, 0.5, 0.5, 1]])
    while t < beats:
      length = min(float(rng.choice(values)), beats - t)
      if rng.random() > 0.08:  # else a rest
        notes.append((t, length, key.pitch(step, octave)))
      move = rng.choice([-1, 1, -1, 1, -2, 2, 0, -3, 3, 4, -4])
      step = int(np.clip(step + move, -7, 10))
      t += length
    parts.append(_part(notes, 'bass' if v == n_voices - 1 and v else 'voice'))
  return parts


def _melody(rng, key, beats) -> list[Part]:
  octave = int(rng.integers(4, 7))
  step, t, notes = int(rng.integers(0, 7)), 0.0, []
  while t < beats:
    length = min(float(rng.choice([0.25, 0.5, 0.5, 1, 1, 1.5, 2])), beats - t)
    if rng.random() > 0.1:
      notes.append((t, length, key.pitch(step, octave)))
    step = int(np.clip(step + rng.choice([-2, -1, -1, 1, 1, 2, 3, -3, 0]),
                       -5, 12))
    t += length
  return [_part(notes, 'melody')]


def generated_piece(rng: np.random.Generator, beats: float,
                    texture: str | None = None) -> tuple[str, list[Part]]:
  """(texture, parts) of a random piece ``beats`` long (see module doc)."""
  texture = texture or str(rng.choice(TEXTURES, p=[0.35, 0.3, 0.15, 0.2]))
  key = _Key(rng)
  if texture == 'chords':
    return texture, _chords(rng, key, beats, dense=False)
  if texture == 'dense':
    return texture, _chords(rng, key, beats, dense=True)
  if texture == 'counterpoint':
    return texture, _counterpoint(rng, key, beats)
  if texture == 'melody':
    return texture, _melody(rng, key, beats)
  raise ValueError(f'unknown texture {texture!r}; choose from {TEXTURES}')


# ---------------------------------------------------------------- music21


class Music21Error(RuntimeError):
  """music21 is missing or a work could not be read (one line)."""


def _music21_corpus():
  try:
    from music21 import corpus  # pylint: disable=g-import-not-at-top
  except ImportError as error:
    raise Music21Error('The music21 corpus is needed for these pieces: '
                       'pip install -e ".[recipe]" (or pip install '
                       'music21).') from error
  return corpus


def is_excluded(relative_path: str) -> bool:
  """Whether a corpus path is reserved (Bach, chorales, hymns, exercises)."""
  lowered = relative_path.lower()
  first = relative_path.split('/', 1)[0]
  return (first in _EXCLUDED_FOLDERS
          or any(word in lowered for word in _EXCLUDED_WORDS))


def split_of(relative_path: str) -> str:
  """A work's split: 90 % train, 5 % valid, 5 % test by a hash of its path."""
  digest = int(hashlib.sha256(relative_path.encode()).hexdigest()[:8], 16)
  bucket = digest % 100
  return 'train' if bucket < 90 else ('valid' if bucket < 95 else 'test')


def _root_and_paths() -> tuple[str, list[str]]:
  corpus = _music21_corpus()
  paths = [str(p) for p in corpus.getPaths()]
  if not paths:
    raise Music21Error('The music21 corpus has no works.')
  root = os.path.commonpath(paths)
  while os.path.basename(root) != 'corpus' and root != os.path.dirname(root):
    root = os.path.dirname(root)
  return root, paths


def music21_works(split: str) -> list[str]:
  """Absolute paths of the split's works (sorted; reserved ones left out).

  Raises:
    Music21Error: music21 is not installed.
  """
  if split not in SPLITS:
    raise ValueError(f'no split {split!r}; splits: {SPLITS}')
  root, paths = _root_and_paths()
  out = []
  for path in sorted(paths):
    rel = os.path.relpath(path, root)
    if is_excluded(rel) or split_of(rel) != split:
      continue
    if os.path.getsize(path) > _MAX_FILE_BYTES:
      continue
    out.append(path)
  return out


def bach_chorales() -> list[str]:
  """The Bach chorales of the music21 corpus (BWV 250-438 and the other
  four-part harmonisations): EVALUATION ONLY, never to be trained on."""
  root, paths = _root_and_paths()
  return sorted(p for p in paths
                if os.path.relpath(p, root).startswith('bach/')
                and 'bwv' in os.path.basename(p).lower())


def _parts_of_score(score) -> list[Part]:
  parts = []
  for music_part in (score.parts or [score]):
    notes = []
    for element in music_part.flatten().notes:
      onset = float(element.offset)
      duration = float(element.quarterLength)
      if duration <= 0:
        continue
      if element.isChord:
        pitches = [p.midi for p in element.pitches]
      else:
        pitches = [element.pitch.midi]
      tied = element.tie is not None and element.tie.type in ('continue',
                                                              'stop')
      for p in pitches:
        if tied and notes and notes[-1][2] == p:
          last = notes[-1]  # extend a tied note instead of re-striking it
          notes[-1] = (last[0], onset + duration - last[0], p)
        else:
          notes.append((onset, duration, int(p)))
    if notes:
      parts.append(_part(notes, 'voice'))
  if parts:
    parts[-1].role = 'bass' if len(parts) > 1 else 'melody'
  return parts


def read_work(path: str) -> list[Part]:
  """All parts of a corpus work, in quarter-note beats.

  Raises:
    Music21Error: music21 missing or the file unreadable (one line).
  """
  corpus = _music21_corpus()
  try:
    score = corpus.parse(path)
    if hasattr(score, 'scores') and not hasattr(score, 'parts'):
      score = score.scores[0]  # an opus: its first work
    elif type(score).__name__ == 'Opus':
      score = score.scores[0]
  except Exception as error:  # pylint: disable=broad-except
    raise Music21Error(f'music21 could not read {path!r}: '
                       f'{" ".join(str(error).split())[:200]}') from error
  return _parts_of_score(score)


def excerpt(parts: Sequence[Part], start: float, beats: float) -> list[Part]:
  """The notes sounding in ``[start, start + beats)``, re-timed to 0."""
  out = []
  for part in parts:
    end = part.onsets + part.durations
    keep = (part.onsets < start + beats) & (end > start)
    if not keep.any():
      continue
    onsets = np.maximum(part.onsets[keep], start)
    ends = np.minimum(end[keep], start + beats)
    out.append(Part(onsets - start, ends - onsets, part.pitches[keep],
                    part.role))
  return out


def music21_excerpt(rng: np.random.Generator, works: Sequence[str],
                    beats: float) -> tuple[str, list[Part]]:
  """(work path, parts) of a random ``beats``-long excerpt of a random work
  of ``works`` (works that fail to parse or are empty are skipped)."""
  for _ in range(8):
    path = works[int(rng.integers(0, len(works)))]
    try:
      parts = read_work(path)
    except Music21Error:
      continue
    total = max((float((p.onsets + p.durations).max()) for p in parts
                 if len(p)), default=0.0)
    if total <= 0:
      continue
    start = float(rng.uniform(0, max(0.0, total - beats)))
    chosen = excerpt(parts, start, beats)
    if sum(len(p) for p in chosen):
      return path, chosen
  raise Music21Error('no readable music21 work among the tries.')
