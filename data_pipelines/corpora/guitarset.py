"""GuitarSet: 360 solo-guitar excerpts by six players, hexaphonic pitch
annotations.

Layout:

  <root>/annotation/00_BN1-129-Eb_comp.jams       JAMS annotations
  <root>/audio_mono-mic/00_BN1-129-Eb_comp_mic.wav  mono microphone (44.1 kHz)
  <root>/audio_hex-pickup_*/, audio_mono-pickup_mix/ (unused)

The first two characters of a track name are the player (00..05).

Ground truth (timbre-trap ``timbre_trap/datasets/SoloMultiPitch/GuitarSet.py``):
the six ``pitch_contour``
annotations (one per string) of the JAMS file. Every observation is
snapped to the nearest point (ties to the earlier one) of the uniform grid
``n * 256 / 44100`` s, n = 0 .. ceil(duration / hop) (duration from the
file metadata); unvoiced or 0-Hz observations are dropped. Training targets
take the first grid frame outside the annotated range at both ends.

Splits: 'train' = players 00-04, 'valid' = player 05 (the ISMIR-2025
validation set), 'test' = all players (the papers' GuitarSet evaluation).
"""

from __future__ import annotations

import json
import os

import numpy as np

from data_pipelines import corpus

GRID_HOP_S = 256 / 44100
PLAYERS = {'train': ('00', '01', '02', '03', '04'), 'valid': ('05',),
           'test': ('00', '01', '02', '03', '04', '05')}


def snap_to_grid(obs_times: np.ndarray, grid: np.ndarray) -> np.ndarray:
  """Index of the nearest grid time of each observation (ties -> earlier)."""
  right = np.clip(np.searchsorted(grid, obs_times, side='left'), 0,
                  len(grid) - 1)
  left = np.clip(right - 1, 0, len(grid) - 1)
  use_left = np.abs(obs_times - grid[left]) <= np.abs(grid[right] - obs_times)
  return np.where(use_left, left, right)


def _observations(data) -> list[tuple[float, dict]]:
  """(time, value) pairs of a JAMS annotation's ``data``, in either on-disk
  form: a list of observation objects, or an object of columns."""
  if isinstance(data, dict):
    return list(zip(data['time'], data['value']))
  return [(o['time'], o['value']) for o in data]


def load_pitch_contours(path: str) -> corpus.FramePitches:
  """The multi-pitch grid of a GuitarSet JAMS file (see module docstring).

  The file is read as JSON (JAMS is JSON): the ``pitch_contour``
  annotations, whose values are ``{'index', 'frequency', 'voiced'}``, and
  ``file_metadata.duration``.

  Raises:
    corpus.AnnotationError: missing or unreadable file (names it).
  """
  if not os.path.isfile(path):
    raise corpus.AnnotationError(f'GuitarSet annotation not found: {path!r}.')
  try:
    with open(path, encoding='utf-8') as f:
      jam = json.load(f)
    duration = float(jam['file_metadata']['duration'])
    contours = [_observations(a['data']) for a in jam['annotations']
                if a['namespace'] == 'pitch_contour']
  except (OSError, ValueError, KeyError, TypeError) as error:
    raise corpus.AnnotationError(
        f'Cannot read GuitarSet annotation {path!r}: '
        f'{corpus.one_line(error)}.') from error
  n = int(np.ceil(duration / GRID_HOP_S)) + 1
  grid = GRID_HOP_S * np.arange(n)
  freqs: list[list[float]] = [[] for _ in range(n)]
  for observations in contours:
    keep = [(float(t), float(v['frequency'])) for t, v in observations
            if v.get('voiced', True) and float(v['frequency']) != 0]
    if not keep:
      continue
    times = np.array([t for t, _ in keep], dtype=np.float64)
    for i, (_, f) in zip(snap_to_grid(times, grid), keep):
      freqs[i].append(f)
  return corpus.FramePitches(grid, [np.asarray(f, np.float64) for f in freqs],
                             edges=(0, 0))


class GuitarSet(corpus.FileCorpus):
  """GuitarSet microphone recordings with JAMS pitch contours."""

  name = 'guitarset'
  title = 'GuitarSet'
  splits = ('train', 'valid', 'test')
  annotated = True
  url = 'https://zenodo.org/record/3371780'

  def _track_ids(self, split: str) -> list[str]:
    folder = self._require(os.path.join(self.root, 'annotation'),
                           'annotation folder')
    names = sorted(f[:-5] for f in os.listdir(folder) if f.endswith('.jams'))
    return [n for n in names if n[:2] in PLAYERS[split]]

  def audio_path(self, track_id: str) -> str:
    return os.path.join(self.root, 'audio_mono-mic', f'{track_id}_mic.wav')

  def annotation_path(self, track_id: str) -> str:
    return os.path.join(self.root, 'annotation', f'{track_id}.jams')

  def _annotation(self, track_id, audio, sample_rate) -> corpus.FramePitches:
    del audio, sample_rate
    return load_pitch_contours(self.annotation_path(track_id))
