"""URMP: the University of Rochester Multi-Modal Music Performance dataset.

Layout (the ``Dataset`` folder of the download, one folder per piece):

  <root>/01_Jupiter_vn_vc/AuMix_01_Jupiter_vn_vc.wav   mixture (48 kHz)
  <root>/01_Jupiter_vn_vc/AuSep_1_vn_01_Jupiter.wav    stems (unused)
  <root>/01_Jupiter_vn_vc/F0s_1_vn_01_Jupiter.txt      F0 of instrument 1
  <root>/01_Jupiter_vn_vc/F0s_2_vc_01_Jupiter.txt      F0 of instrument 2
  <root>/01_Jupiter_vn_vc/Notes_*.txt, Sco_*.mid, Vid_*.mp4 (unused)
  <root>/Supplementary_Files/ (ignored)

A piece folder is ``<NN>_<Title>_<inst1>_<inst2>...``; the mixture is
``AuMix_<folder>.wav``. Ground truth (timbre-trap
``timbre_trap/datasets/MixedMultiPitch/URMP.py``): one
``F0s_<i>_*.txt`` per instrument i = 1..n (n from the folder name), two
whitespace-separated columns (time s, f0 Hz) on a time grid shared by all
instruments of the piece; 0 Hz = silent and is dropped.

Splits: 'valid' = the MT3 validation pieces 01, 02, 12, 13, 24, 25, 31, 38,
39 (the ISMIR-2025 validation set); 'train' = the other 35 pieces; 'all' =
all 44 pieces (the SS-MPE paper's URMP evaluation).
"""

from __future__ import annotations

import os
import re

import numpy as np

from data_pipelines import corpus

VALID_PIECES = ('01', '02', '12', '13', '24', '25', '31', '38', '39')
# URMP-T2 of the ISMIR 2025 study: 10 training pieces "spanning multiple
# degrees of polyphony" (the paper does not list them). Rule: the first
# T2_PER_POLYPHONY[n] training pieces (in piece order) with n instruments.
T2_PER_POLYPHONY = {2: 2, 3: 3, 4: 3, 5: 2}
_PIECE = re.compile(r'^(\d\d)_[^_]+(_[A-Za-z]+)+$')


class URMP(corpus.FileCorpus):
  """URMP mixtures with per-instrument F0 ground truth."""

  name = 'urmp'
  title = 'URMP'
  splits = ('train', 'valid', 'all', 'train_t1', 'train_t2')
  annotated = True
  url = 'https://labsites.rochester.edu/air/projects/URMP.html'

  def _pieces(self) -> list[str]:
    pieces = sorted(d for d in os.listdir(self.root) if _PIECE.match(d)
                    and os.path.isdir(os.path.join(self.root, d)))
    if not pieces:
      raise corpus.DatasetNotFoundError(
          f'URMP (urmp) directory {self.root!r} holds no piece folders like '
          "'01_Jupiter_vn_vc'; point config.data.dataset_dirs.urmp at the "
          "download's 'Dataset' folder.")
    return pieces

  def _track_ids(self, split: str) -> list[str]:
    pieces = self._pieces()
    if split == 'all':
      return pieces
    valid = [p for p in pieces if p[:2] in VALID_PIECES]
    if split == 'valid':
      return valid
    train = [p for p in pieces if p not in valid]
    if split == 'train':
      return train
    t2 = []
    for n, count in T2_PER_POLYPHONY.items():
      t2 += [p for p in train if len(p.split('_')[2:]) == n][:count]
    return ([p for p in train if p in t2] if split == 'train_t2'
            else [p for p in train if p not in t2])

  def audio_path(self, track_id: str) -> str:
    return os.path.join(self.root, track_id, f'AuMix_{track_id}.wav')

  def f0_path(self, track_id: str, instrument: int) -> str:
    """The ``F0s_<instrument>_*.txt`` file of a piece (1-based index)."""
    folder = os.path.join(self.root, track_id)
    prefix = f'F0s_{instrument}_'
    found = sorted(f for f in os.listdir(folder)
                   if f.startswith(prefix) and f.endswith('.txt'))
    if not found:
      raise corpus.AnnotationError(
          f'URMP piece {track_id!r} has no {prefix}*.txt F0 file for '
          f'instrument {instrument} in {folder!r}.')
    return os.path.join(folder, found[0])

  def _annotation(self, track_id, audio, sample_rate) -> corpus.FramePitches:
    del audio, sample_rate
    n_instruments = len(track_id.split('_')[2:])
    times, columns = None, []
    for i in range(1, n_instruments + 1):
      path = self.f0_path(track_id, i)
      table = corpus.read_text_columns(path, 2, 'URMP F0 file')
      if times is None:
        times = table[:, 0]
      elif len(table) != len(times) or not np.allclose(table[:, 0], times):
        raise corpus.AnnotationError(
            f'URMP F0 file {path!r} has a different time grid from the '
            f'other instruments of {track_id!r}.')
      columns.append(table[:, 1])
    pitches = np.stack(columns, axis=1)  # [M, instruments]
    return corpus.FramePitches(times, [p[p != 0] for p in pitches])
