"""A supervised source without annotated recordings: MIDI rendered by
FluidSynth with a General-MIDI soundfont, labelled exactly from the notes.

Needs the FluidSynth program and a GM soundfont (Debian/Ubuntu:
``apt-get install -y fluidsynth fluid-soundfont-gm``, soundfont
``/usr/share/sounds/sf2/FluidR3_GM.sf2``); ``FluidSynthError`` says so in
one line when they are missing.

Rendering (``render_midi``): ``fluidsynth -ni -R 0 -C 0`` (reverb and chorus
off) at the model rate, channels averaged to mono. FluidSynth starts events
at 64-sample block boundaries and sounds one block later; the first 64
samples are dropped, so notes whose times are multiples of 64 samples (all
notes of the random progressions below) start exactly at their MIDI time
(measured: the first non-zero sample is the onset sample itself or, for some
instruments, up to a dozen samples later). Notes of user files are late by
up to 63 samples (2.9 ms at 22,050 Hz).

* ``random_progression``: a seeded chord progression (a pure function of
  seed, split and index): key, mode, tempo and 1-3 parts (block or broken
  chords, a bass line, an optional melody of chord and scale tones), each
  with a random pitched General-MIDI program (families piano .. synth pad,
  programs 0-95), at most 5 simultaneous notes in MIDI 24-102, every time a
  multiple of 64 samples.
* ``FluidSynthCorpus``: the 'fluidsynth' corpus for ``prepare`` and the
  pipeline: tracks are either the ``.mid``/``.midi`` files of a folder
  (labels from ``midi.read_notes`` without the GM drum channel 10, audio
  trimmed to the last labelled note-off plus ``TAIL_SECONDS``) or random progressions of ``seconds`` each (labels = the
  generated notes, audio cut to exactly ``seconds``). Audio is
  peak-normalised like every corpus record.
* ``RenderedSource``: 'fluidsynth/train' without prepared shards: item i is
  random progression i, rendered on the fly at the excerpt length (about
  0.5 s per item, most of it loading the soundfont; prepare shards for
  training).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile as sf

from data_pipelines import audio as audio_lib
from data_pipelines import corpus
from data_pipelines import midi
from data_pipelines import prepared
from data_pipelines import sources

SOUNDFONT = '/usr/share/sounds/sf2/FluidR3_GM.sf2'
INSTALL = 'apt-get install -y fluidsynth fluid-soundfont-gm'
BLOCK = 64  # FluidSynth's fixed processing block (samples)
LATENCY = BLOCK  # samples between an event and its first sound
TAIL_SECONDS = 1.0  # kept after the last note-off of a user MIDI file
DRUM_CHANNEL = 9  # General-MIDI percussion (channel 10): rendered, not labelled
GAIN = 0.5  # FluidSynth master gain (its default is 0.2)
_SPLITS = {'train': 0, 'valid': 1, 'test': 2}
_PROGRESSION = 21  # seed sub-domain


class FluidSynthError(RuntimeError):
  """FluidSynth or the soundfont is missing, or rendering failed."""


def find_fluidsynth() -> str:
  """Path of the ``fluidsynth`` program.

  Raises:
    FluidSynthError: not installed (the message gives the apt command).
  """
  path = shutil.which('fluidsynth')
  if path is None:
    raise FluidSynthError(
        f'FluidSynth is not installed (no `fluidsynth` on PATH); install it '
        f'and a General-MIDI soundfont with `{INSTALL}`.')
  return path


def check_soundfont(soundfont: str) -> str:
  """``soundfont`` if the file exists, else a one-line FluidSynthError."""
  if not os.path.isfile(soundfont):
    raise FluidSynthError(
        f'Soundfont not found: {soundfont!r}; install one with `{INSTALL}` '
        '(FluidR3_GM.sf2) or pass the path of a .sf2 file.')
  return soundfont


def render_midi(midi_path: str, *, sample_rate: int = corpus.SAMPLE_RATE,
                soundfont: str = SOUNDFONT,
                gain: float = GAIN) -> np.ndarray:
  """Renders a MIDI file: [N] float32 mono at ``sample_rate``.

  Reverb and chorus are off; the first ``LATENCY`` samples are dropped (see
  the module docstring). The result is not trimmed or normalised.

  Raises:
    FluidSynthError: FluidSynth/soundfont missing, or the render failed.
  """
  program = find_fluidsynth()
  check_soundfont(soundfont)
  with tempfile.TemporaryDirectory(prefix='mpe_fluidsynth_') as tmp:
    out = os.path.join(tmp, 'render.wav')
    command = [program, '-ni', '-q', '-R', '0', '-C', '0', '-g', str(gain),
               '-r', str(sample_rate), '-F', out, soundfont,
               os.fspath(midi_path)]
    result = subprocess.run(command, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0 or not os.path.isfile(out):
      reason = ' '.join((result.stderr or result.stdout).split())[:300]
      raise FluidSynthError(f'FluidSynth failed on {midi_path!r} '
                            f'(exit {result.returncode}): {reason}')
    data, rate = sf.read(out, dtype='float32', always_2d=True)
  if rate != sample_rate:
    raise FluidSynthError(f'FluidSynth rendered {rate} Hz instead of '
                          f'{sample_rate} Hz.')
  return data.mean(axis=1)[LATENCY:].astype(np.float32)


# ------------------------------------------------------- random progressions


@dataclasses.dataclass(frozen=True)
class Note:
  """A note: MIDI pitch, onset/offset (s), General-MIDI program, velocity,
  and the index of the part (player) that plays it."""
  pitch: int
  onset: float
  offset: float
  program: int
  velocity: int
  part: int = 0


_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
# Diatonic triads by scale degree: (degree offsets in the scale).
_DEGREES = np.array([0, 1, 2, 3, 4, 5, 6])
_NEXT = {0: (3, 4, 5, 1), 1: (4, 6), 2: (5, 3), 3: (4, 0, 1), 4: (0, 5),
         5: (3, 1, 4), 6: (0,)}  # common functional moves


def _midi_ticks(sample_rate: int) -> tuple[int, int]:
  """(tempo us/beat, ticks/beat) such that one tick is BLOCK samples."""
  g = math.gcd(BLOCK * 1_000_000, sample_rate)
  return BLOCK * 1_000_000 // g, sample_rate // g


def random_progression(seed: int, index: int, *, split: str = 'train',
                       seconds: float = 4.0,
                       sample_rate: int = corpus.SAMPLE_RATE) -> list[Note]:
  """A random chord progression (see the module docstring).

  Every onset and offset is a multiple of ``BLOCK / sample_rate`` seconds and
  lies inside ``[0, seconds]``.
  """
  rng = np.random.default_rng(np.random.SeedSequence(
      [int(seed), _SPLITS[split], _PROGRESSION, int(index)]))
  block_s = BLOCK / sample_rate
  beat_blocks = max(1, int(round(60.0 / rng.uniform(60, 160) / block_s)))
  total_blocks = int(seconds / block_s)
  tonic = int(rng.integers(0, 12))
  scale = _MAJOR if rng.random() < 0.6 else _MINOR
  programs = rng.integers(0, 96, size=3)
  n_parts = int(rng.integers(1, 4))
  arpeggio = rng.random() < 0.4
  degree, t, notes = 0, 0, []

  def pitch_of(step: int, octave: int) -> int:
    return 12 * octave + tonic + scale[step % 7] + 12 * (step // 7)

  while t < total_blocks:
    length = beat_blocks * int(rng.choice([1, 2, 2, 4]))
    end = min(t + length, total_blocks)
    chord = [degree, degree + 2, degree + 4]
    octave = int(rng.integers(4, 6))
    velocity = int(rng.integers(50, 110))
    if arpeggio:  # broken chord: one chord tone per half beat
      step_blocks = max(1, beat_blocks // 2)
      for k, s in enumerate(range(t, end, step_blocks)):
        notes.append(Note(pitch_of(chord[k % 3], octave), s * block_s,
                          min(s + step_blocks, end) * block_s,
                          int(programs[0]), velocity))
    else:
      for c in chord:
        notes.append(Note(pitch_of(c, octave), t * block_s,
                          end * block_s, int(programs[0]), velocity))
    if n_parts >= 2:  # bass: the root two octaves down
      notes.append(Note(pitch_of(degree, octave - 2), t * block_s,
                        end * block_s, int(programs[1]),
                        int(rng.integers(60, 110))))
    if n_parts >= 3:  # melody: chord or scale tones, one per beat
      for s in range(t, end, beat_blocks):
        if rng.random() < 0.2:
          continue  # rest
        tone = int(rng.choice(chord)) + int(rng.choice([0, 0, 1, -1]))
        notes.append(Note(pitch_of(tone, octave + 1), s * block_s,
                          min(s + beat_blocks, end) * block_s,
                          int(programs[2]), int(rng.integers(60, 120))))
    degree = int(rng.choice(_NEXT[degree]))
    t = end
  return notes


def write_midi(notes: list[Note], path: str, *,
               sample_rate: int = corpus.SAMPLE_RATE) -> None:
  """Writes ``notes`` (one channel per program, never the drum channel 9)
  with a tick of exactly ``BLOCK`` samples at ``sample_rate``."""
  import mido  # pylint: disable=g-import-not-at-top
  block_s = BLOCK / sample_rate
  channels = {}
  for note in notes:
    if note.program not in channels:
      channels[note.program] = len(channels) + (len(channels) >= 9)
  events = []
  for note in notes:
    ch = channels[note.program]
    on, off = int(round(note.onset / block_s)), int(round(note.offset /
                                                          block_s))
    if off <= on:
      continue
    events.append((on, 1, mido.Message('note_on', channel=ch, note=note.pitch,
                                       velocity=note.velocity)))
    events.append((off, 0, mido.Message('note_off', channel=ch,
                                        note=note.pitch, velocity=0)))
  save_block_events(events, path, sample_rate=sample_rate, preamble=[
      mido.Message('program_change', channel=ch, program=program, time=0)
      for program, ch in channels.items()])


def save_block_events(events: list[tuple], path: str, *,
                      sample_rate: int = corpus.SAMPLE_RATE,
                      preamble: list | None = None) -> None:
  """Writes ``(tick, order, mido message)`` events as a one-track MIDI file
  whose tick is exactly ``BLOCK`` samples at ``sample_rate`` (events sorted
  by tick, then order; ``preamble`` messages right after the tempo)."""
  import mido  # pylint: disable=g-import-not-at-top
  tempo, ticks_per_beat = _midi_ticks(sample_rate)
  mid = mido.MidiFile(ticks_per_beat=ticks_per_beat)
  track = mido.MidiTrack()
  mid.tracks.append(track)
  track.append(mido.MetaMessage('set_tempo', tempo=tempo, time=0))
  track.extend(preamble or [])
  now = 0
  for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
    track.append(message.copy(time=tick - now))
    now = tick
  track.append(mido.MetaMessage('end_of_track', time=0))
  mid.save(path)


BEND_RANGE = 12  # semitones (RPN 0) of the expressive writer's pitch wheel
_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)
RELEASE_GUARD = 0.4  # s a channel rests after a note-off before reuse


def allocate_channels(onsets, offsets, *, channels: tuple[int, ...],
                      release_guard: float) -> list[int]:
  """A channel per note (notes taken by onset) such that no two sounding
  notes share one: the free channel that has rested at least
  ``release_guard`` s after its last note-off and longest, else the one
  whose last note ended first.

  Raises:
    ValueError: more simultaneous notes than ``channels`` (one line).
  """
  free_at = {c: -np.inf for c in channels}
  out = [0] * len(onsets)
  for i in sorted(range(len(onsets)), key=lambda k: onsets[k]):
    ended = [c for c in channels if free_at[c] <= onsets[i]]
    if not ended:
      raise ValueError(f'More than {len(channels)} simultaneous notes at '
                       f'{onsets[i]:.3f} s')
    idle = [c for c in ended if free_at[c] + release_guard <= onsets[i]]
    channel = min(idle or ended, key=lambda c: free_at[c])
    out[i] = channel
    free_at[channel] = offsets[i]
  return out


def _allocate_channels(notes: list[Note]) -> list[int]:
  """``allocate_channels`` over the 15 melodic channels.

  Raises:
    FluidSynthError: more simultaneous notes than the 15 melodic channels.
  """
  try:
    return allocate_channels([n.onset for n in notes],
                             [n.offset for n in notes], channels=_CHANNELS,
                             release_guard=RELEASE_GUARD)
  except ValueError as error:
    raise FluidSynthError(f'{error}; the expressive writer needs one channel '
                          'per sounding note.') from error


def write_expressive_midi(notes: list[Note], curves, path: str, *,
                          sample_rate: int = corpus.SAMPLE_RATE) -> None:
  """Writes ``notes`` with their pitch and loudness curves.

  Every note gets a channel of its own while it sounds (and
  ``RELEASE_GUARD`` after), so its pitch wheel bends it alone: the channel's
  program, the bend range (RPN 0, ``BEND_RANGE`` semitones), its expression
  (CC 11) and pitch wheel are set before the note-on, then the wheel and
  CC 11 follow ``curves`` (an ``expression.Curves`` with one curve per
  note, ``curves.step`` a multiple of ``BLOCK`` samples) until the note-off.
  A tick is one ``BLOCK``; values are sent only when they change (0.2 cent,
  1 CC step).
  """
  import mido  # pylint: disable=g-import-not-at-top
  block_s = BLOCK / sample_rate
  step_ticks = max(1, int(round(curves.step / block_s)))
  channels = _allocate_channels(notes)
  events = []  # (tick, order, message)
  for i, note in enumerate(notes):
    ch = channels[i]
    on = int(round(note.onset / block_s))
    off = int(round(note.offset / block_s))
    if off <= on:
      continue
    events.append((on, 0, mido.Message('program_change', channel=ch,
                                       program=note.program)))
    for number, value in ((101, 0), (100, 0), (6, BEND_RANGE), (38, 0),
                          (101, 127), (100, 127)):
      events.append((on, 1, mido.Message('control_change', channel=ch,
                                         control=number, value=value)))
    last_bend, last_cc = None, None
    for k, (cents, level) in enumerate(zip(curves.cents[i],
                                           curves.level_db[i])):
      tick = on + k * step_ticks
      if tick >= off:
        break
      bend = int(np.clip(round(cents / (100.0 * BEND_RANGE) * 8192), -8192,
                         8191))
      cc = int(np.clip(round(127 * 10.0 ** (level / 40.0)), 1, 127))
      if last_bend is None or abs(bend - last_bend) >= 2:
        events.append((tick, 2, mido.Message('pitchwheel', channel=ch,
                                             pitch=bend)))
        last_bend = bend
      if cc != last_cc:
        events.append((tick, 2, mido.Message('control_change', channel=ch,
                                             control=11, value=cc)))
        last_cc = cc
    events.append((on, 3, mido.Message('note_on', channel=ch, note=note.pitch,
                                       velocity=note.velocity)))
    events.append((off, -1, mido.Message('note_off', channel=ch,
                                         note=note.pitch, velocity=0)))
  save_block_events(events, path, sample_rate=sample_rate)


def render_notes(notes: list[Note], n_samples: int, *,
                 sample_rate: int = corpus.SAMPLE_RATE,
                 soundfont: str = SOUNDFONT, curves=None) -> np.ndarray:
  """Renders ``notes`` to exactly ``n_samples`` float32 samples (unscaled);
  with ``curves`` (``expression.Curves``), expressively
  (``write_expressive_midi``)."""
  with tempfile.TemporaryDirectory(prefix='mpe_progression_') as tmp:
    path = os.path.join(tmp, 'notes.mid')
    if curves is None:
      write_midi(notes, path, sample_rate=sample_rate)
    else:
      write_expressive_midi(notes, curves, path, sample_rate=sample_rate)
    audio = render_midi(path, sample_rate=sample_rate, soundfont=soundfont)
  out = np.zeros(n_samples, np.float32)
  out[:min(n_samples, len(audio))] = audio[:n_samples]
  return out


def notes_annotation(notes: list[Note]) -> corpus.Notes:
  """The ``corpus.Notes`` of a progression."""
  return corpus.Notes(np.array([n.onset for n in notes], np.float64),
                      np.array([n.offset for n in notes], np.float64),
                      corpus.midi_to_hz(np.array([n.pitch for n in notes])))


# ------------------------------------------------------------------ corpus


class FluidSynthCorpus(corpus.Corpus):
  """Rendered MIDI: a folder of user files, or random progressions."""

  name = 'fluidsynth'
  title = 'FluidSynth renders'
  splits = ('train', 'valid', 'test')
  annotated = True
  url = 'https://www.fluidsynth.org'

  def __init__(self, midi_dir: str = '', *, seed: int = 0,
               n_tracks: dict[str, int] | None = None, seconds: float = 10.0,
               soundfont: str = SOUNDFONT):
    """A corpus of ``midi_dir``'s files ('' = random progressions).

    Args:
      midi_dir: folder searched recursively for .mid/.midi files; all of them
        form every split. '' = random progressions.
      seed: progression seed.
      n_tracks: progressions per split (default 1000 / 50 / 50).
      seconds: length of each progression.
      soundfont: the .sf2 file.
    """
    find_fluidsynth()
    check_soundfont(soundfont)
    if midi_dir:
      super().__init__(midi_dir)
    else:
      self.root = ''
    self.seed = seed
    self.n_tracks = dict(n_tracks or {'train': 1000, 'valid': 50,
                                      'test': 50})
    self.seconds = seconds
    self.soundfont = soundfont

  def _track_ids(self, split: str) -> list[str]:
    if not self.root:
      return [f'{split}/progression_{i:06d}'
              for i in range(self.n_tracks[split])]
    found = []
    for folder, _, files in os.walk(self.root):
      found += [os.path.relpath(os.path.join(folder, f), self.root)
                for f in files if f.lower().endswith(('.mid', '.midi'))]
    return sorted(found)

  def load(self, track_id: str,
           sample_rate: int = corpus.SAMPLE_RATE) -> corpus.Record:
    if not self.root:
      split, name = track_id.split('/')
      notes = random_progression(self.seed, int(name.split('_')[-1]),
                                 split=split, seconds=self.seconds,
                                 sample_rate=sample_rate)
      audio = render_notes(notes, int(round(self.seconds * sample_rate)),
                           sample_rate=sample_rate, soundfont=self.soundfont)
      annotation = notes_annotation(notes)
    else:
      path = os.path.join(self.root, track_id)
      try:
        parsed = midi.read_notes(path, skip_channels=(DRUM_CHANNEL,))
      except midi.MidiError as error:
        raise corpus.AnnotationError(str(error)) from error
      audio = render_midi(path, sample_rate=sample_rate,
                          soundfont=self.soundfont)
      end = (parsed.offsets.max() if len(parsed.offsets) else 0.0)
      audio = audio[:int(round((end + TAIL_SECONDS) * sample_rate))]
      annotation = corpus.Notes(parsed.onsets, parsed.offsets,
                                corpus.midi_to_hz(parsed.pitches))
    return corpus.Record(track_id, audio_lib.peak_normalize(audio),
                         sample_rate, annotation)


class RenderedSource(sources.Source):
  """'fluidsynth/train' rendered on the fly (item i = progression i)."""

  def __init__(self, *, seed: int, sample_rate: int, hop_length: int,
               fmin: float, bins_per_octave: int, n_bins: int,
               use_labels: bool = True, soundfont: str = SOUNDFONT):
    find_fluidsynth()
    check_soundfont(soundfont)
    self.name = 'fluidsynth/train'
    self.labelled = use_labels
    self.seed = seed
    self.sample_rate = sample_rate
    self.grid = dict(hop_length=hop_length, fmin=fmin,
                     bins_per_octave=bins_per_octave, n_bins=n_bins)
    self.soundfont = soundfont

  def item(self, index: int, n_samples: int):
    seconds = n_samples / self.sample_rate
    notes = random_progression(self.seed, index, seconds=seconds,
                               sample_rate=self.sample_rate)
    audio = audio_lib.peak_normalize(render_notes(
        notes, n_samples, sample_rate=self.sample_rate,
        soundfont=self.soundfont))
    if not self.labelled:
      return audio, None
    record = corpus.Record(f'train/progression_{index:06d}', audio,
                           self.sample_rate, notes_annotation(notes))
    return audio, record.label_grid(**self.grid)

  def describe(self) -> str:
    kind = 'labelled' if self.labelled else 'audio only'
    return f'fluidsynth/train (random progressions rendered on the fly, {kind})'


def open_source(data_dir: str, *, seed: int, use_labels: bool,
                midi_dir: str, sample_rate: int, hop_length: int, fmin: float,
                bins_per_octave: int, n_bins: int):
  """'fluidsynth/train': prepared shards under ``data_dir`` if present, else
  on-the-fly rendering (random progressions; a ``midi_dir`` must be
  prepared first)."""
  grid = dict(fmin=fmin, bins_per_octave=bins_per_octave, n_bins=n_bins)
  if prepared.is_prepared(data_dir, 'fluidsynth', 'train'):
    directory = prepared.prepared_dir(data_dir, 'fluidsynth', 'train')
    store = prepared.PreparedStore(directory, sample_rate=sample_rate,
                                   hop_length=hop_length, **grid)
    return sources.CorpusSource(
        'fluidsynth/train', store, seed=seed, use_labels=use_labels,
        hop_length=hop_length, n_bins=n_bins,
        origin=f'prepared shards in {directory}')
  if midi_dir:
    raise corpus.DatasetNotFoundError(
        f'Training source fluidsynth/train: the MIDI files in {midi_dir!r} '
        'must be rendered first: python -m data_pipelines.prepare '
        f'--dataset=fluidsynth --manual_dir={midi_dir} '
        f'--data_dir={data_dir or "<data_dir>"}.')
  return RenderedSource(seed=seed, sample_rate=sample_rate,
                        hop_length=hop_length, use_labels=use_labels, **grid)
