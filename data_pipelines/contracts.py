"""Batch contracts: which arrays a system's step reads, their dtypes and axes.

A batch is a dict of numpy arrays on the host (a pytree of jax arrays on the
device). Each system reads one contract (``for_system``); the training
pipeline (``pipeline.train_batches``, ``vocal.train_batches``) and the
validation batches (``batching.excerpt_batches``,
``vocal.validation_batches``) pass every batch through the same
``BatchContract.check``, so a batch that would reach a step with a missing
key, an unknown key, a wrong dtype or disagreeing axis sizes stops at the
seam with one line naming the key, instead of deep inside a jitted step.

Axes: ``B`` items, ``N`` samples, ``K`` bins of the salience grid, ``T``
frames. The train step may add keys of its own after the check (``teacher
[B, K, T]``, ``mpe_jax/teacher.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Mapping

import numpy as np

Batch = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Field:
  """One array of a batch: numpy dtype name, axis names, whether every batch
  carries it, and what it holds."""
  dtype: str
  axes: tuple[str, ...]
  required: bool
  doc: str


@dataclasses.dataclass(frozen=True)
class BatchContract:
  """The arrays a system's step reads (``fields``, by key)."""
  name: str
  fields: Mapping[str, Field]

  def requiring(self, *keys: str, name: str) -> BatchContract:
    """This contract with ``keys`` required."""
    fields = {k: (dataclasses.replace(f, required=True) if k in keys else f)
              for k, f in self.fields.items()}
    return BatchContract(name, fields)

  def check(self, batch: Mapping[str, np.ndarray], where: str = 'a batch'
            ) -> Mapping[str, np.ndarray]:
    """``batch`` unchanged when it fits; else one-line ``ValueError``."""
    missing = [k for k, f in self.fields.items()
               if f.required and k not in batch]
    unknown = sorted(set(batch) - set(self.fields))
    if missing or unknown:
      raise ValueError(f'{where} does not fit the {self.name!r} batch '
                       f'contract: missing {missing}, unknown {unknown} '
                       f'(expected {self.describe()}).')
    sizes: dict[str, tuple[int, str]] = {}
    for key, value in batch.items():
      field = self.fields[key]
      dtype = np.dtype(getattr(value, 'dtype', type(value)))
      if dtype != np.dtype(field.dtype):
        raise ValueError(f'{where}: {key!r} is {dtype}, the {self.name!r} '
                         f'contract says {field.dtype}.')
      shape = np.shape(value)
      if len(shape) != len(field.axes):
        raise ValueError(f'{where}: {key!r} has shape {shape}, the '
                         f'{self.name!r} contract says '
                         f'[{", ".join(field.axes)}].')
      for axis, size in zip(field.axes, shape):
        seen = sizes.setdefault(axis, (size, key))
        if seen[0] != size:
          raise ValueError(f'{where}: axis {axis} is {size} in {key!r} but '
                           f'{seen[0]} in {seen[1]!r} ({self.name!r} '
                           'contract).')
    return batch

  def checked(self, batches: Iterator[Batch], where: str
              ) -> Iterator[Batch]:
    """``batches``, each checked (``where``: what they are, for errors)."""
    for i, batch in enumerate(batches):
      yield self.check(batch, f'{where}, batch {i}')

  def describe(self) -> str:
    """``key dtype [axes]`` of every field, optional ones marked '?'."""
    return ', '.join(f'{k}{"" if f.required else "?"} {f.dtype} '
                     f'[{", ".join(f.axes)}]' for k, f in self.fields.items())


AUDIO_SALIENCE = BatchContract('audio_salience', {
    'audio': Field('float32', ('B', 'N'), True, 'mono excerpt in [-1, 1]'),
    'labels': Field('uint8', ('B', 'K', 'T'), True,
                    'multi-pitch ground truth on the salience grid (0 where '
                    'has_label is False)'),
    'has_label': Field('bool', ('B',), True, 'whether labels is ground truth'),
    'drums': Field('float32', ('B', 'N'), False,
                   'drum excerpt mixed in by the percussion term'),
    'label_confidence': Field('float32', ('B', 'T'), False,
                              'per-frame confidence of pseudo-labels'),
})
"""The HCQT and CQT systems: SS-MPE, ISMIR 2025, Timbre-Trap, MAJL on
multi-pitch (``objectives/salience.py``, ``timbre_trap.py``, ``majl.py``)."""

WITH_DRUMS = AUDIO_SALIENCE.requiring('drums', name='audio_salience+drums')
"""MAJL's separation cascade: every item also carries the drums to separate."""

VOCAL = BatchContract('vocal', {
    'mixture': Field('float32', ('B', 'N'), True, 'song excerpt (16 kHz)'),
    'vocals': Field('float32', ('B', 'N'), True, 'its vocal stem'),
    'labels': Field('uint8', ('B', 'K', 'T'), True, 'vocal f0 on the grid'),
    'has_stems': Field('bool', ('B',), True, 'whether vocals is a real stem'),
    'has_pitch': Field('bool', ('B',), True, 'whether labels is ground truth'),
    'confi_mss': Field('float32', ('B', 'T'), True,
                       'per-frame confidence of a separation pseudo-label'),
    'confi_pe': Field('float32', ('B', 'T'), True,
                      'per-frame confidence of a pitch pseudo-label'),
})
"""MAJL's singing-voice cascade (``objectives/majl_vocal.py``)."""

BY_SYSTEM: dict[str, BatchContract] = {
    'salience': AUDIO_SALIENCE,
    'timbre_trap': AUDIO_SALIENCE,
    'majl_salience': AUDIO_SALIENCE,
    'majl_separation': WITH_DRUMS,
    'majl_vocal': VOCAL,
}


def for_system(system: str) -> BatchContract:
  """The contract of ``config.system`` (one line for an unknown name)."""
  if system not in BY_SYSTEM:
    raise ValueError(f'no batch contract for system {system!r}; known: '
                     f'{sorted(BY_SYSTEM)}.')
  return BY_SYSTEM[system]
