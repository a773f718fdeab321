"""TRIOS: five score-aligned chamber trios (Fritsch's TRIOS dataset).

Layout (the ``TRIOS Dataset`` folder of the download):

  <root>/brahms/mix.wav                      mixture
  <root>/brahms/horn.mid, piano.mid, violin.mid   per-instrument scores
  <root>/brahms/horn.wav, ...                stems (unused)
  <root>/lussier/ mozart/ schubert/ take_five/

Ground truth (timbre-trap ``timbre_trap/datasets/MixedMultiPitch/TRIOS.py``):
the notes of every pitched
instrument's MIDI file (horn, piano, violin, bassoon, trumpet, clarinet,
viola, cello, saxophone; the drum parts of 'take_five' are left out), read
with the sustain-pedal rule of ``data_pipelines.midi``.

Split: 'test' = all five pieces.
"""

from __future__ import annotations

import os

import numpy as np

from data_pipelines import corpus
from data_pipelines import midi

PIECES = ('brahms', 'lussier', 'mozart', 'schubert', 'take_five')
PITCHED_INSTRUMENTS = ('horn', 'piano', 'violin', 'bassoon', 'trumpet',
                       'clarinet', 'viola', 'cello', 'saxophone')


class TRIOS(corpus.FileCorpus):
  """TRIOS mixtures with MIDI note ground truth of the pitched parts."""

  name = 'trios'
  title = 'TRIOS'
  splits = ('test',)
  annotated = True
  url = 'https://zenodo.org/record/6797837'

  def _track_ids(self, split: str) -> list[str]:
    del split
    for piece in PIECES:
      self._require(os.path.join(self.root, piece), 'piece folder')
    return list(PIECES)

  def audio_path(self, track_id: str) -> str:
    return os.path.join(self.root, track_id, 'mix.wav')

  def midi_paths(self, track_id: str) -> list[str]:
    """The MIDI files of the pitched instruments of a piece (sorted)."""
    folder = os.path.join(self.root, track_id)
    names = sorted(f for f in os.listdir(folder) if f.endswith('.mid')
                   and f[:-4] in PITCHED_INSTRUMENTS)
    if not names:
      raise corpus.AnnotationError(
          f'TRIOS piece folder {folder!r} has no MIDI file of a pitched '
          f'instrument ({", ".join(PITCHED_INSTRUMENTS)}).')
    return [os.path.join(folder, n) for n in names]

  def _annotation(self, track_id, audio, sample_rate) -> corpus.Notes:
    del audio, sample_rate
    parts = []
    for path in self.midi_paths(track_id):
      try:
        parts.append(midi.read_notes(path))
      except midi.MidiError as error:
        raise corpus.AnnotationError(str(error)) from error
    return corpus.Notes(
        np.concatenate([p.onsets for p in parts]),
        np.concatenate([p.offsets for p in parts]),
        corpus.midi_to_hz(np.concatenate([p.pitches for p in parts])))
