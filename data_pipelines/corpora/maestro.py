"""MAESTRO v3: piano performances with aligned MIDI (Disklavier captures).

Layout (the ``maestro-v3.0.0`` folder of the download):

  <root>/maestro-v3.0.0.csv     canonical_composer, canonical_title, split,
                                year, midi_filename, audio_filename, duration
  <root>/2004/MIDI-Unprocessed_..._wav--1.wav     (44.1 or 48 kHz, stereo)
  <root>/2004/MIDI-Unprocessed_..._wav--1.midi

Ground truth (timbre-trap ``timbre_trap/datasets/SoloMultiPitch/MAESTRO.py``):
the notes of the ``.midi`` file next
to the audio, read with the sustain-pedal rule of ``data_pipelines.midi``.

Splits: 'train' and 'test' as in the CSV; 'valid' = 10 tracks of the CSV's
'validation' split drawn with a fixed seed, of which evaluation uses the
first 30 s (the ISMIR-2025 validation set).
"""

from __future__ import annotations

import csv
import os

import numpy as np

from data_pipelines import corpus
from data_pipelines import midi

METADATA = 'maestro-v3.0.0.csv'
VALID_TRACKS = 10
VALID_SECONDS = 30.0
VALID_SEED = 0
_CSV_SPLIT = {'train': 'train', 'valid': 'validation', 'test': 'test'}


class MAESTRO(corpus.FileCorpus):
  """MAESTRO v3 piano recordings with sustain-extended MIDI notes."""

  name = 'maestro'
  title = 'MAESTRO'
  splits = ('train', 'valid', 'test')
  annotated = True
  url = 'https://magenta.tensorflow.org/datasets/maestro'
  eval_seconds = {'valid': VALID_SECONDS}

  def _rows(self) -> list[dict[str, str]]:
    path = self._require(os.path.join(self.root, METADATA), 'metadata file')
    with open(path, newline='', encoding='utf-8') as f:
      rows = list(csv.DictReader(f))
    if rows and not {'split', 'audio_filename'} <= set(rows[0]):
      raise corpus.AnnotationError(
          f'MAESTRO metadata {path!r} lacks the split/audio_filename columns.')
    return rows

  def _track_ids(self, split: str) -> list[str]:
    names = sorted(os.path.splitext(r['audio_filename'])[0]
                   for r in self._rows() if r['split'] == _CSV_SPLIT[split])
    if split == 'valid' and len(names) > VALID_TRACKS:
      rng = np.random.default_rng(VALID_SEED)
      pick = sorted(rng.choice(len(names), VALID_TRACKS, replace=False))
      names = [names[i] for i in pick]
    return names

  def audio_path(self, track_id: str) -> str:
    return os.path.join(self.root, f'{track_id}.wav')

  def midi_path(self, track_id: str) -> str:
    return os.path.join(self.root, f'{track_id}.midi')

  def _annotation(self, track_id, audio, sample_rate) -> corpus.Notes:
    del audio, sample_rate
    try:
      notes = midi.read_notes(self.midi_path(track_id))
    except midi.MidiError as error:
      raise corpus.AnnotationError(str(error)) from error
    return corpus.Notes(notes.onsets, notes.offsets,
                        corpus.midi_to_hz(notes.pitches))
