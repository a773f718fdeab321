"""FMA: the Free Music Archive dataset (MP3 clips, audio only).

Layout (the extracted ``fma_metadata.zip`` and one ``fma_<size>.zip``):

  <root>/fma_metadata/tracks.csv     three header rows; columns used:
                                     ('set', 'split') and ('set', 'subset')
  <root>/fma_large/000/000002.mp3    '<first 3 digits>/<6-digit id>.mp3'
                                     (44.1 kHz stereo MP3, 30-s clips; full
                                     tracks in fma_full)

The audio folder is the largest of fma_full, fma_large, fma_medium,
fma_small present; its tracks are those whose ``('set', 'subset')`` is that
size or smaller (small is part of medium, medium of large; full holds every
track).

Audio only. Splits 'train', 'valid', 'test' = the metadata's 'training',
'validation', 'test'; 'all' = every track of the subset (the reference uses
all genres, i.e. every track).
"""

from __future__ import annotations

import csv
import functools
import os

from data_pipelines import corpus

SIZES = ('small', 'medium', 'large', 'full')  # nested subsets
_CSV_SPLIT = {'train': 'training', 'valid': 'validation', 'test': 'test'}


class FMA(corpus.FileCorpus):
  """FMA audio clips of one subset (audio only)."""

  name = 'fma'
  title = 'FMA'
  splits = ('train', 'valid', 'test', 'all')
  annotated = False
  url = 'https://github.com/mdeff/fma'

  @functools.cached_property
  def size(self) -> str:
    """The largest subset whose audio folder is present."""
    for size in reversed(SIZES):
      if os.path.isdir(os.path.join(self.root, f'fma_{size}')):
        return size
    raise corpus.DatasetNotFoundError(
        f'FMA (fma) under {self.root!r} has no audio folder fma_small, '
        'fma_medium, fma_large or fma_full; see docs/datasets.md.')

  def _metadata(self) -> list[tuple[str, str, str]]:
    """(track id, split, subset) of every metadata row."""
    path = self._require(os.path.join(self.root, 'fma_metadata', 'tracks.csv'),
                         'metadata file')
    with open(path, newline='', encoding='utf-8') as f:
      reader = csv.reader(f)
      try:
        top, sub, _ = next(reader), next(reader), next(reader)
      except StopIteration as error:
        raise corpus.AnnotationError(
            f'FMA metadata {path!r} lacks its three header rows.') from error
      columns = list(zip(top, sub))
      try:
        i_split = columns.index(('set', 'split'))
        i_subset = columns.index(('set', 'subset'))
      except ValueError as error:
        raise corpus.AnnotationError(
            f"FMA metadata {path!r} lacks the ('set', 'split') and "
            "('set', 'subset') columns.") from error
      return [(f'{int(row[0]):06d}', row[i_split], row[i_subset])
              for row in reader if row]

  def _track_ids(self, split: str) -> list[str]:
    size = self.size
    allowed = set(SIZES[:SIZES.index(size) + 1])
    return sorted(i for i, s, subset in self._metadata()
                  if (subset in allowed or size == 'full')
                  and (split == 'all' or s == _CSV_SPLIT[split]))

  def audio_path(self, track_id: str) -> str:
    return os.path.join(self.root, f'fma_{self.size}', track_id[:3],
                        f'{track_id}.mp3')
