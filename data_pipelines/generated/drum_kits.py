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

Two uses: accompaniment in the expressive renders (``gm_renders``), and the
audio-only corpus 'drum_kits' (``DrumKits``), prepared once and read by the
percussion-invariance term as ``config.data.drum_source =
'drum_kits/train'``.

Install: ``apt-get install -y avldrums.lv2-soundfont fluidsynth``.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from data_pipelines import corpus
from data_pipelines import prepared
from data_pipelines import sources
from data_pipelines.generated import fluidsynth_render as fs

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
  block_s = fs.BLOCK / sample_rate
  events = []
  for t, key, velocity in hits:
    tick = int(round(t / block_s))
    events.append((tick, 1, mido.Message('note_on', channel=0,
                                         note=key, velocity=velocity)))
    events.append((tick + 8, 0, mido.Message(
        'note_off', channel=0, note=key, velocity=0)))
  with tempfile.TemporaryDirectory(prefix='mpe_drums_') as tmp:
    path = os.path.join(tmp, 'drums.mid')
    fs.save_block_events(events, path, sample_rate=sample_rate)
    audio = fs.render_midi(path, sample_rate=sample_rate, soundfont=soundfont)
  out = np.zeros(n_samples, np.float32)
  out[:min(n_samples, len(audio))] = audio[:n_samples]
  return out


# ------------------------------------------------------------------ corpus

SPLIT_KITS = {'train': TRAIN_KITS, 'test': TEST_KITS}
DEFAULT_TRACKS = {'train': 400, 'test': 24}
_SPLIT_KEY = {'train': 0, 'test': 1}
_DOMAIN = 41  # seed sub-domain


class DrumKits(corpus.Corpus):
  """'drum_kits': audio-only grooves on the recorded kits, for the
  percussion-invariance term (``config.data.drum_source =
  'drum_kits/train'`` once prepared). Track i of a split is a 20-s groove
  at 60-160 bpm on one of the split's kits (``SPLIT_KITS``), a pure
  function of (seed, split, i)."""

  name = 'drum_kits'
  title = 'AVL drum-kit grooves'
  splits = ('train', 'test')
  annotated = False
  url = 'https://packages.debian.org/avldrums.lv2-soundfont'

  def __init__(self, root: str = '', *, seed: int = 0,
               n_tracks: dict[str, int] | None = None,
               seconds: float = 20.0):
    del root
    fs.find_fluidsynth()
    self.root = ''
    self.seed = int(seed)
    self.n_tracks = {**DEFAULT_TRACKS, **(n_tracks or {})}
    self.seconds = float(seconds)

  def _track_ids(self, split: str) -> list[str]:
    return [f'{split}/{i:05d}' for i in range(self.n_tracks[split])]

  def load(self, track_id: str,
           sample_rate: int = corpus.SAMPLE_RATE) -> corpus.Record:
    split, index = track_id.split('/')
    rng = np.random.default_rng(np.random.SeedSequence(
        [self.seed, _DOMAIN, _SPLIT_KEY[split], int(index)]))
    kit = str(rng.choice(SPLIT_KITS[split]))
    n = int(round(self.seconds * sample_rate))
    hits = groove(rng, float(rng.uniform(60, 160)), self.seconds)
    audio = render(hits, kit, n, sample_rate=sample_rate)
    peak = float(np.max(np.abs(audio)))
    return corpus.Record(track_id, audio / peak if peak > 0 else audio,
                         sample_rate, None)


def open_source(data_dir: str, *, seed: int, sample_rate: int,
                hop_length: int, fmin: float, bins_per_octave: int,
                n_bins: int) -> sources.CorpusSource:
  """'drum_kits/train' from its prepared shards (audio only).

  Raises:
    DatasetNotFoundError: not prepared (one line with the command).
  """
  if not prepared.is_prepared(data_dir, DrumKits.name, 'train'):
    raise corpus.DatasetNotFoundError(
        f'Drum source drum_kits/train is not prepared under '
        f'config.data.data_dir={data_dir!r}: python -m data_pipelines.prepare '
        f'--dataset=drum_kits --data_dir={data_dir or "<data_dir>"} '
        '--splits=train.')
  directory = prepared.prepared_dir(data_dir, DrumKits.name, 'train')
  store = prepared.PreparedStore(directory, sample_rate=sample_rate,
                                 hop_length=hop_length, fmin=fmin,
                                 bins_per_octave=bins_per_octave,
                                 n_bins=n_bins)
  return sources.CorpusSource('drum_kits/train', store, seed=seed,
                              use_labels=False, hop_length=hop_length,
                              n_bins=n_bins,
                              origin=f'prepared shards in {directory}')
