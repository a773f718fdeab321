"""Each sample's pitch, measured once and stored.

``measure_all(samples, store)`` measures every sample (``pitch.measure``:
its start, its f0 per frame, its distance from its name) and keeps the
results in ``store`` (a ``.npz`` file), keyed by the file's path, size and
modification time, so a second call measures only what is new or changed.
It returns the kept notes and the count of dropped ones by reason.
"""

from __future__ import annotations

import collections
import json
import os
from typing import Any, Sequence

import numpy as np

from data_pipelines import audio as audio_lib
from data_pipelines.real_samples import library
from data_pipelines.real_samples import pitch

FORMAT = 1


def _key(sample: library.Sample) -> str:
  stat = os.stat(sample.path)
  return json.dumps([FORMAT, os.path.abspath(sample.path), stat.st_size,
                     int(stat.st_mtime), sample.offset, sample.midi,
                     sample.tune_cents])


def _load(store: str) -> dict[str, dict[str, Any]]:
  try:
    with np.load(store, allow_pickle=False) as data:
      index = json.loads(str(data['index']))
      return {key: dict(row, f0=data[f'f0_{i}'])
              for i, (key, row) in enumerate(index.items())}
  except (OSError, KeyError, ValueError):
    return {}  # missing or unreadable: measured again


def _save(store: str, entries: dict[str, dict[str, Any]]) -> None:
  index, arrays = {}, {}
  for i, (key, row) in enumerate(entries.items()):
    index[key] = {k: v for k, v in row.items() if k != 'f0'}
    arrays[f'f0_{i}'] = np.asarray(row['f0'], np.float32)
  folder = os.path.dirname(os.path.abspath(store))
  os.makedirs(folder, exist_ok=True)
  tmp = store + '.part.npz'
  np.savez(tmp, index=np.asarray(json.dumps(index)), **arrays)
  os.replace(tmp, store)  # whole or not at all


def measure_all(samples: Sequence[library.Sample], store: str, *,
                rate: int = 22050, hop: int = 256, progress: Any = None
                ) -> tuple[list[tuple[library.Sample, pitch.Measured]],
                           collections.Counter]:
  """Measures ``samples`` (those in ``store`` are read back).

  Returns:
    (kept, dropped): the pitched notes within ``pitch.MAX_CENTS`` of their
    name with their measurement, and the count of the others by reason
    ('unpitched', 'off pitch', 'unreadable'; release samples and samples
    without a name are not measured and not counted).
  """
  entries = _load(store)
  kept, dropped, changed = [], collections.Counter(), False
  for sample in samples:
    if progress is not None:
      progress.update(1)
    if sample.release or sample.midi is None:
      continue
    key = _key(sample)
    row = entries.get(key)
    if row is None:
      try:
        audio = audio_lib.load_audio(sample.path, rate)[sample.offset:]
      except audio_lib.AudioError:
        dropped['unreadable'] += 1
        continue
      got = pitch.measure(audio, rate, sample.midi + sample.tune_cents / 100,
                          hop=hop)
      row = entries[key] = {'start': got.start, 'rate': rate, 'hop': hop,
                            'cents': got.cents, 'voiced': got.voiced,
                            'verdict': got.verdict, 'f0': got.f0}
      changed = True
    measured = pitch.Measured(int(row['start']), int(row['rate']),
                              int(row['hop']), np.asarray(row['f0'],
                                                          np.float64),
                              float(row['cents']), float(row['voiced']),
                              str(row['verdict']))
    if measured.kept:
      kept.append((sample, measured))
    else:
      dropped['unpitched' if measured.verdict.startswith('unpitched')
              else 'off pitch'] += 1
  if changed:
    _save(store, entries)
  return kept, dropped
