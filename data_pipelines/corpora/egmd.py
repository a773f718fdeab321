"""E-GMD: the Expanded Groove MIDI Dataset (drum performances, 43 kits).

Layout (the ``e-gmd-v1.0.0`` folder of the download):

  <root>/e-gmd-v1.0.0.csv     drummer, session, id, style, bpm, beat_type,
                              time_signature, duration, split, midi_filename,
                              audio_filename, kit_name
  <root>/drummer1/session1/1_funk_80_beat_4-4_1.wav   (44.1 kHz)
  <root>/drummer1/session1/1_funk_80_beat_4-4_1.midi  (unused)

Audio only (ss-mpe ``ss_mpe/datasets/AudioMixtures/E_GMD.py``): the percussion
source mixed into
training excerpts. Splits 'train', 'valid', 'test' = the CSV's 'train',
'validation', 'test'.
"""

from __future__ import annotations

import csv
import os

from data_pipelines import corpus

METADATA = 'e-gmd-v1.0.0.csv'
_CSV_SPLIT = {'train': 'train', 'valid': 'validation', 'test': 'test'}


class EGMD(corpus.FileCorpus):
  """E-GMD drum recordings (audio only)."""

  name = 'egmd'
  title = 'E-GMD'
  splits = ('train', 'valid', 'test')
  annotated = False
  url = 'https://magenta.tensorflow.org/datasets/e-gmd'

  def _track_ids(self, split: str) -> list[str]:
    path = self._require(os.path.join(self.root, METADATA), 'metadata file')
    with open(path, newline='', encoding='utf-8') as f:
      rows = list(csv.DictReader(f))
    if rows and not {'split', 'audio_filename'} <= set(rows[0]):
      raise corpus.AnnotationError(
          f'E-GMD metadata {path!r} lacks the split/audio_filename columns.')
    return sorted(os.path.splitext(r['audio_filename'])[0] for r in rows
                  if r['split'] == _CSV_SPLIT[split])

  def audio_path(self, track_id: str) -> str:
    return os.path.join(self.root, f'{track_id}.wav')
