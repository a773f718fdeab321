"""The Philharmonia Orchestra samples in the layout of
``github:jurihock/philharmonia`` (commit ff9c419b038973daee19238213bf4968c959c454):

    <root>/data/data.csv
    <root>/data/<family>/<instrument>/<instrument>_<note><octave>_<length>_<dynamic>_<style>.mp3

``data.csv`` has one row per file: ``,file,filename,filesize,family,
instrument,note,octave,pitch,length,dynamic,style`` (``file`` relative to
``data/``; ``note`` with '#' for sharps; no note for unpitched percussion;
``length`` 025, 05, 1, 15 seconds or long, very-long, phrase). Terms of the
samples (Philharmonia Orchestra): free to use in your own work, not to be
sold or redistributed as samples.
"""

from __future__ import annotations

import collections
import csv
import os

from data_pipelines.real_samples import library

# Files that are not one note: phrases, and styles that move between
# pitches (trills, glissandi, slurs between notes).
NOT_ONE_NOTE_LENGTHS = ('phrase',)
NOT_ONE_NOTE_STYLES = ('trill', 'gliss', 'slur', 'arpeg', 'harmonic')

SOURCE = ('github:jurihock/philharmonia at '
          'ff9c419b038973daee19238213bf4968c959c454')
NAME = 'philharmonia'


def data_dir(root: str) -> str:
  """The folder holding ``data.csv`` (``root`` itself or ``root/data``).

  Raises:
    library.LibraryError: neither holds ``data.csv``.
  """
  for folder in (os.path.join(root, 'data'), root):
    if os.path.isfile(os.path.join(folder, 'data.csv')):
      return folder
  raise library.LibraryError(
      f'{root}: no data/data.csv: not a copy of the Philharmonia samples '
      f'(get {SOURCE}).')


def read(root: str) -> tuple[list[library.Sample], collections.Counter]:
  """The pitched notes of the library, and what was left out and why.

  Returns:
    (samples, dropped): ``dropped`` counts 'unpitched' (no note in
    ``data.csv``), 'not one note' (phrases, trills, glissandi, slurs,
    arpeggios, harmonics), 'empty' (a 0-byte file) and 'missing' (listed,
    not on disk) files.

  Raises:
    library.LibraryError: no ``data.csv`` under ``root``, or one without
      the expected columns.
  """
  folder = data_dir(root)
  samples, dropped = [], collections.Counter()
  with open(os.path.join(folder, 'data.csv'), newline='',
            encoding='utf-8') as f:
    reader = csv.DictReader(f)
    needed = {'file', 'family', 'instrument', 'note', 'octave', 'length',
              'dynamic', 'style'}
    if not needed <= set(reader.fieldnames or ()):
      raise library.LibraryError(
          f'{folder}/data.csv: missing columns '
          f'{sorted(needed - set(reader.fieldnames or ()))} ({SOURCE}).')
    for row in reader:
      path = os.path.join(folder, row['file'])
      if not row['note']:
        dropped['unpitched'] += 1
        continue
      style = row['style'].lower()
      if row['length'] in NOT_ONE_NOTE_LENGTHS or any(
          word in style for word in NOT_ONE_NOTE_STYLES):
        dropped['not one note'] += 1
        continue
      if not os.path.exists(path):
        dropped['missing'] += 1
        continue
      if os.path.getsize(path) == 0:
        dropped['empty'] += 1
        continue
      midi = library.note_to_midi(
          f'{row["note"]}{int(float(row["octave"]))}')
      samples.append(library.Sample(
          path=path, library=NAME, instrument=row['instrument'],
          family=row['family'], midi=midi,
          velocity=library.DYNAMIC_VELOCITY.get(row['dynamic'], (1, 127)),
          dynamic=row['dynamic'], length=row['length'],
          articulation=row['style'], key_range=(midi, midi)))
  return samples, dropped
