"""'gm_renders': performed General-MIDI renders with exact labels, made here.

The labelled data of the shipped model (``configs/pretrained.py``), and the
held-out sets it is scored on. A track (a pure function of seed, split and
index) is:

1. **a piece** (``pieces``): a generated texture (chords / counterpoint /
   melody / dense voicings) or an excerpt of a music21-corpus work of the
   split (no Bach, no chorale, no hymn, no exercise; works are split 90/5/5
   by a hash of their path);
2. **performed**: a tempo of 50-140 bpm drifting by up to +-8 %, each part a
   General-MIDI program of its own (drawn by role: basses, keyboards,
   organs, guitars, strings, brass, reeds, pipes, choirs and voice-like
   pads, synth leads), a velocity per note (part level, downbeat accent,
   noise), onset jitter (sd 6 ms, at most 15 ms), articulation (each note
   kept for 70-100 % of its written length) and, on keyboards and plucked
   programs, sustain (notes held up to one beat longer). Polyphony is capped
   at ``MAX_POLYPHONY`` = 6 (later onsets dropped) and every time is a
   multiple of FluidSynth's 64-sample block, so the labels are exact;
3. **rendered** by FluidSynth with one of several soundfonts, and
4. **augmented** in numpy (train only): with p = 0.2 an unrelated second
   piece mixed in (its notes labelled too), a room (exponentially decaying
   noise impulse response, RT60 0.2-1.2 s, wet 10-50 %) with p = 0.7, a
   random EQ curve (+-6 dB at 8 log-spaced points) with p = 0.5, and
   white or pink noise at 15-40 dB SNR with p = 0.5.

Splits:

* ``train``: soundfonts FluidR3_GM, TimGM6mb, OPL-3 FM and csound's GM bank;
  every program but
  ``HELD_OUT_PROGRAMS``; generated pieces and music21 train works; 20 s.
* ``valid`` (model selection): like train, other pieces and works, no
  augmentation but the room; 10 s.
* ``test``: the held-out soundfont MuseScore_General_Lite, only
  ``HELD_OUT_PROGRAMS`` (harpsichord, vibraphone, church organ, steel guitar,
  fingered bass, viola, slow strings, voice oohs, tuba, English horn,
  recorder, warm pad), generated pieces and music21 test works; 10 s.
* ``chorales``: Bach chorales of the music21 corpus (EVALUATION ONLY; no
  training or validation set reads them), MuseScore soundfont, voice, organ,
  string and wind programs, the first 10 s of each.

Expressive splits (``expressive_train`` 1200 x 20 s, ``expressive_valid``
24 x 10 s, ``expressive_test`` 32 x 10 s) take the pieces, programs and
soundfonts of ``train`` / ``valid`` / ``test`` and play them as performers
and recordings do:

* each part is a General-MIDI program (FluidSynth) or, with p =
  ``STK_SHARE``, an STK physical model (``stk_render``; three models are held
  out for ``expressive_test``), folded by octaves into the model's range;
* expressive pitch and loudness (``expression``): the track's tuning (A4 =
  430-450 Hz), per-note intonation, vibrato, drift and glides on bendable
  programs and models, phrase dynamics and per-note swells; FluidSynth plays
  them with one channel per sounding note (pitch wheel, RPN 0 range of 12
  semitones, CC 11), STK with one SKINI channel per note (``PitchChange``);
  the labels are the bent f0 at every frame (``corpus.FramePitches``);
* with p = ``DRUM_SHARE`` a groove on a recorded kit (``drum_kits``; Black
  Pearl for train and valid, Red Zeppelin held out for test);
* a recording chain (``recording_chain``): one room per track, each section
  (STK part, or the near / far General-MIDI parts) at its own distance and
  level, then compression, band-limiting, hiss and hum, level rides.

No program of ``HELD_OUT_PROGRAMS``, the test soundfont, a held-out STK
model or the held-out kit ever reaches a train or valid track (the second
piece of a train track draws its programs from the allowed pool, excluding
the first piece's; ``tests/test_expressive.py`` plans every default track).

Soundfonts and models (Debian): ``apt-get install -y fluidsynth
fluid-soundfont-gm timgm6mb-soundfont opl3-soundfont csound-soundfont
musescore-general-soundfont-small stk avldrums.lv2-soundfont``.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from scipy import signal

from data_pipelines import audio as audio_lib
from data_pipelines import corpus
from data_pipelines import prepared
from data_pipelines import sources
from data_pipelines.generated import drum_kits
from data_pipelines.generated import expression
from data_pipelines.generated import fluidsynth_render as fs
from data_pipelines.generated import pieces
from data_pipelines.generated import recording_chain
from data_pipelines.generated import stk_render

NAME = 'gm_renders'
EXPRESSIVE_SPLITS = ('expressive_train', 'expressive_valid', 'expressive_test')
SPLITS = ('train', 'valid', 'test', 'chorales') + EXPRESSIVE_SPLITS
# The plain split whose pieces, programs, soundfonts (and, for the STK
# instruments and drum kits, train/held-out side) an expressive split uses.
BASE_SPLIT = {'expressive_train': 'train', 'expressive_valid': 'valid',
              'expressive_test': 'test'}
SOUNDFONTS = {  # name -> (path, Debian package)
    'fluidr3': ('/usr/share/sounds/sf2/FluidR3_GM.sf2', 'fluid-soundfont-gm'),
    'timgm6mb': ('/usr/share/sounds/sf2/TimGM6mb.sf2', 'timgm6mb-soundfont'),
    'opl3': ('/usr/share/sounds/sf2/OPL-3_FM_128M.sf2', 'opl3-soundfont'),
    'csound': ('/usr/share/sounds/sf2/sf_GMbank.sf2', 'csound-soundfont'),
    'musescore': ('/usr/share/sounds/sf3/MuseScore_General_Lite.sf3',
                  'musescore-general-soundfont-small'),
}
TRAIN_SOUNDFONTS = ('fluidr3', 'timgm6mb', 'opl3', 'csound')
TEST_SOUNDFONT = 'musescore'
INSTALL = ('apt-get install -y fluidsynth fluid-soundfont-gm '
           'timgm6mb-soundfont opl3-soundfont csound-soundfont '
           'musescore-general-soundfont-small')
# General-MIDI programs (0-based) heard only in the test split.
HELD_OUT_PROGRAMS = (6, 11, 19, 25, 33, 41, 49, 53, 58, 69, 74, 89)
MAX_POLYPHONY = 6
MIDI_RANGE = (24, 103)  # labelled pitches (the HCQT grid spans 21-108)
DEFAULT_TRACKS = {'train': 960, 'valid': 16, 'test': 24, 'chorales': 24,
                  'expressive_train': 1200, 'expressive_valid': 24,
                  'expressive_test': 32}
DEFAULT_SECONDS = {'train': 20.0, 'valid': 10.0, 'test': 10.0,
                   'chorales': 10.0, 'expressive_train': 20.0,
                   'expressive_valid': 10.0, 'expressive_test': 10.0}
_SPLIT_KEY = {'train': 0, 'valid': 1, 'test': 2, 'chorales': 3,
              'expressive_train': 4, 'expressive_valid': 5,
              'expressive_test': 6}
STK_SHARE = 0.35  # expressive splits: share of parts played by an STK model
DRUM_SHARE = 0.25  # expressive splits: share of tracks with a drum kit
CONTROL_STEP_BLOCKS = 2  # pitch/expression curve step (x 64 samples)
_DOMAIN = 31  # seed sub-domain

# Program pools by role (GM families: 0 piano, 8 chromatic percussion,
# 16 organ, 24 guitar, 32 bass, 40 strings, 48 ensemble, 56 brass, 64 reed,
# 72 pipe, 80 synth lead, 88 synth pad, 104 ethnic).
_BASS = (32, 33, 34, 35, 36, 37, 38, 39, 42, 43, 57, 58, 67, 70, 0, 19, 1)
_CHORDS = (0, 1, 2, 3, 4, 5, 6, 7, 11, 16, 17, 18, 19, 20, 24, 25, 26, 27,
           46, 48, 49, 50, 51, 52, 53, 54, 61, 88, 89, 90, 91, 94, 95)
_MELODY = (0, 1, 4, 6, 8, 9, 10, 11, 12, 13, 21, 22, 24, 25, 26, 40, 41, 42,
           52, 53, 54, 56, 57, 59, 60, 64, 65, 66, 68, 69, 70, 71, 72, 73, 74,
           75, 78, 79, 80, 81, 82, 85, 87, 104, 105, 107, 110)
_VOICE = (0, 6, 16, 19, 20, 40, 41, 42, 43, 48, 49, 52, 53, 54, 56, 57, 58,
          60, 64, 65, 66, 68, 69, 70, 71, 73, 74, 85, 89, 91)
_POOLS = {'bass': _BASS, 'chords': _CHORDS, 'melody': _MELODY,
          'voice': _VOICE}
_CHORALE_PROGRAMS = (19, 20, 52, 53, 54, 40, 41, 42, 43, 48, 49, 68, 70,
                     71, 73, 57, 58, 60, 91)
# Played with a bendable pitch (vibrato, glides, drift): bowed strings and
# string ensembles, voices, brass, reeds, pipes, voice-like leads.
_BENDABLE = (set(range(40, 45)) | set(range(48, 55)) | set(range(56, 80)) |
             {85, 91})
# Sustained by the player (piano pedal, let-ring): keyboards, chromatic
# percussion, guitars, plucked ethnic instruments.
_SUSTAINED = set(range(0, 16)) | set(range(24, 32)) | {104, 105, 106, 107,
                                                       108}


class GMRendersError(RuntimeError):
  """A soundfont, FluidSynth or music21 is missing (one line)."""


def soundfont_path(name: str) -> str:
  """The file of soundfont ``name`` (one-line error naming its package)."""
  path, package = SOUNDFONTS[name]
  if not os.path.isfile(path):
    raise GMRendersError(
        f'Soundfont {name!r} not found at {path}; install it with '
        f'`apt-get install -y {package}` (all of them: `{INSTALL}`).')
  return path


def _programs(rng: np.random.Generator, roles: list[str], split: str,
              exclude: tuple[int, ...] = ()) -> list[int]:
  """One distinct program per part, none of ``exclude`` (held-out ones only
  in 'test', never elsewhere)."""
  held = set(HELD_OUT_PROGRAMS)
  chosen: list[int] = list(exclude)
  for role in roles:
    pool = _CHORALE_PROGRAMS if split == 'chorales' else _POOLS[role]
    if split == 'test':
      allowed = [p for p in pool if p in held] or list(HELD_OUT_PROGRAMS)
    elif split == 'chorales':
      allowed = list(pool)
    else:
      allowed = [p for p in pool if p not in held]
    allowed = [p for p in allowed if p not in chosen] or [
        p for p in range(96) if p not in chosen
        and (split == 'test') == (p in held)]
    chosen.append(int(rng.choice(allowed)))
  return chosen[len(exclude):]


def _beats_to_seconds(rng: np.random.Generator, bpm: float):
  """A monotone beat -> seconds map: ``bpm`` with a slow +-8 % drift."""
  depth = float(rng.uniform(0.0, 0.08))
  period = float(rng.uniform(8.0, 32.0))  # beats
  phase = float(rng.uniform(0, 2 * np.pi))
  beat_s = 60.0 / bpm

  def seconds(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, np.float64)
    w = 2 * np.pi / period
    return beat_s * (b + depth / w * (np.cos(phase) - np.cos(w * b + phase)))
  return seconds


def perform(rng: np.random.Generator, parts: list[pieces.Part],
            programs: list[int], *, bpm: float, seconds: float,
            sample_rate: int = corpus.SAMPLE_RATE,
            velocity_scale: float = 1.0, first_part: int = 0
            ) -> list[fs.Note]:
  """Notes (times on the 64-sample block grid, inside ``[0, seconds]``) of
  ``parts`` played with ``programs`` (see the module docstring); part j's
  notes carry ``part=first_part + j``."""
  to_s = _beats_to_seconds(rng, bpm)
  block = fs.BLOCK / sample_rate
  last_block = int(seconds / block)
  notes: list[fs.Note] = []
  for j, (part, program) in enumerate(zip(parts, programs)):
    if not len(part):
      continue
    level = float(rng.uniform(50, 110))
    legato = float(rng.uniform(0.7, 1.0))
    sustain = program in _SUSTAINED and rng.random() < 0.5
    on = to_s(part.onsets) + np.clip(rng.normal(0, 0.006, len(part)),
                                     -0.015, 0.015)
    written = to_s(part.onsets + part.durations) - to_s(part.onsets)
    held = written * rng.uniform(legato, 1.0, len(part))
    if sustain:
      held = held + rng.uniform(0, 60.0 / bpm, len(part))
    accent = np.where(np.isclose(part.onsets % 4, 0), 8.0, 0.0)
    velocity = np.clip(level * velocity_scale + accent +
                       rng.normal(0, 8, len(part)), 20, 127)
    on_b = np.maximum(np.round(on / block), 0).astype(np.int64)
    off_b = np.maximum(np.round((on + held) / block).astype(np.int64),
                       on_b + 2)
    part_notes = []
    for k in np.argsort(on_b, kind='stable'):
      pitch = int(part.pitches[k])
      if not MIDI_RANGE[0] <= pitch <= MIDI_RANGE[1] or on_b[k] >= last_block:
        continue
      part_notes.append([int(on_b[k]), int(min(off_b[k], last_block)), pitch,
                         int(velocity[k])])
    # One channel per program: a re-struck pitch ends the previous one.
    last_of: dict[int, list] = {}
    for note in part_notes:
      previous = last_of.get(note[2])
      if previous is not None and previous[1] > note[0]:
        previous[1] = note[0]
      last_of[note[2]] = note
    notes += [fs.Note(p, a * block, b * block, program, v, first_part + j)
              for a, b, p, v in part_notes if b - a >= 2]
  return cap_polyphony(notes, MAX_POLYPHONY)


def cap_polyphony(notes: list[fs.Note], limit: int) -> list[fs.Note]:
  """``notes`` without the later-starting ones that would exceed ``limit``
  simultaneous notes."""
  kept: list[fs.Note] = []
  for note in sorted(notes, key=lambda n: (n.onset, -n.offset)):
    sounding = sum(1 for k in kept if k.onset <= note.onset < k.offset)
    if sounding < limit:
      kept.append(note)
  return kept


def _room(rng: np.random.Generator, audio: np.ndarray,
          sample_rate: int) -> np.ndarray:
  """``audio`` in a random room (exponentially decaying noise IR)."""
  rt60 = float(rng.uniform(0.2, 1.2))
  n = int(rt60 * sample_rate)
  t = np.arange(n) / sample_rate
  ir = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60)
  ir = signal.lfilter([1.0], [1.0, -float(rng.uniform(0.0, 0.7))], ir)
  ir /= np.sqrt(np.sum(ir ** 2)) + 1e-12
  wet = float(rng.uniform(0.1, 0.5))
  reverb = signal.fftconvolve(audio, ir)[:len(audio)]
  dry_rms = np.sqrt(np.mean(audio ** 2)) + 1e-12
  reverb *= dry_rms / (np.sqrt(np.mean(reverb ** 2)) + 1e-12)
  return (1 - wet) * audio + wet * reverb


def _equalize(rng: np.random.Generator, audio: np.ndarray,
              sample_rate: int) -> np.ndarray:
  spectrum = np.fft.rfft(audio)
  freqs = np.fft.rfftfreq(len(audio), 1 / sample_rate)
  points = np.geomspace(40.0, sample_rate / 2, 8)
  gains_db = rng.uniform(-6, 6, len(points))
  curve = np.interp(np.log(np.maximum(freqs, 1.0)), np.log(points), gains_db)
  return np.fft.irfft(spectrum * 10.0 ** (curve / 20), n=len(audio))


def _noise(rng: np.random.Generator, audio: np.ndarray) -> np.ndarray:
  noise = rng.standard_normal(len(audio))
  if rng.random() < 0.5:  # pink: 1/f power
    spectrum = np.fft.rfft(noise)
    spectrum /= np.sqrt(np.arange(1, len(spectrum) + 1))
    noise = np.fft.irfft(spectrum, n=len(audio))
  snr_db = float(rng.uniform(15, 40))
  power = np.mean(audio ** 2)
  noise *= np.sqrt(power / 10 ** (snr_db / 10) / (np.mean(noise ** 2) +
                                                   1e-20))
  return audio + noise


@dataclasses.dataclass(frozen=True)
class TrackPlan:
  """What a track is before rendering (for inspection and tests).

  Expressive tracks also have: ``engines`` (per part, 'gm' or the STK model
  playing it), ``curves`` (per note pitch and loudness), ``distances`` (per
  part, 0.2 close .. 1 far), ``part_db`` (per part mix level), ``drum_kit``
  ('' = no drums) and ``tuning_cents``.
  """
  notes: list[fs.Note]
  soundfont: str
  description: str
  engines: tuple[str, ...] = ()
  curves: expression.Curves | None = None
  distances: tuple[float, ...] = ()
  part_db: tuple[float, ...] = ()
  drum_kit: str = ''
  tuning_cents: float = 0.0


def fold_into(part: pieces.Part, low: int, high: int) -> pieces.Part:
  """``part`` with each pitch moved by octaves into ``[low, high]``."""
  pitches = part.pitches.copy()
  while np.any(pitches < low):
    pitches = np.where(pitches < low, pitches + 12, pitches)
  while np.any(pitches > high):
    pitches = np.where(pitches > high, pitches - 12, pitches)
  pitches = np.where(pitches < low, pitches + 12, pitches)  # range < octave
  return pieces.Part(part.onsets, part.durations, pitches, part.role)


def _stk_choice(rng: np.random.Generator, role: str, base: str,
                taken: list[str]) -> str:
  """An STK model for a part of ``role`` (held-out models only in test)."""
  pool = stk_render.HELD_OUT if base == 'test' else (
      stk_render.TRAIN_INSTRUMENTS)
  fits = [i for i in pool if role in stk_render.INSTRUMENTS[i].roles
          and i not in taken] or [i for i in pool if i not in taken] or list(
              pool)
  return str(rng.choice(fits))


class GMRenders(corpus.Corpus):
  """The 'gm_renders' corpus (see the module docstring)."""

  name = NAME
  title = 'General-MIDI renders'
  splits = SPLITS
  annotated = True
  url = 'https://www.fluidsynth.org'

  def __init__(self, root: str = '', *, seed: int = 0,
               n_tracks: dict[str, int] | None = None,
               seconds: dict[str, float] | None = None,
               music21_share: float = 0.5):
    """Args:
      root: unused ('' : tracks are made, not read); kept for the reader
        interface.
      seed: the corpus seed (tracks are a pure function of seed, split and
        index).
      n_tracks: tracks per split (default ``DEFAULT_TRACKS``).
      seconds: seconds per track by split (default ``DEFAULT_SECONDS``).
      music21_share: share of train/valid/test tracks that are music21
        excerpts (0 = generated pieces only; then music21 is not needed).
    """
    del root
    fs.find_fluidsynth()
    self.root = ''
    self.seed = int(seed)
    self.n_tracks = {**DEFAULT_TRACKS, **(n_tracks or {})}
    self.seconds = {**DEFAULT_SECONDS, **(seconds or {})}
    self.music21_share = float(music21_share)
    self._works: dict[str, list[str]] = {}

  def _track_ids(self, split: str) -> list[str]:
    return [f'{split}/{i:05d}' for i in range(self.n_tracks[split])]

  def _works_of(self, split: str) -> list[str]:
    if split not in self._works:
      try:
        self._works[split] = (pieces.bach_chorales() if split == 'chorales'
                              else pieces.music21_works(split))
      except pieces.Music21Error as error:
        raise GMRendersError(str(error)) from error
      if not self._works[split]:
        raise GMRendersError(f'The music21 corpus has no works for the '
                             f'{split!r} split.')
    return self._works[split]

  def _piece(self, rng: np.random.Generator, split: str, beats: float
             ) -> tuple[str, list[pieces.Part]]:
    if split == 'chorales':
      works = self._works_of(split)
      path = works[int(rng.integers(0, len(works)))]
      parts = pieces.read_work(path)
      return os.path.basename(path), pieces.excerpt(parts, 0.0, beats)
    if self.music21_share > 0 and rng.random() < self.music21_share:
      path, parts = pieces.music21_excerpt(rng, self._works_of(split), beats)
      return os.path.basename(path), parts
    texture, parts = pieces.generated_piece(rng, beats)
    return f'generated:{texture}', parts

  def plan(self, track_id: str, sample_rate: int = corpus.SAMPLE_RATE
           ) -> TrackPlan:
    """The notes and soundfont of a track (no rendering)."""
    split, index = track_id.split('/')
    if split in EXPRESSIVE_SPLITS:
      return self._expressive_plan(split, int(index), sample_rate)
    rng = self._rng(split, int(index))
    seconds = self.seconds[split]
    bpm = float(rng.uniform(50, 140))
    name, parts = self._piece(rng, split, seconds * bpm / 60 * 1.1 + 1)
    programs = _programs(rng, [p.role for p in parts], split)
    notes = perform(rng, parts, programs, bpm=bpm, seconds=seconds,
                    sample_rate=sample_rate)
    description = f'{name} at {bpm:.0f} bpm, programs {programs}'
    if split == 'train' and rng.random() < 0.2:  # an unrelated second piece
      bpm2 = float(rng.uniform(50, 140))
      texture, parts2 = pieces.generated_piece(rng, seconds * bpm2 / 60 + 1)
      programs2 = _programs(rng, [p.role for p in parts2], split,
                            exclude=tuple(programs))
      notes2 = perform(rng, parts2, programs2, bpm=bpm2, seconds=seconds,
                       sample_rate=sample_rate,
                       velocity_scale=float(rng.uniform(0.5, 0.9)))
      notes = cap_polyphony(notes + notes2, MAX_POLYPHONY)
      description += f' + generated:{texture} at {bpm2:.0f} bpm'
    if split in ('train', 'valid'):
      soundfont = str(rng.choice(TRAIN_SOUNDFONTS))
    else:
      soundfont = TEST_SOUNDFONT
    return TrackPlan(notes, soundfont, description)

  def _expressive_plan(self, split: str, index: int,
                       sample_rate: int) -> TrackPlan:
    """An expressive track: the base split's pieces, programs and
    soundfonts, parts played by General-MIDI programs or STK models,
    expressive pitch and loudness, section distances, maybe drums."""
    base = BASE_SPLIT[split]
    rng = self._rng(split, index)
    seconds = self.seconds[split]
    bpm = float(rng.uniform(50, 140))
    name, parts = self._piece(rng, base, seconds * bpm / 60 * 1.1 + 1)
    programs = _programs(rng, [p.role for p in parts], base)
    engines: list[str] = []
    for j, part in enumerate(parts):
      if rng.random() < STK_SHARE:
        model = _stk_choice(rng, part.role, base, engines)
        spec = stk_render.INSTRUMENTS[model]
        parts[j] = fold_into(part, spec.low, spec.high)
        engines.append(model)
      else:
        engines.append('gm')
    notes = perform(rng, parts, programs, bpm=bpm, seconds=seconds,
                    sample_rate=sample_rate)
    tuning = expression.draw_tuning(rng)
    players = []
    for j, engine in enumerate(engines):
      sustained = (stk_render.INSTRUMENTS[engine].sustained if engine != 'gm'
                   else programs[j] in _BENDABLE)
      players.append(expression.draw_player(rng, sustained))
    block = fs.BLOCK / sample_rate
    curves = expression.draw_curves(
        rng, np.array([n.pitch for n in notes]),
        np.array([n.onset for n in notes]),
        np.array([n.offset for n in notes]),
        np.array([n.part for n in notes], np.int64), players,
        tuning_cents=tuning, step=CONTROL_STEP_BLOCKS * block)
    distances = tuple(float(rng.uniform(0.2, 1.0)) for _ in parts)
    part_db = tuple(float(rng.uniform(-8.0, 0.0)) for _ in parts)
    if base in ('train', 'valid'):
      soundfont = str(rng.choice(TRAIN_SOUNDFONTS))
      kits = drum_kits.TRAIN_KITS
    else:
      soundfont = TEST_SOUNDFONT
      kits = drum_kits.TEST_KITS
    drum_kit = str(rng.choice(kits)) if rng.random() < DRUM_SHARE else ''
    played = [e if e != 'gm' else f'gm{p}' for e, p in zip(engines,
                                                           programs)]
    description = (f'{name} at {bpm:.0f} bpm, A4 = '
                   f'{440 * 2 ** (tuning / 1200):.1f} Hz, parts {played}'
                   + (f', drums {drum_kit}' if drum_kit else ''))
    return TrackPlan(notes, soundfont, description, tuple(engines), curves,
                     distances, part_db, drum_kit, tuning)

  def _rng(self, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(
        [self.seed, _DOMAIN, _SPLIT_KEY[split], index]))

  def _render_expressive(self, split: str, index: int, plan: TrackPlan,
                         n_samples: int, sample_rate: int) -> np.ndarray:
    """The sections of ``plan`` rendered, placed in one room and mastered."""
    rng = np.random.default_rng(np.random.SeedSequence(
        [self.seed, _DOMAIN, _SPLIT_KEY[split], index, 2]))
    chain = recording_chain.draw_chain(rng, sample_rate)
    soundfont = soundfont_path(plan.soundfont)
    step = plan.curves.step
    mix = np.zeros(n_samples)
    sections: dict[tuple, list[int]] = {}
    for j, engine in enumerate(plan.engines):
      # General-MIDI parts at a similar distance share one FluidSynth run.
      key = ('gm', plan.distances[j] < 0.6) if engine == 'gm' else (
          engine, j)
      sections.setdefault(key, []).append(j)
    for key, members in sections.items():
      chosen = [i for i, n in enumerate(plan.notes) if n.part in members]
      if not chosen:
        continue
      if key[0] == 'gm':
        curves = expression.Curves(step, [plan.curves.cents[i] for i in
                                          chosen],
                                   [plan.curves.level_db[i] for i in chosen])
        audio = fs.render_notes([plan.notes[i] for i in chosen], n_samples,
                                sample_rate=sample_rate, soundfont=soundfont,
                                curves=curves)
      else:
        gain = np.array([10 ** (plan.curves.level_db[i].mean() / 20)
                         for i in chosen])
        audio = stk_render.render_part(
            key[0], np.array([plan.notes[i].pitch for i in chosen]),
            np.array([plan.notes[i].onset for i in chosen]),
            np.array([plan.notes[i].offset for i in chosen]),
            np.array([plan.notes[i].velocity for i in chosen]) * gain,
            n_samples, cents=[plan.curves.cents[i] for i in chosen],
            step=step, sample_rate=sample_rate)
      if not np.any(audio):
        continue
      distance = float(np.mean([plan.distances[j] for j in members]))
      level = 10 ** (np.mean([plan.part_db[j] for j in members]) / 20)
      placed = recording_chain.place(audio, chain, distance, sample_rate)
      mix += level * 0.1 * placed / (np.sqrt(np.mean(placed ** 2)) + 1e-12)
    if plan.drum_kit:
      bpm = float(rng.uniform(60, 140))
      drums = drum_kits.render(drum_kits.groove(rng, bpm, n_samples /
                                                sample_rate),
                               plan.drum_kit, n_samples,
                               sample_rate=sample_rate)
      if np.any(drums):
        placed = recording_chain.place(drums, chain,
                                       float(rng.uniform(0.3, 0.9)),
                                       sample_rate)
        mix += (10 ** (rng.uniform(-9, 0) / 20) * 0.1 * placed /
                (np.sqrt(np.mean(placed ** 2)) + 1e-12))
    return recording_chain.master(mix, chain, rng, sample_rate)

  def load(self, track_id: str,
           sample_rate: int = corpus.SAMPLE_RATE) -> corpus.Record:
    split, index = track_id.split('/')
    plan = self.plan(track_id, sample_rate)
    if split in EXPRESSIVE_SPLITS:
      n_samples = int(round(self.seconds[split] * sample_rate))
      try:
        audio = self._render_expressive(split, int(index), plan, n_samples,
                                        sample_rate)
      except (fs.FluidSynthError, stk_render.STKError,
              drum_kits.DrumKitError) as error:
        raise GMRendersError(str(error)) from error
      annotation = expression.annotation(
          np.array([n.pitch for n in plan.notes]),
          np.array([n.onset for n in plan.notes]),
          np.array([n.offset for n in plan.notes]), plan.curves,
          n_samples=n_samples, sample_rate=sample_rate)
      return corpus.Record(
          track_id, audio_lib.peak_normalize(audio.astype(np.float32)),
          sample_rate, annotation)
    n_samples = int(round(self.seconds[split] * sample_rate))
    try:
      audio = fs.render_notes(plan.notes, n_samples, sample_rate=sample_rate,
                              soundfont=soundfont_path(plan.soundfont))
    except fs.FluidSynthError as error:
      raise GMRendersError(str(error)) from error
    audio = audio.astype(np.float64)
    rng = np.random.default_rng(np.random.SeedSequence(
        [self.seed, _DOMAIN, _SPLIT_KEY[split], int(index), 1]))
    if split != 'chorales' and rng.random() < 0.7:
      audio = _room(rng, audio, sample_rate)
    if split == 'train':
      if rng.random() < 0.5:
        audio = _equalize(rng, audio, sample_rate)
      if rng.random() < 0.5:
        audio = _noise(rng, audio)
    return corpus.Record(track_id,
                         audio_lib.peak_normalize(audio.astype(np.float32)),
                         sample_rate, fs.notes_annotation(plan.notes))


def open_source(data_dir: str, *, seed: int, use_labels: bool,
                sample_rate: int, hop_length: int, fmin: float,
                bins_per_octave: int, n_bins: int,
                split: str = 'train') -> sources.CorpusSource:
  """'gm_renders/<split>' ('train' or 'expressive_train') from its prepared
  shards under ``data_dir``.

  Raises:
    DatasetNotFoundError: not prepared (one line with the command).
  """
  grid = dict(fmin=fmin, bins_per_octave=bins_per_octave, n_bins=n_bins)
  if not prepared.is_prepared(data_dir, NAME, split):
    raise corpus.DatasetNotFoundError(
        f'Training source {NAME}/{split} is not prepared under '
        f'config.data.data_dir={data_dir!r}: python -m data_pipelines.prepare '
        f'--dataset={NAME} --data_dir={data_dir or "<data_dir>"} '
        f'--splits={split} (about 1 s per 20-s track per core).')
  directory = prepared.prepared_dir(data_dir, NAME, split)
  store = prepared.PreparedStore(directory, sample_rate=sample_rate,
                                 hop_length=hop_length, **grid)
  return sources.CorpusSource(f'{NAME}/{split}', store, seed=seed,
                              use_labels=use_labels, hop_length=hop_length,
                              n_bins=n_bins,
                              origin=f'prepared shards in {directory}')
