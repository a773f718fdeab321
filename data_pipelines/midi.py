"""MIDI note lists with sustain-pedal extension (TRIOS, MAESTRO, FluidSynth).

``read_notes`` follows the reference reader (timbre-trap's MAESTRO
``load_notes_midi``, ``timbre_trap/datasets/SoloMultiPitch/MAESTRO.py``),
restated:

1. Walk the merged message stream in time order (seconds, tempo changes
   applied). A control change 64 whose on-state (value >= 64) differs from
   the current pedal state toggles the pedal and is a 'sustain_on' /
   'sustain_off' event. Every note message is a 'note' event that remembers
   the pedal state at its time; ``note_on`` with velocity 0 and ``note_off``
   are releases (velocity 0).
2. Each event with velocity > 0 is an onset. Its release is the next note
   event of the same pitch (a release or a re-strike), or the very last event
   of the file. If the pedal was down at that release (and it is not the last
   event), the note lasts further, until the next 'sustain_off', the next
   event of the same pitch, or the last event, whichever comes first.

One divergence: an onset that is itself the last event of the file (the
reference raises ``StopIteration``) is dropped. Channels are not
distinguished (the corpus readers use single-instrument files), except that
``skip_channels`` leaves some out (FluidSynth renders skip the GM drum
channel).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np


class MidiError(ValueError):
  """A MIDI file is missing, unreadable or corrupt (message names the file)."""


@dataclasses.dataclass(frozen=True)
class NoteList:
  """Notes in file order of their onsets.

  Attributes:
    pitches: [L] MIDI note numbers (float64).
    velocities: [L] onset velocities.
    onsets: [L] seconds.
    offsets: [L] seconds (>= onsets).
  """
  pitches: np.ndarray
  velocities: np.ndarray
  onsets: np.ndarray
  offsets: np.ndarray


_NOTE, _SUSTAIN_ON, _SUSTAIN_OFF = 0, 1, 2


def _events(path: str, skip_channels: tuple[int, ...] = ()):
  """(time, kind, note, velocity, pedal_down) tuples of a MIDI file."""
  import mido  # pylint: disable=g-import-not-at-top  (optional at import)
  if not os.path.isfile(path):
    raise MidiError(f'MIDI file not found: {path!r}.')
  try:
    midi = mido.MidiFile(path)
    messages = list(midi)
  except Exception as error:  # pylint: disable=broad-except
    reason = ' '.join(str(error).split()) or type(error).__name__
    raise MidiError(f'Cannot read MIDI file {path!r}: {reason}.') from error
  time, pedal, events = 0.0, False, []
  for message in messages:
    time += message.time
    if message.type == 'control_change' and message.control == 64:
      down = message.value >= 64
      if down != pedal:
        pedal = down
        events.append((time, _SUSTAIN_ON if down else _SUSTAIN_OFF, -1, 0,
                       pedal))
    elif (message.type in ('note_on', 'note_off')
          and message.channel not in skip_channels):
      velocity = message.velocity if message.type == 'note_on' else 0
      events.append((time, _NOTE, message.note, velocity, pedal))
  return events


def read_notes(path: str | os.PathLike[str], *,
               skip_channels: tuple[int, ...] = ()) -> NoteList:
  """Notes of a MIDI file with the reference's sustain-pedal rule.

  Args:
    path: the .mid/.midi file.
    skip_channels: channels (0-based) whose notes are ignored, e.g. (9,) for
      the General-MIDI percussion channel.

  Raises:
    MidiError: missing or unreadable file (one line naming it).
  """
  events = _events(os.fspath(path), tuple(skip_channels))
  last = len(events) - 1
  pitches, velocities, onsets, offsets = [], [], [], []
  for i, (time, kind, note, velocity, _) in enumerate(events):
    if kind != _NOTE or velocity == 0 or i == last:
      continue
    j = next(k for k in range(i + 1, len(events))
             if events[k][2] == note or k == last)
    if events[j][4] and j != last:  # pedal down at the release
      j = next(k for k in range(j + 1, len(events))
               if events[k][1] == _SUSTAIN_OFF or events[k][2] == note
               or k == last)
    pitches.append(note)
    velocities.append(velocity)
    onsets.append(time)
    offsets.append(events[j][0])
  return NoteList(pitches=np.asarray(pitches, dtype=np.float64),
                  velocities=np.asarray(velocities, dtype=np.float64),
                  onsets=np.asarray(onsets, dtype=np.float64),
                  offsets=np.asarray(offsets, dtype=np.float64))
