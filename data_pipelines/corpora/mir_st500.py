"""MIR-ST500: 500 Chinese pop songs with note labels of the singing voice
(pitch labels only; no stems).

Layout (github.com/york135/singing_transcription_ICASSP2021: the labels in
``MIR-ST500_20210206/``, the audio fetched from the listed YouTube links by
its ``get_youtube.py``):

  <root>/MIR-ST500_corrected.json   {"<id>": [[onset s, offset s, MIDI], ...]}
  <root>/train/<id>/Mixture.mp3      songs 1 .. 400
  <root>/test/<id>/Mixture.mp3       songs 401 .. 500

Splits: the dataset's own, 'train' = songs 1..400 and 'test' = 401..500,
each listing the songs whose audio folder exists (YouTube links die; missing
songs are left out); 'all' = both. ``Mixture.wav`` is read where there is no
``Mixture.mp3``.

Ground truth: the notes of the JSON entry, in seconds and (score) MIDI
numbers, converted to Hz, as ``Notes``: a label frame at time t carries the
pitch of the note with onset <= t < offset, unvoiced elsewhere. A song
without an entry, or an entry that is not a list of ``[onset, offset,
pitch]`` with onset < offset and pitch > 0, is a one-line
``AnnotationError``.
"""

from __future__ import annotations

import json
import os

import numpy as np

from data_pipelines import corpus

LABEL_FILE = 'MIR-ST500_corrected.json'
TRAIN_IDS = range(1, 401)
TEST_IDS = range(401, 501)


class MIRST500(corpus.FileCorpus):
  """MIR-ST500 songs: the mixture and note labels of its vocal line."""

  name = 'mir_st500'
  title = 'MIR-ST500'
  splits = ('train', 'test', 'all')
  annotated = True
  url = 'https://github.com/york135/singing_transcription_ICASSP2021'

  def __init__(self, root):
    super().__init__(root)
    self._labels: dict | None = None

  def labels(self) -> dict:
    """The parsed label file (cached).

    Raises:
      corpus.DatasetNotFoundError: no label file.
      corpus.AnnotationError: unreadable JSON or not a mapping.
    """
    if self._labels is None:
      path = self._require(os.path.join(self.root, LABEL_FILE),
                           'label file')
      try:
        with open(path, encoding='utf-8') as f:
          labels = json.load(f)
      except (OSError, ValueError) as error:
        raise corpus.AnnotationError(
            f'MIR-ST500 label file {path!r} is not readable JSON: '
            f'{corpus.one_line(error)}.') from error
      if not isinstance(labels, dict):
        raise corpus.AnnotationError(f'MIR-ST500 label file {path!r} is not '
                                     'a mapping of song id to notes.')
      self._labels = labels
    return self._labels

  def _song_ids(self, split: str) -> list[str]:
    folder = self._require(os.path.join(self.root, split), f'{split} folder')
    ids = TRAIN_IDS if split == 'train' else TEST_IDS
    present = set(os.listdir(folder))
    return [f'{split}/{i}' for i in ids if str(i) in present]

  def _track_ids(self, split: str) -> list[str]:
    self.labels()
    if split == 'all':
      return self._song_ids('train') + self._song_ids('test')
    songs = self._song_ids(split)
    if not songs:
      raise corpus.DatasetNotFoundError(
          f'MIR-ST500 (mir_st500) folder '
          f'{os.path.join(self.root, split)!r} holds no song folders '
          "('<id>/Mixture.mp3'); see docs/datasets.md.")
    return songs

  def audio_path(self, track_id: str) -> str:
    mp3 = os.path.join(self.root, track_id, 'Mixture.mp3')
    wav = os.path.join(self.root, track_id, 'Mixture.wav')
    return wav if not os.path.exists(mp3) and os.path.exists(wav) else mp3

  def pitch_annotation(self, track_id: str) -> corpus.Notes:
    """The song's notes (onsets, offsets in s, pitches in Hz)."""
    song = track_id.split('/')[-1]
    path = os.path.join(self.root, LABEL_FILE)
    notes = self.labels().get(song)
    if notes is None:
      raise corpus.AnnotationError(f'MIR-ST500 label file {path!r} has no '
                                   f'entry for song {song!r}.')
    try:
      table = np.asarray(notes, np.float64).reshape(-1, 3)
    except (TypeError, ValueError) as error:
      raise corpus.AnnotationError(
          f'MIR-ST500 label file {path!r}: song {song!r} is not a list of '
          '[onset, offset, pitch] notes.') from error
    bad = ~((table[:, 0] >= 0) & (table[:, 0] < table[:, 1])
            & (table[:, 2] > 0))
    if bad.any():
      raise corpus.AnnotationError(
          f'MIR-ST500 label file {path!r}: song {song!r} note '
          f'{int(np.flatnonzero(bad)[0])} {table[bad][0].tolist()} needs '
          '0 <= onset < offset and pitch > 0.')
    return corpus.Notes(table[:, 0], table[:, 1],
                        corpus.midi_to_hz(table[:, 2]))

  def _annotation(self, track_id, audio, sample_rate) -> corpus.Notes:
    del audio, sample_rate
    return self.pitch_annotation(track_id)
