"""Host batches: the iterator that owns a tf.data pipeline, and the split of
a batch among the sources of a mixture (``config.data.mixture``).

Shared by the training pipeline (``pipeline``) and the singing-voice
pipeline (``vocal``); ``excerpt_batches`` builds validation batches of the
same layout from evaluation tracks. Needs no TensorFlow.
"""

from __future__ import annotations

import weakref
from typing import Iterator

import ml_collections
import numpy as np

from data_pipelines import labels as labels_lib

Batch = dict[str, np.ndarray]


class BatchIterator(Iterator[Batch]):
  """Iterator over numpy batches that owns a tf.data iterator.

  The tf.data iterator is released on ``close()``, on garbage collection, or
  at interpreter exit at the latest (``weakref.finalize``): a tf.data
  iterator with ``tf.numpy_function`` stages that is still alive while Python
  shuts down can hang the exit.
  """

  def __init__(self, iterator: Iterator[Batch]):
    self._holder = [iterator]
    self._finalizer = weakref.finalize(self, self._holder.clear)

  def __iter__(self) -> BatchIterator:
    return self

  def __next__(self) -> Batch:
    if not self._holder:
      raise StopIteration
    return next(self._holder[0])

  def close(self) -> None:
    """Releases the underlying tf.data iterator (idempotent)."""
    self._finalizer()



def mixture_counts(config: ml_collections.ConfigDict,
                   local_batch: int) -> list[tuple[str, int, bool]]:
  """(source name, items per host batch, use labels) of a mixture config.

  Raises:
    ValueError: mismatched or empty ``config.data.mixture`` tuples, a
      non-positive proportion, or shares that are not whole items.
  """
  mix = config.data.mixture
  names = tuple(mix.sources)
  proportions = tuple(float(p) for p in mix.proportions)
  use_labels = tuple(bool(u) for u in mix.use_labels)
  if not names or not len(names) == len(proportions) == len(use_labels):
    raise ValueError(
        'config.data.mixture.sources, .proportions and .use_labels must be '
        f'non-empty and of equal length; got {len(names)}, '
        f'{len(proportions)} and {len(use_labels)} entries.')
  if min(proportions) <= 0:
    raise ValueError(f'config.data.mixture.proportions={proportions} must all '
                     'be > 0.')
  total = sum(proportions)
  counts = [local_batch * p / total for p in proportions]
  if any(abs(c - round(c)) > 1e-6 or round(c) < 1 for c in counts):
    raise ValueError(
        f'config.data.mixture.proportions={proportions} split the per-host '
        f'batch of {local_batch} into {[round(c, 3) for c in counts]} items; '
        'each share must be a whole number >= 1.')
  return [(n, int(round(c)), u) for n, c, u in zip(names, counts, use_labels)]


def excerpt_batches(tracks: list, n_samples: int, chunk: int,
                     hcqt_cfg: ml_collections.ConfigDict
                     ) -> list[dict[str, np.ndarray]]:
  """The first ``n_samples`` of every track (zero-padded) in batches of at
  most ``chunk`` items (the last batch may be smaller), with the tracks'
  references as label grids and silent drums (the keys of the training
  pipeline's batches): the validation batches of the HCQT systems."""
  n_frames = 1 + n_samples // hcqt_cfg.hop_length
  out = []
  for c0 in range(0, len(tracks), chunk):
    part = tracks[c0:c0 + chunk]
    audio = np.zeros((len(part), n_samples), np.float32)
    grid = np.zeros((len(part), hcqt_cfg.n_bins, n_frames), np.uint8)
    for i, t in enumerate(part):
      x = t.audio[:n_samples]
      audio[i, :len(x)] = x
      grid[i] = labels_lib.multipitch_to_grid(
          t.ref_times, t.ref_freqs, n_frames, hop_length=hcqt_cfg.hop_length,
          sample_rate=hcqt_cfg.sample_rate, fmin=hcqt_cfg.fmin,
          bins_per_octave=hcqt_cfg.bins_per_octave, n_bins=hcqt_cfg.n_bins)
    out.append({'audio': audio, 'labels': grid,
                'has_label': np.ones((len(part),), bool),
                'drums': np.zeros_like(audio)})
  return out
