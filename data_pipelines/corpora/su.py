"""Su: Su & Yang's multi-pitch dataset of real chamber recordings.

Layout:

  <root>/audio/<track>_audio.wav       mixture
  <root>/gt_Note/<track>_note.txt      notes: onset (s), offset (s), f0 (Hz)
  <root>/gt_F0/ (unused)

Track names begin with the piece code, e.g. 'PQ02_Elgar'. Ground truth
(timbre-trap ``timbre_trap/datasets/MixedMultiPitch/Su.py``): one note per
line, whitespace-separated onset, offset and pitch in Hz (the last column);
notes are sampled on the estimate's frames.

Split: 'test' = the tracks of the ten pieces the papers evaluate (prefixes
PQ02, PQ03, PS01, PS02, PS03, SQ01, SQ02, SQ03, VS01, VS04).
"""

from __future__ import annotations

import os

from data_pipelines import corpus

PIECES = ('PQ02', 'PQ03', 'PS01', 'PS02', 'PS03', 'SQ01', 'SQ02', 'SQ03',
          'VS01', 'VS04')
_AUDIO_SUFFIX = '_audio.wav'


class Su(corpus.FileCorpus):
  """Su dataset mixtures with note ground truth."""

  name = 'su'
  title = 'Su'
  splits = ('test',)
  annotated = True
  url = ("the authors of Su & Yang, 'Escaping from the abyss of manual "
         "annotation', CMMR 2015")

  def _track_ids(self, split: str) -> list[str]:
    del split
    audio_dir = self._require(os.path.join(self.root, 'audio'),
                              'audio folder')
    names = sorted(f[:-len(_AUDIO_SUFFIX)] for f in os.listdir(audio_dir)
                   if f.endswith(_AUDIO_SUFFIX))
    return [n for n in names if n.startswith(PIECES)]

  def audio_path(self, track_id: str) -> str:
    return os.path.join(self.root, 'audio', f'{track_id}{_AUDIO_SUFFIX}')

  def ground_truth_path(self, track_id: str) -> str:
    return os.path.join(self.root, 'gt_Note', f'{track_id}_note.txt')

  def _annotation(self, track_id, audio, sample_rate) -> corpus.Notes:
    del audio, sample_rate
    table = corpus.read_text_columns(self.ground_truth_path(track_id), 3,
                                     'Su note file')
    return corpus.Notes(table[:, 0], table[:, 1], table[:, 2])
