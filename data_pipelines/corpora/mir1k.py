"""MIR-1K: 1000 karaoke clips of Chinese pop songs, voice and accompaniment on
separate channels, with frame-level vocal pitch labels (the MAJL paper's main
fully-labelled corpus: separation targets and pitch).

Layout (the ``MIR-1K`` folder of ``MIR-1K.zip``):

  <root>/Wavfile/<singer>_<song>_<clip>.wav   e.g. abjones_1_01.wav: 16 kHz,
                                              16-bit, 2 channels: left =
                                              accompaniment, right = singing
  <root>/PitchLabel/<clip>.pv                 vocal pitch, one value per line
  <root>/UnvoicedFrameLabel/<clip>.unv, <root>/vocal-nonvocalLabel/<clip>.vocal,
  <root>/Lyrics/<clip>.txt, <root>/UndividedWavfile/, <root>/LyricsWav/
                                              (not read)

Ground truth: ``.pv`` line k (k = 0, 1, ...) is the pitch of the singing voice
in semitones (MIDI numbers, fractional; 0 = unvoiced) of the 40-ms frame
starting at k * 20 ms, stamped at its centre ``FIRST_FRAME_S + k *
FRAME_HOP_S`` = 20 ms + k * 20 ms (mirdata's MIR-1K loader convention);
returned as ``FramePitches`` in Hz at those times, unvoiced frames empty.
A negative value or a non-numeric line is a one-line ``AnnotationError``.

Audio: ``load`` returns the mixture, the two channels averaged (as every
reader). ``stems`` returns the separation targets unnormalised: 'vocals'
(right channel), 'accompaniment' (left) and 'mixture' (their sum, so that
mixture = vocals + accompaniment exactly).

Splits: the MAJL paper splits MIR-1K at random into 80 % training and 20 %
testing clips without publishing the split. 'test' = the first
round(n / 5) clips of the sorted-by-``sha256(f'{SPLIT_SEED}:{clip}')`` order
(``random_split``; ``SPLIT_SEED`` = 0), 'train' = the others, 'all' = every
clip; for the full 1000 clips, 800 / 200. The split depends only on the
clip names present (no random-number stream), so it is the same on every
machine and numpy version. ``split_file`` replaces it by a published one: a
CSV with a header row naming ``name`` and ``split`` columns (``split`` =
train / test; names with or without ``.wav``), e.g. DJCM's
``dataset/INFO/mir1k.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import os

import numpy as np
import soundfile as sf

from data_pipelines import audio as audio_lib
from data_pipelines import corpus

NATIVE_RATE = 16000  # Hz of the Wavfile clips
FRAME_HOP_S = 0.020  # .pv frame step
FRAME_LENGTH_S = 0.040  # .pv frame length
FIRST_FRAME_S = 0.020  # time of .pv line 0 (centre of the first frame)
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def random_split(track_ids, seed, test_fraction: float = TEST_FRACTION
                 ) -> tuple[list[str], list[str]]:
  """(train, test), each sorted: a seeded split without a random stream.

  The ids are ordered by ``sha256(f'{seed}:{id}')`` (ties by id); the first
  ``round(test_fraction * n)`` form the test part.
  """
  ids = sorted(set(track_ids))
  order = sorted(ids, key=lambda t: (
      hashlib.sha256(f'{seed}:{t}'.encode('utf-8')).hexdigest(), t))
  n_test = int(np.floor(test_fraction * len(ids) + 0.5))
  test = set(order[:n_test])
  return [t for t in ids if t not in test], sorted(test)


def read_channels(path: str, sample_rate: int) -> np.ndarray:
  """[channels, N] float32 samples of a sound file at ``sample_rate``.

  Raises:
    audio.AudioError: missing, empty, unreadable or non-finite file (one
      line naming it).
  """
  if not os.path.isfile(path):
    raise audio_lib.AudioError(f'Audio file not found: {path!r}.')
  if os.path.getsize(path) == 0:
    raise audio_lib.AudioError(f'Audio file is empty (0 bytes): {path!r}.')
  try:
    data, rate = sf.read(path, dtype='float32', always_2d=True)  # [N, C]
  except (sf.LibsndfileError, RuntimeError, TypeError) as error:
    raise audio_lib.AudioError(
        f'Cannot read audio file {path!r}: {corpus.one_line(error)}.'
    ) from error
  if data.size == 0:
    raise audio_lib.AudioError(f'Audio file has no samples: {path!r}.')
  if not np.all(np.isfinite(data)):
    raise audio_lib.AudioError(
        f'Audio file contains NaN or Inf samples: {path!r}.')
  channels = data.T
  if rate != sample_rate:
    channels = np.stack([audio_lib.resample(c, rate, sample_rate)
                         for c in channels])
  return np.asarray(channels, dtype=np.float32)


def read_split_file(path: str) -> dict[str, str]:
  """clip name -> 'train' / 'test' from a ``name,...,split`` CSV.

  Raises:
    corpus.DatasetNotFoundError: the file does not exist.
    corpus.AnnotationError: no ``name``/``split`` header, or a split other
      than train/test (names the file and line).
  """
  if not os.path.isfile(path):
    raise corpus.DatasetNotFoundError(f'MIR-1K split file not found: '
                                      f'{path!r}.')
  splits = {}
  with open(path, newline='', encoding='utf-8') as f:
    reader = csv.reader(f)
    header = [h.strip() for h in next(reader, [])]
    if 'name' not in header or 'split' not in header:
      raise corpus.AnnotationError(
          f'MIR-1K split file {path!r} needs a header row with name and '
          f'split columns, got {",".join(header)!r}.')
    i_name, i_split = header.index('name'), header.index('split')
    for row in reader:
      if not row:
        continue
      try:
        name, split = row[i_name].strip(), row[i_split].strip()
      except IndexError:
        split = ''
      if split not in ('train', 'test'):
        raise corpus.AnnotationError(
            f'MIR-1K split file {path!r} line {reader.line_num}: expected '
            f'split train or test in {",".join(row)!r}.')
      splits[name[:-4] if name.endswith('.wav') else name] = split
  return splits


class MIR1K(corpus.FileCorpus):
  """MIR-1K clips: mixture, vocal pitch in Hz, voice/accompaniment stems."""

  name = 'mir1k'
  title = 'MIR-1K'
  splits = ('train', 'test', 'all')
  annotated = True
  url = 'http://mirlab.org/dataset/public/MIR-1K.zip'
  stem_names = ('mixture', 'vocals', 'accompaniment')

  def __init__(self, root, split_file: str | None = None):
    super().__init__(root)
    self.split_file = split_file

  def _clips(self) -> list[str]:
    folder = self._require(os.path.join(self.root, 'Wavfile'),
                           'Wavfile folder')
    clips = sorted(f[:-4] for f in os.listdir(folder)
                   if f.endswith('.wav') and not f.startswith('.'))
    if not clips:
      raise corpus.DatasetNotFoundError(
          f'MIR-1K (mir1k) folder {folder!r} holds no clips like '
          "'abjones_1_01.wav'; point config.data.dataset_dirs.mir1k at the "
          "'MIR-1K' folder of MIR-1K.zip.")
    return clips

  def _track_ids(self, split: str) -> list[str]:
    clips = self._clips()
    if split == 'all':
      return clips
    if self.split_file:
      assigned = read_split_file(self.split_file)
      return [c for c in clips if assigned.get(c) == split]
    train, test = random_split(clips, SPLIT_SEED)
    return train if split == 'train' else test

  def audio_path(self, track_id: str) -> str:
    return os.path.join(self.root, 'Wavfile', f'{track_id}.wav')

  def pitch_path(self, track_id: str) -> str:
    return os.path.join(self.root, 'PitchLabel', f'{track_id}.pv')

  def _annotation(self, track_id, audio, sample_rate) -> corpus.FramePitches:
    del audio, sample_rate
    path = self.pitch_path(track_id)
    semitones = corpus.read_text_columns(path, 1, 'MIR-1K pitch label')[:, 0]
    if np.any(semitones < 0):
      line = int(np.flatnonzero(semitones < 0)[0]) + 1
      raise corpus.AnnotationError(
          f'MIR-1K pitch label {path!r} value {line} is negative '
          f'({semitones[line - 1]:g}); expected semitones, 0 = unvoiced.')
    times = FIRST_FRAME_S + FRAME_HOP_S * np.arange(len(semitones))
    freqs = [corpus.midi_to_hz(np.array([m])) if m > 0
             else np.zeros(0, np.float64) for m in semitones]
    return corpus.FramePitches(times, freqs)

  def pitch_annotation(self, track_id: str) -> corpus.FramePitches:
    """The vocal pitch of a track at the annotation's own times (Hz)."""
    return self._annotation(track_id, None, 0)

  def stems(self, track_id: str,
            sample_rate: int = corpus.SAMPLE_RATE) -> dict[str, np.ndarray]:
    """The separation targets of a clip: name -> [N] float32 at
    ``sample_rate`` (not normalised): 'vocals' (right channel),
    'accompaniment' (left), 'mixture' (their sum).

    Raises:
      audio.AudioError: missing or corrupt file, or not 2 channels (names
        the file).
    """
    path = self.audio_path(track_id)
    channels = read_channels(path, sample_rate)
    if len(channels) != 2:
      raise audio_lib.AudioError(
          f'MIR-1K clip {path!r} has {len(channels)} channel(s); expected 2 '
          '(left accompaniment, right voice).')
    accompaniment, vocals = channels
    return {'mixture': accompaniment + vocals, 'vocals': vocals,
            'accompaniment': accompaniment}
