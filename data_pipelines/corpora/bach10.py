"""Bach10: ten four-part J.S. Bach chorales (violin, clarinet, saxophone,
bassoon).

Layout (one folder per piece):

  <root>/01-AchGottundHerr/01-AchGottundHerr.wav          mixture (44.1 kHz)
  <root>/01-AchGottundHerr/01-AchGottundHerr-GTF0s.mat    frame-level truth
  <root>/01-AchGottundHerr/01-AchGottundHerr-<instrument>.wav, -GTNotes.mat,
      .mid, .txt (unused)

Ground truth (as timbre-trap's
``timbre_trap/datasets/MixedMultiPitch/Bach10.py`` reads it): MATLAB file
with the variable ``GTF0s``, a [4 voices, M frames] array of MIDI pitches
(0 = silent), frame n at 0.023 + 0.010 n seconds.

Split: 'test' = all 10 pieces.
"""

from __future__ import annotations

import os
import re

import numpy as np

from data_pipelines import corpus

FIRST_FRAME_S = 0.023
HOP_S = 0.010
_PIECE = re.compile(r'^\d\d-.+$')


class Bach10(corpus.FileCorpus):
  """Bach10 mixtures with GTF0s ground truth."""

  name = 'bach10'
  title = 'Bach10'
  splits = ('test',)
  annotated = True
  url = 'https://labsites.rochester.edu/air/resource.html'

  def _track_ids(self, split: str) -> list[str]:
    del split
    pieces = sorted(d for d in os.listdir(self.root) if _PIECE.match(d)
                    and os.path.isdir(os.path.join(self.root, d)))
    if not pieces:
      raise corpus.DatasetNotFoundError(
          f'Bach10 (bach10) directory {self.root!r} holds no piece folders '
          "like '01-AchGottundHerr'.")
    return pieces

  def audio_path(self, track_id: str) -> str:
    return os.path.join(self.root, track_id, f'{track_id}.wav')

  def ground_truth_path(self, track_id: str) -> str:
    return os.path.join(self.root, track_id, f'{track_id}-GTF0s.mat')

  def _annotation(self, track_id, audio, sample_rate) -> corpus.FramePitches:
    del audio, sample_rate
    import scipy.io  # pylint: disable=g-import-not-at-top
    path = self.ground_truth_path(track_id)
    if not os.path.isfile(path):
      raise corpus.AnnotationError(f'Bach10 ground truth not found: {path!r}.')
    try:
      midi = np.asarray(scipy.io.loadmat(path)['GTF0s'], dtype=np.float64)
    except KeyError as error:
      raise corpus.AnnotationError(
          f'Bach10 ground truth {path!r} has no variable GTF0s.') from error
    except Exception as error:  # pylint: disable=broad-except
      raise corpus.AnnotationError(
          f'Cannot read Bach10 ground truth {path!r}: '
          f'{corpus.one_line(error)}.') from error
    if midi.ndim != 2:
      raise corpus.AnnotationError(
          f'Bach10 ground truth {path!r}: GTF0s has shape {midi.shape}, '
          'expected [voices, frames].')
    times = FIRST_FRAME_S + HOP_S * np.arange(midi.shape[1])
    return corpus.FramePitches(
        times, [corpus.midi_to_hz(p[p != 0]) for p in midi.T])
