"""Transcription outputs: multi-pitch text/CSV, MIDI notes, pictures, arrays.

Every writer consumes the salience-gram block by block (``[K, n]`` frames at a
time), so a file of any length is written with bounded memory, and writes to a
temporary file in the destination folder that replaces the destination only
when complete (``os.replace``): a failure never leaves a truncated output nor
destroys an earlier one.

Formats (``SUFFIXES``):

* ``txt`` -- ``<stem>.multipitch.txt``, the mir_eval multi-pitch format: one
  line per frame, the time (s) then the active frequencies (Hz), tab-separated
  (``mir_eval.io.load_ragged_time_series`` reads it).
* ``csv`` -- ``<stem>.csv``, one row per active pitch per frame:
  ``time_s,frequency_hz,midi,note,salience``.
* ``mid`` -- ``<stem>.mid``, notes from the frame activations: each active
  frequency is rounded to the nearest MIDI pitch; a pitch that pauses for at
  most ``max_gap_seconds`` continues the same note, and a sounding note is
  split where the energy at its harmonics rises again (a repeated note,
  ``onsets``); notes shorter than ``min_note_seconds`` are dropped; velocity
  grows with the mean salience. With ``pitch_bends`` each note's pitch curve
  becomes pitch-bend messages.
* ``png`` -- ``<stem>.png``, the salience-gram (pitch axis in note names, time
  in seconds) with the estimates (dots) and the MIDI notes (outlined bars)
  drawn over it.
* ``npz`` -- ``<stem>.npz`` with ``salience [K, T]`` (float32, in [0, 1]),
  ``times [T]`` (s) and ``frequencies [K]`` (Hz).
* ``wav`` -- ``<stem>.sonified.wav`` (not in the default set): the MIDI notes
  synthesised (``sonify``) and mixed with the input at ``balance`` (0 = the
  input only, 1 = the notes only), 16-bit at the model rate, so a listener
  hears missing and extra notes against the recording.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import zipfile
from typing import IO, Sequence

import numpy as np

from mpe_jax import onsets as _onsets
from mpe_jax.evaluation.peaks import PeakDecoder, peak_mask

# 'notes': one CSV row per note (note events); 'csv': one row per frame and
# pitch; 'npz': the salience-gram (about 3.8 MB per 25 s of audio).
FORMATS = ('mid', 'notes', 'txt', 'png', 'csv', 'npz', 'wav')
DEFAULT_FORMATS = ('mid', 'notes', 'txt', 'png')
SUFFIXES = {'txt': '.multipitch.txt', 'csv': '.csv', 'mid': '.mid',
            'notes': '.notes.csv', 'png': '.png', 'npz': '.npz',
            'wav': '.sonified.wav'}
# Formats made from the notes (the others come from the frames).
NOTE_FORMATS = ('mid', 'notes', 'wav', 'png')
MIDI_TEMPO = 120.0  # bpm of the MIDI files (Basic-Pitch's default too)
_NOTE_NAMES = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')


def hz_to_midi(freqs: np.ndarray) -> np.ndarray:
  """MIDI pitch (float) of frequencies in Hz (A4 = 440 Hz = 69)."""
  return 69.0 + 12.0 * np.log2(np.asarray(freqs, np.float64) / 440.0)


def note_name(midi: int) -> str:
  """'C4' for 60, 'A0' for 21."""
  midi = int(midi)
  return f'{_NOTE_NAMES[midi % 12]}{midi // 12 - 1}'


class AtomicFile:
  """A file written under a temporary name, renamed into place on commit."""

  def __init__(self, path: str, mode: str = 'w'):
    self.path = path
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, self.tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.',
                                    suffix='.part', dir=folder)
    text = {} if 'b' in mode else {'newline': '', 'encoding': 'utf-8'}
    self.file: IO = os.fdopen(fd, mode, **text)

  def commit(self) -> str:
    self.file.close()
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp made it private (0600)
    os.replace(self.tmp, self.path)
    return self.path

  def abort(self) -> None:
    if not self.file.closed:
      self.file.close()
    if os.path.exists(self.tmp):
      os.remove(self.tmp)


# ------------------------------------------------------------------ notes ---


@dataclasses.dataclass(frozen=True)
class Note:
  """A note: onset and offset (s), MIDI pitch, MIDI velocity (1..127), and
  its pitch curve: the f0 of each of its frames from the onset on, as a MIDI
  pitch with cents (69.3 = A4 30 cents sharp; a frame where the pitch paused
  repeats the last value)."""
  start: float
  end: float
  pitch: int
  velocity: int
  curve: tuple[float, ...] = ()


# A sounding note is struck again (a new note starts) when the onset
# strength at its pitch (``onsets.OnsetStrength``: the rise of the energy at
# its harmonics) crosses ONSET_DB upwards at least REFRACTORY_SECONDS after
# the note began.
ONSET_DB = 5.0
REFRACTORY_SECONDS = 0.08
# Shortest note kept, and longest pause of a pitch inside one note.
MIN_NOTE_SECONDS = 0.08
MAX_GAP_SECONDS = 0.06


class NoteTracker:
  """Frame activations -> notes, one block of frames at a time.

  Args:
    frame_seconds: time between frames (s); frame ``n`` spans
      ``[n, n + 1) * frame_seconds``.
    min_note_seconds: shorter notes are dropped.
    max_gap_seconds: a pitch silent for at most this long continues its
      note, unless an onset starts a new one.
    onset_db: onset-strength threshold (dB) of a repeated note (with
      ``update(..., onsets=...)``); ``None`` never splits a sounding note.
    refractory_seconds: a note is not split this soon after it began.
  """

  def __init__(self, frame_seconds: float, *,
               min_note_seconds: float = MIN_NOTE_SECONDS,
               max_gap_seconds: float = MAX_GAP_SECONDS,
               onset_db: float | None = ONSET_DB,
               refractory_seconds: float = REFRACTORY_SECONDS):
    self.dt = float(frame_seconds)
    self.min_frames = max(1, int(math.ceil(min_note_seconds / self.dt - 1e-9)))
    self.max_gap = max(0, int(math.floor(max_gap_seconds / self.dt + 1e-9)))
    self.onset_db = onset_db
    self.refractory = int(round(refractory_seconds / self.dt))
    self._open: dict[int, _OpenNote] = {}
    self._previous: np.ndarray | None = None  # onset strength, last frame
    self.notes: list[Note] = []

  def update(self, first_frame: int, freqs: Sequence[np.ndarray],
             values: Sequence[np.ndarray],
             onsets: np.ndarray | None = None) -> None:
    """Adds frames ``first_frame + i`` with active ``freqs[i]`` (Hz) whose
    salience values are ``values[i]``; ``onsets``: their onset strength
    ``[len(onsets.PITCHES), n]`` (dB), or None."""
    for i, (f, v) in enumerate(zip(freqs, values)):
      frame = first_frame + i
      self._close_before(frame)
      strength = onsets[:, i] if onsets is not None else None
      previous, self._previous = self._previous, strength
      if len(f) == 0:
        continue
      midi = hz_to_midi(f)
      best: dict[int, tuple[float, float]] = {}
      for m, s in zip(midi.tolist(), np.asarray(v).tolist()):
        p = int(round(m))
        if p not in best or s > best[p][0]:
          best[p] = (s, m)
      for p, (s, m) in best.items():
        note = self._open.get(p)
        if (note is not None and strength is not None
            and self._struck_again(note, frame, p, strength, previous)):
          self._emit(p, self._open.pop(p))
          note = None
        if note is None:
          self._open[p] = _OpenNote(frame, s, m)
        else:
          note.extend(frame, s, m)

  def add_salience(self, first_frame: int, block: np.ndarray,
                   active: np.ndarray, bin_frequencies: np.ndarray,
                   onsets: np.ndarray | None = None) -> None:
    """``update`` from a salience block ``[K, n]`` and its peak mask: the
    peaks' frequencies refined between bins (``refine_frequencies``)."""
    values = [block[active[:, t], t] for t in range(block.shape[-1])]
    self.update(first_frame,
                refine_frequencies(block, active, bin_frequencies), values,
                onsets)

  def _struck_again(self, note: '_OpenNote', frame: int, pitch: int,
                    strength: np.ndarray, previous: np.ndarray | None
                    ) -> bool:
    if self.onset_db is None or frame - note.first < self.refractory:
      return False
    row = pitch - int(_onsets.PITCHES[0])
    if not 0 <= row < len(strength):
      return False
    before = previous[row] if previous is not None else 0.0
    return strength[row] >= self.onset_db > before

  def _close_before(self, frame: int) -> None:
    for p in [p for p, n in self._open.items()
              if frame - n.last - 1 > self.max_gap]:
      self._emit(p, self._open.pop(p))

  def _emit(self, pitch: int, note: '_OpenNote') -> None:
    if note.last - note.first + 1 < self.min_frames:
      return
    velocity = int(np.clip(round(127 * note.total / note.count), 1, 127))
    self.notes.append(Note(note.first * self.dt, (note.last + 1) * self.dt,
                           int(pitch), velocity,
                           tuple(round(c, 3) for c in note.curve)))

  def finish(self) -> list[Note]:
    """Closes every open note; returns all notes sorted by (onset, pitch)."""
    for p in list(self._open):
      self._emit(p, self._open.pop(p))
    self.notes.sort(key=lambda n: (n.start, n.pitch))
    return self.notes


class _OpenNote:
  """A note still sounding: its frames, salience sum and pitch curve."""

  def __init__(self, frame: int, salience: float, midi: float):
    self.first = self.last = frame
    self.total, self.count = salience, 1
    self.curve = [midi]

  def extend(self, frame: int, salience: float, midi: float) -> None:
    self.curve.extend([self.curve[-1]] * (frame - self.last - 1) + [midi])
    self.last = frame
    self.total += salience
    self.count += 1


def refine_frequencies(block: np.ndarray, active: np.ndarray,
                       bin_frequencies: np.ndarray) -> list[np.ndarray]:
  """Per frame, the frequencies (Hz) of the active peaks of ``block``
  (``[K, n]``, ``active`` its peak mask) moved between bins by a parabola
  through the peak and its two neighbours (at most half a bin; the grid is
  geometric, so the offset is applied in log-frequency)."""
  freqs = np.asarray(bin_frequencies, np.float64)
  log_f = np.log2(freqs)
  step = np.gradient(log_f)
  padded = np.pad(np.asarray(block, np.float64), ((1, 1), (0, 0)),
                  mode='edge')
  t, k = np.nonzero(np.asarray(active).T)  # frame-major, bins ascending
  left, mid, right = padded[k, t], padded[k + 1, t], padded[k + 2, t]
  curvature = left - 2 * mid + right
  with np.errstate(divide='ignore', invalid='ignore'):
    delta = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
  delta = np.clip(np.nan_to_num(delta), -0.5, 0.5)
  refined = 2.0 ** (log_f[k] + delta * step[k])
  if block.shape[-1] == 0:
    return []
  counts = np.bincount(t, minlength=block.shape[-1])
  return np.split(refined, np.cumsum(counts)[:-1])


# MIDI channels a bent note may take (9 is the General MIDI drum channel);
# notes that find none free, and unbent notes, share channel 0, never bent.
BEND_CHANNELS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15)
BEND_RANGE = 2  # semitones of a full pitch-wheel deflection (the GM default)
BEND_MIN_CENTS = 3.0  # a bend message when the curve moved this much


def write_midi(path: str, notes: Sequence[Note], *, program: int = 0,
               pitch_bends: bool = False,
               tempo_bpm: float = MIDI_TEMPO) -> str:
  """Writes notes as a one-track MIDI file (``tempo_bpm``, 480 ticks per
  beat; the notes keep their times in seconds whatever the tempo).

  ``pitch_bends``: each note whose pitch curve leaves its MIDI pitch plays
  on a channel of its own (``BEND_CHANNELS``) with pitch-wheel messages
  that follow the curve (range +-``BEND_RANGE`` semitones, set by RPN 0 on
  every channel); the wheel is set before the note-on and reset to centre
  after its note-off, so no bend outlives its note. Without it, the notes
  are plain (channel 0, no pitch-wheel messages).
  """
  return _write_atomically(
      path, lambda f: _save_midi(f, notes, program, pitch_bends=pitch_bends,
                                 tempo_bpm=tempo_bpm))


def _write_atomically(path: str, write) -> str:
  out = AtomicFile(path, 'wb')
  try:
    write(out.file)
    return out.commit()
  except BaseException:
    out.abort()
    raise


def _bend_value(semitones: float) -> int:
  """Pitch-wheel value (-8192..8191) of a bend of ``semitones``."""
  return int(np.clip(round(semitones / BEND_RANGE * 8192), -8192, 8191))


def _is_bent(note: Note) -> bool:
  return bool(note.curve) and max(
      abs(c - note.pitch) for c in note.curve) * 100 >= BEND_MIN_CENTS


def bend_channels(notes: Sequence[Note]) -> list[int]:
  """A channel per note: bent notes each get a free ``BEND_CHANNELS``
  channel (free = its last note has ended), others and overflow get 0."""
  free_at = {c: -math.inf for c in BEND_CHANNELS}
  out = [0] * len(notes)
  for i in sorted(range(len(notes)), key=lambda k: notes[k].start):
    note = notes[i]
    if not _is_bent(note):
      continue
    ended = [c for c in BEND_CHANNELS if free_at[c] <= note.start]
    if ended:
      channel = min(ended, key=lambda c: free_at[c])
      out[i] = channel
      free_at[channel] = note.end
  return out


def _save_midi(file: IO, notes: Sequence[Note], program: int = 0, *,
               pitch_bends: bool = False,
               tempo_bpm: float = MIDI_TEMPO) -> None:
  import mido  # pylint: disable=g-import-not-at-top

  if not 0 < tempo_bpm <= 10_000:
    raise ValueError(f'MIDI tempo must lie in (0, 10000] bpm, got '
                     f'{tempo_bpm}')
  ticks_per_beat = 480
  tempo = int(round(60_000_000 / tempo_bpm))  # microseconds per beat

  def tick(seconds: float) -> int:
    return int(round(mido.second2tick(seconds, ticks_per_beat, tempo)))

  channels = bend_channels(notes) if pitch_bends else [0] * len(notes)
  # (tick, order, message): at one tick, note-offs (0), then wheel resets
  # (1), wheel settings (2), note-ons (3).
  events = []
  for n, channel in zip(notes, channels):
    on = tick(n.start)
    off = max(on + 1, tick(n.end))
    events.append((on, 3, mido.Message('note_on', channel=channel,
                                       note=n.pitch, velocity=n.velocity)))
    events.append((off, 0, mido.Message('note_off', channel=channel,
                                        note=n.pitch, velocity=0)))
    if channel:
      dt = (n.end - n.start) / len(n.curve)
      last = None
      for k, c in enumerate(n.curve):
        if last is not None and abs(c - last) * 100 < BEND_MIN_CENTS:
          continue
        at = on if k == 0 else min(tick(n.start + k * dt), off - 1)
        events.append((at, 2 if k == 0 else 3, mido.Message(
            'pitchwheel', channel=channel, pitch=_bend_value(c - n.pitch))))
        last = c
      events.append((off, 1, mido.Message('pitchwheel', channel=channel,
                                          pitch=0)))
  events.sort(key=lambda e: (e[0], e[1]))
  track = mido.MidiTrack()
  track.append(mido.MetaMessage('set_tempo', tempo=tempo, time=0))
  used = sorted({0, *channels})
  for channel in used:
    track.append(mido.Message('program_change', channel=channel,
                              program=program, time=0))
    if pitch_bends:  # RPN 0 (pitch-bend sensitivity) = BEND_RANGE semitones
      for control, value in ((101, 0), (100, 0), (6, BEND_RANGE), (38, 0),
                             (101, 127), (100, 127)):
        track.append(mido.Message('control_change', channel=channel,
                                  control=control, value=value, time=0))
  now = 0
  for at, _, message in events:
    track.append(message.copy(time=at - now))
    now = at
  track.append(mido.MetaMessage('end_of_track', time=0))
  midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
  midi.tracks.append(track)
  midi.save(file=file)


# --------------------------------------------------------- text formats ---

NOTES_HEADER = ('start_time_s,end_time_s,pitch_midi,velocity,'
                'mean_bend_cents,note\n')


def mean_bend_cents(note: Note) -> float:
  """The mean distance (cents) of the note's pitch curve from its MIDI
  pitch (0 without a curve)."""
  if not note.curve:
    return 0.0
  return float(np.mean(np.asarray(note.curve) - note.pitch) * 100.0)


def format_notes(notes: Sequence[Note]) -> str:
  """The note events as CSV text: a header, then one row per note."""
  rows = [f'{n.start:.4f},{n.end:.4f},{n.pitch},{n.velocity},'
          f'{mean_bend_cents(n):.1f},{note_name(n.pitch)}\n' for n in notes]
  return NOTES_HEADER + ''.join(rows)


def write_notes(path: str, notes: Sequence[Note]) -> str:
  """Writes the note events (``format_notes``); returns the path."""
  text = format_notes(notes)
  return _write_atomically(path, lambda file: file.write(text.encode()))



def format_multipitch_line(time: float, freqs: np.ndarray) -> str:
  """One mir_eval multi-pitch line: time, then frequencies, tab-separated."""
  return '\t'.join([f'{time:.6f}'] + [f'{f:.3f}' for f in freqs]) + '\n'


def write_multipitch(path: str, times: Sequence[float],
                     freqs: Sequence[np.ndarray]) -> str:
  """Writes a ``.multipitch.txt`` file (``format_multipitch_line`` per
  frame); returns the path."""
  text = ''.join(format_multipitch_line(t, f) for t, f in zip(times, freqs))
  return _write_atomically(path, lambda file: file.write(text.encode()))


def read_multipitch(path: str) -> tuple[np.ndarray, list[np.ndarray]]:
  """Reads a ``.multipitch.txt`` file: ``times [T]`` and T arrays of Hz."""
  import mir_eval  # pylint: disable=g-import-not-at-top

  times, freqs = mir_eval.io.load_ragged_time_series(path)
  return np.asarray(times, np.float64), [np.asarray(f, np.float64)
                                         for f in freqs]


# ---------------------------------------------------------------- sinks ---


class NpzStream:
  """Writes ``salience [K, T]`` into an ``.npz`` archive block by block.

  The array is stored in Fortran order (its bytes are time-major, so blocks
  of frames are appended as they come); ``np.load`` returns it as a ``[K, T]``
  array. ``times`` and ``frequencies`` are added on ``finish``.
  """

  def __init__(self, file: IO, n_bins: int, n_frames: int):
    self._zip = zipfile.ZipFile(file, 'w', zipfile.ZIP_STORED,
                                allowZip64=True)
    self._member = self._zip.open('salience.npy', 'w', force_zip64=True)
    np.lib.format.write_array_header_1_0(self._member, {
        'descr': np.lib.format.dtype_to_descr(np.dtype('<f4')),
        'fortran_order': True, 'shape': (int(n_bins), int(n_frames))})

  def add(self, block: np.ndarray) -> None:
    self._member.write(np.ascontiguousarray(block.T, '<f4').tobytes())

  def discard(self) -> None:
    """Closes the archive of an output being thrown away (quietly: its
    file is removed next), so the zip module reports nothing later."""
    for part in (self._member, self._zip):
      try:
        part.close()
      except Exception:  # pylint: disable=broad-except
        pass

  def finish(self, times: np.ndarray, frequencies: np.ndarray) -> None:
    self._member.close()
    for name, value in (('times', times), ('frequencies', frequencies)):
      with self._zip.open(f'{name}.npy', 'w', force_zip64=True) as member:
        np.lib.format.write_array(member, np.asarray(value, np.float64))
    self._zip.close()


class PooledSalience:
  """The maximum of ``[K, T]`` salience over groups of ``factor`` frames
  (at most ``max_columns`` groups), accumulated block by block."""

  def __init__(self, n_bins: int, n_frames: int, max_columns: int = 4000):
    self.factor = max(1, int(math.ceil(n_frames / max_columns)))
    self.data = np.zeros((n_bins, int(math.ceil(n_frames / self.factor))),
                         np.float32)

  def add(self, first_frame: int, block: np.ndarray) -> None:
    if block.shape[-1] == 0:
      return
    groups = (first_frame + np.arange(block.shape[-1])) // self.factor
    starts = np.flatnonzero(np.diff(groups, prepend=-1))
    maxima = np.maximum.reduceat(block, starts, axis=-1)  # [K, groups]
    cols = groups[starts]
    self.data[:, cols] = np.maximum(self.data[:, cols], maxima)


def frequency_mask(bin_frequencies: np.ndarray,
                   min_frequency: float | None = None,
                   max_frequency: float | None = None) -> np.ndarray | None:
  """``[K]`` True where a bin lies within ``[min, max]`` Hz (None: no
  limit given, every bin).

  Raises:
    ValueError: a limit <= 0, or min above max.
  """
  if min_frequency is None and max_frequency is None:
    return None
  lo = 0.0 if min_frequency is None else float(min_frequency)
  hi = np.inf if max_frequency is None else float(max_frequency)
  if (min_frequency is not None and lo <= 0) or (
      max_frequency is not None and hi <= 0) or lo > hi:
    raise ValueError(f'frequency range must be positive with minimum <= '
                     f'maximum, got {min_frequency} .. {max_frequency} Hz')
  freqs = np.asarray(bin_frequencies, np.float64)
  return (freqs >= lo) & (freqs <= hi)


class Writers:
  """All requested outputs of one audio file, fed block by block.

  Nothing grows with the file's length except the notes: the text outputs
  are written as blocks arrive, the ``.npz`` archive too, and the picture
  keeps at most 4,000 (pooled) columns.

  Args:
    stem: output path without suffix (``<output_dir>/<name>``).
    formats: subset of ``FORMATS``.
    bin_frequencies: ``[K]`` Hz.
    frame_seconds: seconds between frames.
    n_frames: frames of the whole file.
    threshold: salience threshold on the peaks.
    continue_threshold: with a value in (0, threshold), peak tracks that
      reach ``threshold`` continue down to it (``peaks.PeakDecoder``).
    min_note_seconds, max_gap_seconds: see ``NoteTracker``.
    title: text over the picture.
    audio: ``[N]`` samples of the input (anything with ``len`` and
      slicing): the onsets that split repeated notes, and ``.sonified.wav``
      (which needs it).
    sample_rate: Hz of ``audio``.
    balance: share of the synthesised notes in ``.sonified.wav``.
    pitch_bends: the ``.mid`` follows each note's pitch curve
      (``write_midi``).
    onset_db: onset-strength threshold (dB) that splits a sounding note
      (``NoteTracker``).
    min_frequency, max_frequency: pitches outside ``[min, max]`` Hz are
      left out of every output but the salience (``npz``, the picture's
      background).
    tempo_bpm: tempo of the ``.mid`` file.
  """

  def __init__(self, stem: str, formats: Sequence[str],
               bin_frequencies: np.ndarray, frame_seconds: float,
               n_frames: int, *, threshold: float,
               continue_threshold: float = 0.0,
               min_note_seconds: float = MIN_NOTE_SECONDS,
               max_gap_seconds: float = MAX_GAP_SECONDS,
               title: str = '', audio=None, sample_rate: int = 0,
               balance: float = 0.5, pitch_bends: bool = False,
               onset_db: float | None = ONSET_DB,
               min_frequency: float | None = None,
               max_frequency: float | None = None,
               tempo_bpm: float = MIDI_TEMPO):
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
      raise ValueError(f'unknown output formats {unknown}; choose from '
                       f'{",".join(FORMATS)}.')
    if 'wav' in formats and (audio is None or sample_rate <= 0):
      raise ValueError('the wav output (sonification) needs the audio and '
                       'its sample rate.')
    if not 0.0 <= balance <= 1.0:
      raise ValueError(f'sonification balance must lie in [0, 1], got '
                       f'{balance}.')
    self.audio, self.sample_rate, self.balance = audio, sample_rate, balance
    self.pitch_bends = bool(pitch_bends)
    if not 0 < tempo_bpm <= 10_000:
      raise ValueError(f'MIDI tempo must lie in (0, 10000] bpm, got '
                       f'{tempo_bpm}')
    self.tempo_bpm = float(tempo_bpm)
    self.stem, self.formats = stem, tuple(formats)
    for target in self.paths():
      if os.path.isdir(target):
        raise IsADirectoryError(f'output {target} is an existing folder')
    self.freqs = np.asarray(bin_frequencies, np.float64)
    self.allowed = frequency_mask(self.freqs, min_frequency, max_frequency)
    self.dt, self.n_frames = float(frame_seconds), int(n_frames)
    self.threshold, self.title = float(threshold), title
    self.decoder = PeakDecoder(self.threshold, continue_threshold)
    self.frames_decided = 0
    self.frames_written = 0
    self.notes: list[Note] = []
    self._files: dict[str, AtomicFile] = {}
    try:
      for f in self.formats:
        self._files[f] = AtomicFile(
            stem + SUFFIXES[f], 'w' if f in ('txt', 'csv', 'notes') else 'wb')
    except BaseException:
      self.abort()
      raise
    if 'csv' in self._files:
      self._files['csv'].file.write('time_s,frequency_hz,midi,note,salience\n')
    self.tracker = (NoteTracker(frame_seconds,
                                min_note_seconds=min_note_seconds,
                                max_gap_seconds=max_gap_seconds,
                                onset_db=onset_db)
                    if set(NOTE_FORMATS) & set(formats) else None)
    self.frames_with_pitch = 0
    # Repeated notes are split where the energy at their harmonics rises.
    self.onset_strength = (
        _onsets.OnsetStrength(sample_rate,
                              int(round(frame_seconds * sample_rate)))
        if self.tracker is not None and audio is not None and sample_rate > 0
        else None)
    self.npz = (NpzStream(self._files['npz'].file, len(self.freqs),
                          self.n_frames) if 'npz' in formats else None)
    self.pooled = (PooledSalience(len(self.freqs), self.n_frames)
                   if 'png' in formats else None)

  def paths(self) -> list[str]:
    return [self.stem + SUFFIXES[f] for f in self.formats]

  def add(self, first_frame: int, block: np.ndarray) -> None:
    """Adds salience ``[K, n]`` of frames ``first_frame ..`` (in order)."""
    if first_frame != self.frames_written:
      raise ValueError(f'blocks out of order: got frame {first_frame}, '
                       f'expected {self.frames_written}')
    block = np.asarray(block, np.float32)
    if self.npz is not None:
      self.npz.add(block)
    if self.pooled is not None:
      self.pooled.add(first_frame, block)
    self.frames_written += block.shape[-1]
    for decided, active in self.decoder.push(block):
      self._add_decided(decided, active)

  def _add_decided(self, block: np.ndarray, active: np.ndarray) -> None:
    """The frame outputs of the next decided frames (the peak decoder may
    hold frames back until their peak tracks are decided)."""
    first_frame, n = self.frames_decided, block.shape[-1]
    if self.allowed is not None:
      active = active & self.allowed[:, None]
    self.frames_with_pitch += int(np.count_nonzero(active.any(axis=0)))
    freqs = [self.freqs[active[:, t]] for t in range(n)]
    values = [block[active[:, t], t] for t in range(n)]
    times = (first_frame + np.arange(n)) * self.dt
    if 'txt' in self._files:
      self._files['txt'].file.write(''.join(
          format_multipitch_line(t, f) for t, f in zip(times, freqs)))
    if 'csv' in self._files:
      rows = []
      for t, f, v in zip(times, freqs, values):
        for hz, sal in zip(f, v):
          m = float(hz_to_midi(hz))
          rows.append(f'{t:.6f},{hz:.3f},{m:.2f},{note_name(round(m))},'
                      f'{sal:.4f}\n')
      self._files['csv'].file.write(''.join(rows))
    if self.tracker is not None:
      strength = (self.onset_strength(self.audio, first_frame, n)
                  if self.onset_strength is not None else None)
      self.tracker.update(first_frame,
                          refine_frequencies(block, active, self.freqs),
                          values, strength)
    self.frames_decided += n

  def commit(self) -> list[str]:
    """Finishes every output; returns the paths written.

    Every output is complete under its temporary name before any is renamed
    into place; on an error none is.
    """
    times = np.arange(self.n_frames) * self.dt
    try:
      if self.frames_written != self.n_frames:
        raise ValueError(f'{self.frames_written} of {self.n_frames} frames '
                         'were written')
      for decided, active in self.decoder.finish():
        self._add_decided(decided, active)
      if self.tracker is not None:
        self.notes = self.tracker.finish()
      if 'mid' in self._files:
        _save_midi(self._files['mid'].file, self.notes,
                   pitch_bends=self.pitch_bends, tempo_bpm=self.tempo_bpm)
      if 'notes' in self._files:
        self._files['notes'].file.write(format_notes(self.notes))
      if 'wav' in self._files:
        _save_sonified(self._files['wav'].file, self.audio, self.notes,
                       self.sample_rate, self.balance)
      if self.npz is not None:
        self.npz.finish(times, self.freqs)
      if self.pooled is not None:
        _save_png(self._files['png'].file, self.pooled.data, times,
                  self.freqs, threshold=self.threshold, title=self.title,
                  factor=self.pooled.factor, notes=self.notes)
      return [self._files[f].commit() for f in self.formats]
    except BaseException:
      self.abort()
      raise

  def abort(self) -> None:
    """Removes the temporary files; earlier outputs stay as they were."""
    if self.npz is not None:
      self.npz.discard()
    for f in self._files.values():
      f.abort()


# ------------------------------------------------------------ listening ---

SONIFY_HARMONICS = 6  # partials of each synthesised note, amplitude 1 / h


def sonify(notes: Sequence[Note], start: int, n_samples: int,
           sample_rate: int) -> np.ndarray:
  """Samples ``[start, start + n_samples)`` of ``notes`` synthesised:
  harmonic tones (``SONIFY_HARMONICS`` partials below Nyquist), 10-ms
  attack and release ramps, amplitude growing with the velocity."""
  out = np.zeros(n_samples, np.float64)
  t0, t1 = start / sample_rate, (start + n_samples) / sample_rate
  ramp = 0.01
  for note in notes:
    if note.end + ramp <= t0 or note.start >= t1:
      continue
    a = max(int(np.floor(note.start * sample_rate)), start)
    b = min(int(np.ceil((note.end + ramp) * sample_rate)), start + n_samples)
    t = np.arange(a, b) / sample_rate
    envelope = np.clip((t - note.start) / ramp, 0, 1) * np.clip(
        (note.end + ramp - t) / ramp, 0, 1)
    f0 = 440.0 * 2.0 ** ((note.pitch - 69) / 12)
    tone = sum(np.sin(2 * np.pi * h * f0 * (t - note.start)) / h
               for h in range(1, SONIFY_HARMONICS + 1)
               if h * f0 < sample_rate / 2)
    out[a - start:b - start] += (note.velocity / 127) * envelope * tone
  return out


def _save_sonified(file: IO, audio, notes: Sequence[Note], sample_rate: int,
                   balance: float, block_seconds: float = 10.0) -> None:
  """``audio`` mixed with its notes (``balance`` of the notes), 16-bit.

  Two passes of blocks (the notes' peak level, then the mix), so memory is
  bounded for any length."""
  import soundfile  # pylint: disable=g-import-not-at-top
  n = len(audio)
  block = max(1, int(block_seconds * sample_rate))
  peak = 1e-9
  for a in range(0, n, block):
    peak = max(peak, float(np.max(np.abs(sonify(
        notes, a, min(block, n - a), sample_rate)), initial=0.0)))
  with soundfile.SoundFile(file, 'w', samplerate=sample_rate, channels=1,
                           subtype='PCM_16', format='WAV') as out:
    for a in range(0, n, block):
      m = min(block, n - a)
      x = np.asarray(audio[a:a + m], np.float64)
      mix = (1 - balance) * x + balance * sonify(notes, a, m,
                                                 sample_rate) / peak
      out.write(np.clip(0.9 * mix, -1.0, 1.0))


# -------------------------------------------------------- arrays, images ---


def write_npz(path: str, salience: np.ndarray, times: np.ndarray,
              frequencies: np.ndarray) -> str:
  """``salience [K, T]``, ``times [T]`` (s), ``frequencies [K]`` (Hz)."""
  def save(file):
    np.savez(file, salience=salience, times=np.asarray(times, np.float64),
             frequencies=np.asarray(frequencies, np.float64))
  return _write_atomically(path, save)


def _pooled(salience: np.ndarray, max_columns: int
            ) -> tuple[np.ndarray, int]:
  """Max over groups of frames so that at most ``max_columns`` remain."""
  pooled = PooledSalience(salience.shape[0], salience.shape[1], max_columns)
  pooled.add(0, np.asarray(salience, np.float32))
  return pooled.data, pooled.factor


def plot_salience(ax, salience: np.ndarray, times: np.ndarray,
                  frequencies: np.ndarray, *, threshold: float = 0.5,
                  max_columns: int = 4000, estimates: bool = True,
                  factor: int | None = None,
                  notes: Sequence[Note] | None = None):
  """Draws a salience-gram on a matplotlib axis (pitch in note names).

  Args:
    ax: matplotlib axes.
    salience: ``[K, T]`` in [0, 1], or already pooled (see ``factor``).
    times: ``[T]`` frame times (s) of the unpooled frames.
    frequencies: ``[K]`` bin frequencies (Hz), log-spaced.
    threshold: peaks at or above it are drawn as the estimates.
    max_columns: longer salience-grams are shown as the maximum over groups
      of frames (the estimates are then the peaks of that maximum).
    estimates: draw the estimates.
    factor: ``salience`` is already the maximum over groups of ``factor``
      frames (``PooledSalience``).
    notes: MIDI notes drawn as outlined bars over the salience.

  Returns:
    The image artist.
  """
  if factor is None:
    pooled, factor = _pooled(salience, max_columns)
  else:
    pooled = np.asarray(salience, np.float32)
  midi = hz_to_midi(frequencies)
  dt = float(times[1] - times[0]) if len(times) > 1 else 0.0116
  half_bin = (midi[-1] - midi[0]) / max(len(midi) - 1, 1) / 2
  t_end = times[0] + pooled.shape[1] * factor * dt
  image = ax.imshow(pooled, origin='lower', aspect='auto', cmap='magma',
                    vmin=0.0, vmax=1.0, interpolation='nearest',
                    extent=(times[0] - dt / 2, t_end - dt / 2,
                            midi[0] - half_bin, midi[-1] + half_bin))
  if estimates:
    k_idx, t_idx = np.nonzero(peak_mask(pooled, threshold))
    ax.scatter(times[0] + (t_idx * factor + (factor - 1) / 2) * dt,
               midi[k_idx], s=1.5, c='#35d0ff', marker='.', linewidths=0,
               label=f'estimates (peaks >= {threshold:g})')
  if notes:
    from matplotlib.collections import PatchCollection  # pylint: disable=g-import-not-at-top
    from matplotlib.patches import Rectangle  # pylint: disable=g-import-not-at-top
    bars = [Rectangle((n.start, n.pitch - 0.4), n.end - n.start, 0.8)
            for n in notes]
    ax.add_collection(PatchCollection(bars, facecolor='none',
                                      edgecolor='#9dff6b', linewidth=0.7))
    ax.plot([], [], color='#9dff6b', label=f'notes ({len(notes)})')
    ax.set_xlim(times[0] - dt / 2, t_end - dt / 2)  # the image's extent
  if (estimates or notes) and ax.get_legend_handles_labels()[0]:
    ax.legend(loc='upper right', fontsize='small', markerscale=6,
              framealpha=0.6)
  lo, hi = math.ceil(midi[0] / 12) * 12, math.floor(midi[-1] / 12) * 12
  ticks = np.arange(lo, hi + 1, 12)
  ax.set_yticks(ticks)
  ax.set_yticklabels([note_name(m) for m in ticks])
  ax.set_xlabel('time (s)')
  ax.set_ylabel('pitch')
  return image


def write_png(path: str, salience: np.ndarray, times: np.ndarray,
              frequencies: np.ndarray, *, threshold: float = 0.5,
              title: str = '') -> str:
  """Writes the salience-gram with its estimates as a PNG picture."""
  return _write_atomically(path, lambda f: _save_png(
      f, salience, times, frequencies, threshold=threshold, title=title))


def _save_png(file: IO, salience, times, frequencies, *, threshold: float,
              title: str, factor: int | None = None,
              notes: Sequence[Note] | None = None) -> None:
  # A bare Figure renders with Agg and leaves pyplot's backend alone.
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  duration = float(times[-1] - times[0]) if len(times) > 1 else 0.0
  fig = Figure(figsize=(min(20.0, max(8.0, 0.25 * duration)), 5.0), dpi=100)
  ax = fig.add_subplot()
  image = plot_salience(ax, salience, times, frequencies, threshold=threshold,
                        factor=factor, notes=notes)
  fig.colorbar(image, ax=ax, label='salience', pad=0.01)
  if title:
    ax.set_title(title)
  fig.tight_layout()
  fig.savefig(file, format='png')
