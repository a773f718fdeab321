"""The common record every corpus reader returns, and the reader base class.

A reader (``data_pipelines/<corpus>.py``) knows one corpus's on-disk layout:
which tracks form a split, where a track's audio is, and how its ground truth
is stored. It returns ``Record``s: mono float32 audio at 22,050 Hz (channels
averaged, resampled, peak-normalised, as the reference's ``get_audio``), and,
where annotated, the multi-pitch ground truth in one of two native forms:

* ``FramePitches``: frame-level pitches at the annotation's own times (URMP,
  Bach10, GuitarSet). mir_eval scores against these times; training targets
  are resampled to the HCQT frames by nearest neighbour, outside the
  annotated range taking the frames ``edges`` (timbre-trap
  ``timbre_trap/datasets/PitchDataset.py``).
* ``Notes``: onset/offset/pitch lists (Su, TRIOS, MusicNet, MAESTRO, NSynth,
  FluidSynth renders). Both the mir_eval reference and the training targets
  are the notes sampled at the HCQT frame times ``n * hop / sr``,
  ``n = 0 .. N // hop`` (a note sounds at t when onset <= t < offset).

``Record.reference()`` gives the mir_eval pair, ``Record.label_grid()`` the
``[n_bins, 1 + N // hop]`` uint8 target on the h=1 HCQT grid.

Errors users can cause are one line naming the thing: ``DatasetNotFoundError``
(a corpus directory that does not exist, naming the dataset, the directory
and the config key), ``AnnotationError`` (a missing or corrupt ground-truth
file), ``audio.AudioError`` (a missing or corrupt audio file).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
import dataclasses
import os
from typing import ClassVar

import numpy as np

from data_pipelines import audio as audio_lib
from data_pipelines import labels as labels_lib
from data_pipelines import tracks

SAMPLE_RATE = 22050  # Hz, every record's audio rate


class DatasetNotFoundError(FileNotFoundError):
  """A corpus directory does not exist (says which dataset and directory)."""


class AnnotationError(ValueError):
  """A ground-truth file is missing, unreadable or inconsistent."""


def one_line(error: BaseException) -> str:
  """An exception's message on one line (its type name when empty)."""
  return ' '.join(str(error).split()) or type(error).__name__


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray:
  """MIDI note number(s) -> Hz (A4 = 69 = 440 Hz), float64."""
  return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


@dataclasses.dataclass(frozen=True)
class FramePitches:
  """Frame-level multi-pitch annotation at its own times.

  Attributes:
    times: [M] ascending seconds.
    freqs: M float64 arrays of Hz (> 0), possibly empty.
    edges: annotation frames (Python indices) taken by times before the
      first / after the last annotation time when resampling.
  """
  times: np.ndarray
  freqs: list[np.ndarray]
  edges: tuple[int, int] = (0, -1)

  def sample(self, times: np.ndarray) -> list[np.ndarray]:
    """The pitches at ``times`` (nearest annotation frame, edge rule)."""
    return labels_lib.resample_multipitch(self.times, self.freqs, times,
                                          edges=self.edges)

  def truncated(self, seconds: float) -> FramePitches:
    """The annotation restricted to times <= ``seconds``."""
    keep = self.times <= seconds
    return FramePitches(self.times[keep],
                        [f for f, k in zip(self.freqs, keep) if k],
                        self.edges)


@dataclasses.dataclass(frozen=True)
class Notes:
  """A note list. Attributes: [L] onsets / offsets (s) and pitches (Hz)."""
  onsets: np.ndarray
  offsets: np.ndarray
  pitches_hz: np.ndarray

  def sample(self, times: np.ndarray) -> list[np.ndarray]:
    """The pitches sounding at ``times`` (onset <= t < offset)."""
    return labels_lib.notes_to_multipitch(self.onsets, self.offsets,
                                          self.pitches_hz, times)

  def truncated(self, seconds: float) -> Notes:
    del seconds  # notes are sampled on the (truncated) audio's frames
    return self


Annotation = FramePitches | Notes


@dataclasses.dataclass
class Record:
  """One track of a corpus.

  Attributes:
    name: track name, unique within its corpus (e.g. '01_Jupiter_vn_vc').
    audio: [N] float32 mono samples at ``sample_rate``, peak-normalised.
    sample_rate: Hz (22,050 unless asked otherwise).
    annotation: the ground truth, or None for audio-only corpora.
  """
  name: str
  audio: np.ndarray
  sample_rate: int
  annotation: Annotation | None

  def frame_times(self, hop_length: int = 256) -> np.ndarray:
    """[1 + N // hop] HCQT frame times (s) of the whole track."""
    return labels_lib.frame_times(1 + len(self.audio) // hop_length,
                                  hop_length, self.sample_rate)

  def reference(self, hop_length: int = 256
                ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The mir_eval reference: (times [M] s, M arrays of Hz).

    Frame-level annotations keep their own times; notes are sampled at the
    HCQT frame times (timbre-trap ``timbre_trap/datasets/NoteDataset.py``).

    Raises:
      ValueError: the record has no annotation.
    """
    if self.annotation is None:
      raise ValueError(f'Track {self.name!r} has no pitch annotation.')
    if isinstance(self.annotation, FramePitches):
      return self.annotation.times, self.annotation.freqs
    times = self.frame_times(hop_length)
    return times, self.annotation.sample(times)

  def label_grid(self, *, hop_length: int = 256, fmin: float = 27.5,
                 bins_per_octave: int = 60,
                 n_bins: int = 440) -> np.ndarray:
    """[n_bins, 1 + N // hop] uint8 training target on the h=1 HCQT grid."""
    if self.annotation is None:
      raise ValueError(f'Track {self.name!r} has no pitch annotation.')
    freqs = self.annotation.sample(self.frame_times(hop_length))
    return labels_lib.frequencies_to_grid(
        freqs, fmin=fmin, bins_per_octave=bins_per_octave, n_bins=n_bins)

  def truncated(self, seconds: float | None) -> Record:
    """The first ``seconds`` of the track (annotation cut accordingly)."""
    if seconds is None:
      return self
    n = int(round(seconds * self.sample_rate))
    annotation = (None if self.annotation is None
                  else self.annotation.truncated(seconds))
    return Record(self.name, self.audio[:n], self.sample_rate, annotation)

  def to_track(self, hop_length: int = 256) -> tracks.Track:
    """The evaluation ``Track`` (audio + mir_eval reference)."""
    times, freqs = self.reference(hop_length)
    return tracks.Track(self.name, self.audio, np.asarray(times, np.float64),
                        [np.asarray(f, np.float64) for f in freqs])


class Corpus(abc.ABC):
  """A corpus: splits, track names, and each track's audio and ground truth.

  Subclasses set the class attributes and implement ``_track_ids`` and
  ``load``; corpora of audio files derive from ``FileCorpus`` instead.
  """

  name: ClassVar[str]  # short name used in set names, e.g. 'urmp'
  title: ClassVar[str]  # e.g. 'URMP'
  splits: ClassVar[tuple[str, ...]]  # split names, e.g. ('train', 'valid')
  annotated: ClassVar[bool]  # has multi-pitch ground truth
  url: ClassVar[str]  # where users obtain it
  # Seconds of each track used by a split's evaluation set (None = all).
  eval_seconds: ClassVar[dict[str, float]] = {}

  def __init__(self, root: str | os.PathLike[str]):
    root = os.fspath(root)
    if not root or not os.path.isdir(root):
      raise DatasetNotFoundError(
          f'{self.title} ({self.name}) not found: expected its directory at '
          f'{root!r} (config.data.dataset_dirs.{self.name}); obtain it from '
          f'{self.url} (layout: docs/datasets.md).')
    self.root = root

  def _require(self, path: str, what: str) -> str:
    """``path`` if it exists, else a one-line DatasetNotFoundError."""
    if not os.path.exists(path):
      raise DatasetNotFoundError(
          f'{self.title} ({self.name}) under {self.root!r} lacks its {what} '
          f'{path!r}; see docs/datasets.md for the expected layout.')
    return path

  def track_ids(self, split: str) -> list[str]:
    """Names of the tracks of ``split``, in a fixed order."""
    if split not in self.splits:
      raise ValueError(f'{self.title} has no split {split!r}; splits: '
                       f'{", ".join(self.splits)}.')
    return list(self._track_ids(split))

  @abc.abstractmethod
  def _track_ids(self, split: str) -> Sequence[str]:
    """Track names of a (valid) split."""

  @abc.abstractmethod
  def load(self, track_id: str, sample_rate: int = SAMPLE_RATE) -> Record:
    """The record of one track (audio at ``sample_rate`` and ground truth).

    Raises:
      audio.AudioError: missing or corrupt audio (names the file).
      AnnotationError: missing or corrupt ground truth (names the file).
    """

  def eval_tracks(self, split: str, *, sample_rate: int = SAMPLE_RATE,
                  hop_length: int = 256) -> list[tracks.Track]:
    """The evaluation tracks of ``split`` (cut to ``eval_seconds[split]``)."""
    seconds = self.eval_seconds.get(split)
    return [self.load(t, sample_rate).truncated(seconds).to_track(hop_length)
            for t in self.track_ids(split)]


class FileCorpus(Corpus):
  """A corpus of audio files: subclasses implement ``_track_ids``,
  ``audio_path`` and (annotated corpora) ``_annotation``."""

  @abc.abstractmethod
  def audio_path(self, track_id: str) -> str:
    """Path of a track's audio file."""

  def _annotation(self, track_id: str, audio: np.ndarray,
                  sample_rate: int) -> Annotation | None:
    """The ground truth (``audio`` is the loaded track, for derived truth)."""
    del track_id, audio, sample_rate
    return None

  def load_audio(self, track_id: str,
                 sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """[N] float32 mono audio at ``sample_rate``, peak-normalised."""
    audio = audio_lib.load_audio(self.audio_path(track_id), sample_rate)
    return audio_lib.peak_normalize(audio)

  def load(self, track_id: str, sample_rate: int = SAMPLE_RATE) -> Record:
    """The record of one track.

    Raises:
      audio.AudioError: missing or corrupt audio (names the file).
      AnnotationError: missing or corrupt ground truth (names the file).
    """
    audio = self.load_audio(track_id, sample_rate)
    return Record(track_id, audio, sample_rate,
                  self._annotation(track_id, audio, sample_rate))


def read_text_columns(path: str, n_columns: int,
                      what: str) -> np.ndarray:
  """A whitespace-separated numeric text file as [rows, n_columns] float64.

  Raises:
    AnnotationError: missing file, a row with another number of columns, or
      a non-numeric entry (the message names the file and the line).
  """
  if not os.path.isfile(path):
    raise AnnotationError(f'{what} not found: {path!r}.')
  rows = []
  with open(path, encoding='utf-8', errors='replace') as f:
    for number, line in enumerate(f, start=1):
      fields = line.split()
      if not fields:
        continue
      if len(fields) != n_columns:
        raise AnnotationError(
            f'{what} {path!r} line {number} has {len(fields)} columns, '
            f'expected {n_columns}.')
      try:
        rows.append([float(x) for x in fields])
      except ValueError as error:
        raise AnnotationError(f'{what} {path!r} line {number} is not numeric: '
                              f'{line.strip()!r}.') from error
  return np.asarray(rows, dtype=np.float64).reshape(-1, n_columns)
