"""MusicNet: 330 classical recordings with aligned note labels.

Layout (the ``musicnet`` folder of the download):

  <root>/train_data/<id>.wav      recordings (44.1 kHz)
  <root>/train_labels/<id>.csv    notes
  <root>/test_data/<id>.wav
  <root>/test_labels/<id>.csv

Ground truth (timbre-trap ``timbre_trap/datasets/Common/MusicNet.py``): CSV
with a header row
(start_time, end_time, instrument, note, start_beat, end_beat, note_value);
columns 0, 1 and 3 are the onset and offset in samples at 44.1 kHz and the
MIDI note.

Splits: 'train' (320 recordings) and 'test' (10), as distributed.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from data_pipelines import corpus

LABEL_SAMPLE_RATE = 44100  # Hz of the CSV sample positions


class MusicNet(corpus.FileCorpus):
  """MusicNet recordings with CSV note labels."""

  name = 'musicnet'
  title = 'MusicNet'
  splits = ('train', 'test')
  annotated = True
  url = 'https://zenodo.org/record/5120004'

  def _track_ids(self, split: str) -> list[str]:
    folder = self._require(os.path.join(self.root, f'{split}_data'),
                           f'{split}_data folder')
    return sorted(f[:-4] for f in os.listdir(folder) if f.endswith('.wav'))

  def _split_of(self, track_id: str) -> str:
    for split in self.splits:
      if os.path.exists(os.path.join(self.root, f'{split}_data',
                                     f'{track_id}.wav')):
        return split
    return 'train'

  def audio_path(self, track_id: str) -> str:
    return os.path.join(self.root, f'{self._split_of(track_id)}_data',
                        f'{track_id}.wav')

  def ground_truth_path(self, track_id: str) -> str:
    return os.path.join(self.root, f'{self._split_of(track_id)}_labels',
                        f'{track_id}.csv')

  def _annotation(self, track_id, audio, sample_rate) -> corpus.Notes:
    del audio, sample_rate
    path = self.ground_truth_path(track_id)
    if not os.path.isfile(path):
      raise corpus.AnnotationError(f'MusicNet labels not found: {path!r}.')
    rows = []
    with open(path, newline='', encoding='utf-8') as f:
      reader = csv.reader(f)
      header = next(reader, None)
      if header is None:
        raise corpus.AnnotationError(f'MusicNet labels {path!r} are empty.')
      for row in reader:
        if not row:
          continue
        try:
          rows.append((int(row[0]), int(row[1]), int(row[3])))
        except (IndexError, ValueError) as error:
          raise corpus.AnnotationError(
              f'MusicNet labels {path!r} line {reader.line_num} is not '
              f'start,end,instrument,note,...: {",".join(row)!r}.') from error
    table = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    return corpus.Notes(table[:, 0] / LABEL_SAMPLE_RATE,
                        table[:, 1] / LABEL_SAMPLE_RATE,
                        corpus.midi_to_hz(table[:, 2]))
