"""What the sample-library readers return: one recorded note per
``Sample``, with what its library says about it."""

from __future__ import annotations

import dataclasses
import re

NOTE_OFFSETS = {'c': 0, 'd': 2, 'e': 4, 'f': 5, 'g': 7, 'a': 9, 'b': 11}
_NOTE = re.compile(r'^([a-gA-G])([#sb]?)(-?\d+)$')


class LibraryError(ValueError):
  """A library folder that is missing or not in the expected layout (one
  line: what is missing, and where to get it)."""


@dataclasses.dataclass(frozen=True)
class Sample:
  """One recorded note.

  Attributes:
    path: the audio file.
    library: which library (``philharmonia``, the SFZ file's name, ...).
    instrument: the instrument's name in its library.
    family: strings, woodwind, brass, keyboard, plucked, ...
    midi: the nominal MIDI pitch the library gives the note (None: the
      library calls it unpitched).
    velocity: (low, high) MIDI velocities the sample plays (SFZ ``lovel``
      .. ``hivel``; from the dynamic marking elsewhere).
    dynamic: the library's dynamic marking ('' when it has none).
    length: the library's length class ('025', '1', 'long', ...; '' when
      it has none).
    articulation: the library's playing style ('' when it has none).
    key_range: (low, high) MIDI keys the sample is mapped to (SFZ ``lokey``
      .. ``hikey``; the note itself elsewhere).
    tune_cents: the library's own tuning of the sample (SFZ ``tune`` plus
      100 x ``transpose``), added to ``midi`` when it is played.
    offset: samples to skip at the start (SFZ ``offset``).
    loop: (start, end) sample frames of a sustain loop, or None.
    release: a release sample (played at note-off), not a note's attack.
  """
  path: str
  library: str
  instrument: str
  family: str
  midi: int | None
  velocity: tuple[int, int] = (1, 127)
  dynamic: str = ''
  length: str = ''
  articulation: str = ''
  key_range: tuple[int, int] | None = None
  tune_cents: float = 0.0
  offset: int = 0
  loop: tuple[int, int] | None = None
  release: bool = False


def note_to_midi(name: str) -> int:
  """MIDI pitch of a note name: 'A4' = 69, 'C4' = 60, 'F#3', 'Fs3'
  (Philharmonia's sharp), 'Db5', 'c-1' = 0; a number is taken as it is.

  Raises:
    ValueError: not a note name.
  """
  text = str(name).strip()
  if re.fullmatch(r'-?\d+', text):
    return int(text)
  match = _NOTE.match(text)
  if not match:
    raise ValueError(f'not a note name: {name!r}')
  letter, accidental, octave = match.groups()
  semitone = NOTE_OFFSETS[letter.lower()] + {'#': 1, 's': 1, 'b': -1,
                                              '': 0}[accidental]
  return 12 * (int(octave) + 1) + semitone


# MIDI velocity ranges of the dynamic markings (pp .. ff), for libraries that
# name their dynamics instead of giving velocities.
DYNAMIC_VELOCITY = {
    'pianissimo': (1, 31), 'piano': (32, 55), 'mezzo-piano': (56, 71),
    'mezzo-forte': (72, 87), 'forte': (88, 103), 'fortissimo': (104, 127),
}
