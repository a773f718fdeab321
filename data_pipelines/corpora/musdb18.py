"""MUSDB18: 150 full-length songs with vocals, drums, bass and other stems
(separation labels only; no pitch), in its MUSDB18-HQ form.

Layout (``musdb18hq.zip``, zenodo.org/record/3338373), 44.1 kHz stereo WAV:

  <root>/train/<Artist - Title>/<stem>.wav   100 songs
  <root>/test/<Artist - Title>/<stem>.wav     50 songs
  (<stem>: mixture, drums, bass, other, vocals)

Splits: the standard 'train' (100) and 'test' (50) folders; 'all' = both.
(The ``musdb`` package's 14-song validation subset of 'train' is not used
here.)

The original MUSDB18 release stores each song as one ``<name>.stem.mp4``
(AAC streams inside an MP4 container), which soundfile cannot decode: a
folder of ``.stem.mp4`` files is refused with a one-line error that names
MUSDB18-HQ (or ``musdbconvert`` from the ``musdb`` package, which writes the
same WAV folders).

Stems (``stems``): 'mixture' (``mixture.wav``), 'vocals' (``vocals.wav``) and
'accompaniment' (drums + bass + other), each file's channels averaged, at
the asked rate, not normalised, cut to the shortest file.
"""

from __future__ import annotations

import os

import numpy as np

from data_pipelines import audio as audio_lib
from data_pipelines import corpus

STEM_FILES = ('mixture', 'drums', 'bass', 'other', 'vocals')
HQ_URL = 'https://zenodo.org/record/3338373 (MUSDB18-HQ)'


class MUSDB18(corpus.FileCorpus):
  """MUSDB18-HQ songs: the mixture and its vocal / accompaniment stems."""

  name = 'musdb18'
  title = 'MUSDB18'
  splits = ('train', 'test', 'all')
  annotated = False
  url = HQ_URL
  stem_names = ('mixture', 'vocals', 'accompaniment')

  def _split_dir(self, split: str) -> str:
    folder = os.path.join(self.root, split)
    if os.path.isdir(folder) and any(
        f.endswith('.stem.mp4') for f in os.listdir(folder)):
      raise corpus.DatasetNotFoundError(
          f'MUSDB18 (musdb18) under {self.root!r} holds .stem.mp4 files, '
          'which soundfile cannot decode; use the WAV release MUSDB18-HQ '
          f'({HQ_URL}) or convert with `musdbconvert` (pip install musdb).')
    return self._require(folder, f'{split} folder')

  def _songs(self, split: str) -> list[str]:
    folder = self._split_dir(split)
    songs = sorted(d for d in os.listdir(folder) if not d.startswith('.')
                   and os.path.isdir(os.path.join(folder, d)))
    if not songs:
      raise corpus.DatasetNotFoundError(
          f'MUSDB18 (musdb18) folder {folder!r} holds no song folders with '
          f'{", ".join(f + ".wav" for f in STEM_FILES)}; point '
          'config.data.dataset_dirs.musdb18 at the MUSDB18-HQ folder.')
    return [f'{split}/{s}' for s in songs]

  def _track_ids(self, split: str) -> list[str]:
    if split == 'all':
      return self._songs('train') + self._songs('test')
    return self._songs(split)

  def stem_path(self, track_id: str, stem: str) -> str:
    return os.path.join(self.root, track_id, f'{stem}.wav')

  def audio_path(self, track_id: str) -> str:
    return self.stem_path(track_id, 'mixture')

  def stems(self, track_id: str,
            sample_rate: int = corpus.SAMPLE_RATE) -> dict[str, np.ndarray]:
    """'mixture', 'vocals', 'accompaniment' ([N] float32 at ``sample_rate``,
    not normalised).

    Raises:
      audio.AudioError: a missing or corrupt stem file (names it).
    """
    audio = {s: audio_lib.load_audio(self.stem_path(track_id, s), sample_rate)
             for s in STEM_FILES}
    n = min(len(a) for a in audio.values())
    return {'mixture': audio['mixture'][:n], 'vocals': audio['vocals'][:n],
            'accompaniment': (audio['drums'][:n] + audio['bass'][:n]
                              + audio['other'][:n])}

  def pitch_annotation(self, track_id: str) -> None:
    """MUSDB18 has no pitch labels."""
    del track_id
