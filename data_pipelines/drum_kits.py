"""Recorded drum kits as accompaniment: grooves played on the multi-sampled
acoustic kits of the AVL Drumkits soundfonts through FluidSynth.

``avldrums.lv2-soundfont`` (Debian) ships two General-MIDI-mapped kits
recorded from real drums, several velocity layers each: Black Pearl (used
for training and validation) and Red Zeppelin (held out for the test sets).
A groove (``groove``) is a pure function of the generator: a kick / snare /
hi-hat or ride pattern in 4/4 at the track's tempo, with ghost notes, fills
of toms every few bars, crashes on phrase starts, velocity accents and
+-8 ms timing noise. Drums are unpitched: they add no label. The kits sit at bank 0, preset 0 of
their soundfonts (not the General-MIDI percussion bank), so the grooves are
played on MIDI channel 1 with the General-MIDI percussion keys.

Install: ``apt-get install -y avldrums.lv2-soundfont fluidsynth``.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from data_pipelines import corpus
from data_pipelines import fluidsynth_render as fs

INSTALL = 'apt-get install -y avldrums.lv2-soundfont fluidsynth'
KITS = {
    'black_pearl': '/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2',
    'red_zeppelin': '/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2',
}
TRAIN_KITS = ('black_pearl',)
TEST_KITS = ('red_zeppelin',)
# General-MIDI percussion keys.
KICK, SNARE, CLOSED_HAT, OPEN_HAT, RIDE, CRASH = 36, 38, 42, 46, 51, 49
TOMS = (50, 47, 45, 43)


class DrumKitError(RuntimeError):
  """A kit's soundfont is missing (one line naming the package)."""


def kit_path(name: str) -> str:
  """The soundfont of kit ``name`` (one-line DrumKitError if missing)."""
  if name not in KITS:
    raise ValueError(f'Unknown drum kit {name!r}; known: {", ".join(KITS)}.')
  if not os.path.isfile(KITS[name]):
    raise DrumKitError(f'Drum kit {name!r} not found at {KITS[name]}; '
                       f'install it with `{INSTALL}`.')
  return KITS[name]


def groove(rng: np.random.Generator, bpm: float, seconds: float
           ) -> list[tuple[float, int, int]]:
  """(time s, GM key, velocity) hits of a groove (module docstring)."""
  beat = 60.0 / bpm
  eighth = beat / 2
  ride = rng.random() < 0.3
  busy = rng.random() < 0.5
  hits = []
  n_eighths = int(seconds / eighth) + 1
  for k in range(n_eighths):
    t = k * eighth
    bar, pos = divmod(k, 8)
    fill = bar % 4 == 3 and pos >= 4 and rng.random() < 0.7
    if fill:
      hits.append((t, int(TOMS[(pos - 4) % 4]), int(rng.integers(70, 115))))
      continue
    hat = RIDE if ride else (OPEN_HAT if pos == 7 and rng.random() < 0.3
                             else CLOSED_HAT)
    hits.append((t, hat, int(rng.integers(50, 90) + (15 if pos % 2 == 0
                                                     else 0))))
    if pos in (0, 4) or (busy and pos == 5 and rng.random() < 0.5):
      hits.append((t, KICK, int(rng.integers(85, 120))))
    if pos in (2, 6):
      hits.append((t, SNARE, int(rng.integers(85, 125))))
    elif busy and rng.random() < 0.15:
      hits.append((t, SNARE, int(rng.integers(25, 45))))  # ghost note
    if pos == 0 and bar % 4 == 0 and rng.random() < 0.6:
      hits.append((t, CRASH, int(rng.integers(80, 120))))
  jitter = np.clip(rng.normal(0, 0.004, len(hits)), -0.008, 0.008)
  return sorted((max(0.0, t + j), key, min(127, v))
                for (t, key, v), j in zip(hits, jitter) if t + j < seconds)


def render(hits: list[tuple[float, int, int]], kit: str, n_samples: int, *,
           sample_rate: int = corpus.SAMPLE_RATE) -> np.ndarray:
  """The hits played on ``kit``: [n_samples] float32 (unscaled)."""
  import mido  # pylint: disable=g-import-not-at-top
  soundfont = kit_path(kit)
  tempo, ticks_per_beat = fs._midi_ticks(sample_rate)  # pylint: disable=protected-access
  block_s = fs.BLOCK / sample_rate
  events = []
  for t, key, velocity in hits:
    tick = int(round(t / block_s))
    events.append((tick, 1, mido.Message('note_on', channel=0,
                                         note=key, velocity=velocity)))
    events.append((tick + 8, 0, mido.Message(
        'note_off', channel=0, note=key, velocity=0)))
  events.sort(key=lambda e: (e[0], e[1]))
  mid = mido.MidiFile(ticks_per_beat=ticks_per_beat)
  track = mido.MidiTrack()
  mid.tracks.append(track)
  track.append(mido.MetaMessage('set_tempo', tempo=tempo, time=0))
  now = 0
  for tick, _, message in events:
    track.append(message.copy(time=tick - now))
    now = tick
  with tempfile.TemporaryDirectory(prefix='mpe_drums_') as tmp:
    path = os.path.join(tmp, 'drums.mid')
    mid.save(path)
    audio = fs.render_midi(path, sample_rate=sample_rate, soundfont=soundfont)
  out = np.zeros(n_samples, np.float32)
  out[:min(n_samples, len(audio))] = audio[:n_samples]
  return out
