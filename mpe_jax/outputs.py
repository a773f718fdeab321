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
  most ``max_gap_seconds`` continues the same note; notes shorter than
  ``min_note_seconds`` are dropped; velocity grows with the mean salience.
* ``png`` -- ``<stem>.png``, the salience-gram (pitch axis in note names, time
  in seconds) with the estimates drawn over it.
* ``npz`` -- ``<stem>.npz`` with ``salience [K, T]`` (float32, in [0, 1]),
  ``times [T]`` (s) and ``frequencies [K]`` (Hz).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from typing import IO, Sequence

import numpy as np

from mpe_jax.evaluation.peaks import peak_mask

FORMATS = ('txt', 'csv', 'mid', 'png', 'npz')
SUFFIXES = {'txt': '.multipitch.txt', 'csv': '.csv', 'mid': '.mid',
            'png': '.png', 'npz': '.npz'}
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
  """A note: onset and offset (s), MIDI pitch, MIDI velocity (1..127)."""
  start: float
  end: float
  pitch: int
  velocity: int


class NoteTracker:
  """Frame activations -> notes, one block of frames at a time.

  Args:
    frame_seconds: time between frames (s); frame ``n`` spans
      ``[n, n + 1) * frame_seconds``.
    min_note_seconds: shorter notes are dropped.
    max_gap_seconds: a pitch silent for at most this long continues its note.
  """

  def __init__(self, frame_seconds: float, *, min_note_seconds: float = 0.05,
               max_gap_seconds: float = 0.03):
    self.dt = float(frame_seconds)
    self.min_frames = max(1, int(math.ceil(min_note_seconds / self.dt - 1e-9)))
    self.max_gap = max(0, int(math.floor(max_gap_seconds / self.dt + 1e-9)))
    # pitch -> [first frame, last active frame, salience sum, active frames]
    self._open: dict[int, list[float]] = {}
    self.notes: list[Note] = []

  def update(self, first_frame: int, freqs: Sequence[np.ndarray],
             values: Sequence[np.ndarray]) -> None:
    """Adds frames ``first_frame + i`` with active ``freqs[i]`` (Hz) whose
    salience values are ``values[i]``."""
    for i, (f, v) in enumerate(zip(freqs, values)):
      frame = first_frame + i
      self._close_before(frame)
      if len(f) == 0:
        continue
      pitches = np.rint(hz_to_midi(f)).astype(np.int64)
      best: dict[int, float] = {}
      for p, s in zip(pitches.tolist(), np.asarray(v).tolist()):
        best[p] = max(best.get(p, 0.0), s)
      for p, s in best.items():
        note = self._open.get(p)
        if note is None:
          self._open[p] = [frame, frame, s, 1]
        else:
          note[1], note[2], note[3] = frame, note[2] + s, note[3] + 1

  def _close_before(self, frame: int) -> None:
    for p in [p for p, n in self._open.items()
              if frame - n[1] - 1 > self.max_gap]:
      self._emit(p, self._open.pop(p))

  def _emit(self, pitch: int, note: list[float]) -> None:
    first, last, total, count = note
    if last - first + 1 < self.min_frames:
      return
    mean = total / count
    velocity = int(np.clip(round(127 * mean), 1, 127))
    self.notes.append(Note(first * self.dt, (last + 1) * self.dt, int(pitch),
                           velocity))

  def finish(self) -> list[Note]:
    """Closes every open note; returns all notes sorted by (onset, pitch)."""
    for p in list(self._open):
      self._emit(p, self._open.pop(p))
    self.notes.sort(key=lambda n: (n.start, n.pitch))
    return self.notes


def write_midi(path: str, notes: Sequence[Note], *,
               program: int = 0) -> str:
  """Writes notes as a one-track MIDI file (120 bpm, 480 ticks/beat)."""
  return _write_atomically(path, lambda f: _save_midi(f, notes, program))


def _write_atomically(path: str, write) -> str:
  out = AtomicFile(path, 'wb')
  try:
    write(out.file)
    return out.commit()
  except BaseException:
    out.abort()
    raise


def _save_midi(file: IO, notes: Sequence[Note], program: int = 0) -> None:
  import mido  # pylint: disable=g-import-not-at-top

  ticks_per_beat, tempo = 480, 500_000  # 120 bpm: 960 ticks per second
  events = []
  for n in notes:
    on = int(round(mido.second2tick(n.start, ticks_per_beat, tempo)))
    off = max(on + 1, int(round(mido.second2tick(n.end, ticks_per_beat,
                                                 tempo))))
    events.append((on, 1, n.pitch, n.velocity))
    events.append((off, 0, n.pitch, 0))
  events.sort()  # note-offs (0) before note-ons (1) at the same tick
  track = mido.MidiTrack()
  track.append(mido.MetaMessage('set_tempo', tempo=tempo, time=0))
  track.append(mido.Message('program_change', program=program, time=0))
  now = 0
  for tick, kind, pitch, velocity in events:
    track.append(mido.Message('note_on' if kind else 'note_off', note=pitch,
                              velocity=velocity if kind else 0,
                              time=tick - now))
    now = tick
  track.append(mido.MetaMessage('end_of_track', time=0))
  midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
  midi.tracks.append(track)
  midi.save(file=file)


# --------------------------------------------------------- text formats ---


def format_multipitch_line(time: float, freqs: np.ndarray) -> str:
  """One mir_eval multi-pitch line: time, then frequencies, tab-separated."""
  return '\t'.join([f'{time:.6f}'] + [f'{f:.3f}' for f in freqs]) + '\n'


def read_multipitch(path: str) -> tuple[np.ndarray, list[np.ndarray]]:
  """Reads a ``.multipitch.txt`` file: ``times [T]`` and T arrays of Hz."""
  import mir_eval  # pylint: disable=g-import-not-at-top

  times, freqs = mir_eval.io.load_ragged_time_series(path)
  return np.asarray(times, np.float64), [np.asarray(f, np.float64)
                                         for f in freqs]


# ---------------------------------------------------------------- sinks ---


class SalienceStore:
  """``[K, T]`` float32 salience kept in memory, or in an unlinked temporary
  memmap when larger than ``max_bytes``."""

  def __init__(self, n_bins: int, n_frames: int, *,
               max_bytes: int = 256 << 20, spill_dir: str | None = None):
    shape = (n_bins, n_frames)
    if n_bins * n_frames * 4 > max_bytes:
      fd, path = tempfile.mkstemp(prefix='mpe_jax_salience_', dir=spill_dir)
      os.close(fd)
      try:
        self.data = np.memmap(path, np.float32, 'w+', shape=shape)
      finally:
        os.unlink(path)
    else:
      self.data = np.zeros(shape, np.float32)

  def write(self, first_frame: int, block: np.ndarray) -> None:
    self.data[:, first_frame:first_frame + block.shape[-1]] = block


class Writers:
  """All requested outputs of one audio file, fed block by block.

  Args:
    stem: output path without suffix (``<output_dir>/<name>``).
    formats: subset of ``FORMATS``.
    bin_frequencies: ``[K]`` Hz.
    frame_seconds: seconds between frames.
    n_frames: frames of the whole file.
    threshold: salience threshold on the peaks.
    min_note_seconds, max_gap_seconds: see ``NoteTracker``.
    title: text over the picture.
  """

  def __init__(self, stem: str, formats: Sequence[str],
               bin_frequencies: np.ndarray, frame_seconds: float,
               n_frames: int, *, threshold: float,
               min_note_seconds: float = 0.05, max_gap_seconds: float = 0.03,
               title: str = '', spill_dir: str | None = None):
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
      raise ValueError(f'unknown output formats {unknown}; choose from '
                       f'{",".join(FORMATS)}.')
    self.stem, self.formats = stem, tuple(formats)
    for target in self.paths():
      if os.path.isdir(target):
        raise IsADirectoryError(f'output {target} is an existing folder')
    self.freqs = np.asarray(bin_frequencies, np.float64)
    self.midi = hz_to_midi(self.freqs)
    self.dt, self.n_frames = float(frame_seconds), int(n_frames)
    self.threshold, self.title = float(threshold), title
    self.txt = AtomicFile(stem + SUFFIXES['txt']) if 'txt' in formats else None
    self.csv = AtomicFile(stem + SUFFIXES['csv']) if 'csv' in formats else None
    if self.csv is not None:
      self.csv.file.write('time_s,frequency_hz,midi,note,salience\n')
    self.tracker = (NoteTracker(frame_seconds,
                                min_note_seconds=min_note_seconds,
                                max_gap_seconds=max_gap_seconds)
                    if 'mid' in formats else None)
    self.store = (SalienceStore(len(self.freqs), self.n_frames,
                                spill_dir=spill_dir)
                  if {'png', 'npz'} & set(formats) else None)
    self.frames_written = 0
    self.notes: list[Note] = []
    self._extra: list[AtomicFile] = []

  def paths(self) -> list[str]:
    return [self.stem + SUFFIXES[f] for f in self.formats]

  def add(self, first_frame: int, block: np.ndarray) -> None:
    """Adds salience ``[K, n]`` of frames ``first_frame ..`` (in order)."""
    if first_frame != self.frames_written:
      raise ValueError(f'blocks out of order: got frame {first_frame}, '
                       f'expected {self.frames_written}')
    active = peak_mask(block, self.threshold)  # [K, n]
    n = block.shape[-1]
    freqs = [self.freqs[active[:, t]] for t in range(n)]
    values = [block[active[:, t], t] for t in range(n)]
    times = (first_frame + np.arange(n)) * self.dt
    if self.txt is not None:
      self.txt.file.write(''.join(format_multipitch_line(t, f)
                                  for t, f in zip(times, freqs)))
    if self.csv is not None:
      rows = []
      for t, f, v in zip(times, freqs, values):
        for hz, s in zip(f, v):
          m = float(hz_to_midi(hz))
          rows.append(f'{t:.6f},{hz:.3f},{m:.2f},{note_name(round(m))},'
                      f'{s:.4f}\n')
      self.csv.file.write(''.join(rows))
    if self.tracker is not None:
      self.tracker.update(first_frame, freqs, values)
    if self.store is not None:
      self.store.write(first_frame, block)
    self.frames_written += n

  def commit(self) -> list[str]:
    """Finishes every output; returns the paths written."""
    times = np.arange(self.n_frames) * self.dt
    try:
      if self.frames_written != self.n_frames:
        raise ValueError(f'{self.frames_written} of {self.n_frames} frames '
                         'were written')
      # Every output is complete under its temporary name before any is
      # renamed into place.
      files = {'txt': self.txt, 'csv': self.csv}
      for f in self.formats:
        if f in files:
          continue
        files[f] = AtomicFile(self.stem + SUFFIXES[f], 'wb')
        self._extra.append(files[f])
        if f == 'mid':
          self.notes = self.tracker.finish()
          _save_midi(files[f].file, self.notes)
        elif f == 'npz':
          _save_npz(files[f].file, self.store.data, times, self.freqs)
        elif f == 'png':
          _save_png(files[f].file, self.store.data, times, self.freqs,
                    threshold=self.threshold, title=self.title)
      return [files[f].commit() for f in self.formats]
    except BaseException:
      self.abort()
      raise

  def abort(self) -> None:
    """Removes the temporary files; earlier outputs stay as they were."""
    for f in [self.txt, self.csv] + self._extra:
      if f is not None:
        f.abort()


# -------------------------------------------------------- arrays, images ---


def write_npz(path: str, salience: np.ndarray, times: np.ndarray,
              frequencies: np.ndarray) -> str:
  """``salience [K, T]``, ``times [T]`` (s), ``frequencies [K]`` (Hz)."""
  return _write_atomically(
      path, lambda f: _save_npz(f, salience, times, frequencies))


def _save_npz(file: IO, salience, times, frequencies) -> None:
  # np.savez streams a memmap into the archive in bounded buffers.
  np.savez(file, salience=salience, times=np.asarray(times, np.float64),
           frequencies=np.asarray(frequencies, np.float64))


def _pooled(salience: np.ndarray, max_columns: int
            ) -> tuple[np.ndarray, int]:
  """Max over groups of ``factor`` frames so that at most ``max_columns``
  remain; read in slices (works on memmaps)."""
  k, t = salience.shape
  factor = max(1, int(math.ceil(t / max_columns)))
  if factor == 1:
    return np.asarray(salience, np.float32), 1
  cols = int(math.ceil(t / factor))
  out = np.zeros((k, cols), np.float32)
  step = factor * 1024
  for start in range(0, t, step):
    part = np.asarray(salience[:, start:start + step], np.float32)
    n = part.shape[1]
    pad = (-n) % factor
    if pad:
      part = np.pad(part, ((0, 0), (0, pad)))
    c0 = start // factor
    out[:, c0:c0 + part.shape[1] // factor] = part.reshape(
        k, -1, factor).max(axis=2)
  return out, factor


def plot_salience(ax, salience: np.ndarray, times: np.ndarray,
                  frequencies: np.ndarray, *, threshold: float = 0.5,
                  max_columns: int = 4000, estimates: bool = True):
  """Draws a salience-gram on a matplotlib axis (pitch in note names).

  Args:
    ax: matplotlib axes.
    salience: ``[K, T]`` in [0, 1] (array or memmap).
    times: ``[T]`` frame times (s).
    frequencies: ``[K]`` bin frequencies (Hz), log-spaced.
    threshold: peaks at or above it are drawn as the estimates.
    max_columns: longer salience-grams are shown as the maximum over groups
      of frames (the estimates are then the peaks of that maximum).
    estimates: draw the estimates.

  Returns:
    The image artist.
  """
  pooled, factor = _pooled(salience, max_columns)
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
    if len(k_idx):
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
              title: str) -> None:
  # A bare Figure renders with Agg and leaves pyplot's backend alone.
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  duration = float(times[-1] - times[0]) if len(times) > 1 else 0.0
  fig = Figure(figsize=(min(20.0, max(8.0, 0.25 * duration)), 5.0), dpi=100)
  ax = fig.add_subplot()
  image = plot_salience(ax, salience, times, frequencies, threshold=threshold)
  fig.colorbar(image, ax=ax, label='salience', pad=0.01)
  if title:
    ax.set_title(title)
  fig.tight_layout()
  fig.savefig(file, format='png')
