"""Pseudo-labelled items on disk and the Stage-II source that reads them.

``python -m mpe_jax.pseudo_label`` labels items of a training source with a
trained model and writes them here; ``'pseudo_labels/train'`` (a mixture
source, ``config.data.pseudo_label_dir``) trains on them.

A dataset folder holds:

* ``manifest.json``: ``format_version``; ``settings`` (what the items are:
  source name and seed, number of items and items per shard, checkpoint step
  folder, step and system, the label grid ``sample_rate``, ``hop_length``,
  ``fmin``, ``bins_per_octave``, ``n_bins``, the excerpt length
  ``excerpt_samples`` / ``excerpt_seconds`` / ``n_frames``, and the peak
  ``threshold``); ``shards`` (file names); ``complete``; and, once complete,
  ``summary`` (``mean_confidence`` and ``confident_fraction``, the share of
  frames with confidence >= ``filter_threshold`` = 0.7).
* ``shard-00000.npy`` ...: one structured numpy array per shard, one record
  per item with fields ``audio`` (float32 ``[N]``), ``labels`` (the uint8
  ``[n_bins, T]`` label grid packed along bins with ``np.packbits``:
  ``[ceil(n_bins / 8), T]``) and ``confidence`` (float32 ``[T]``, MAJL Eq. 4).
  Shard k holds items ``k * shard_items ..``; shards are memory-mapped, so
  reading an item reads only its record.

Every file is written under a temporary name and renamed into place, so an
interrupted run leaves whole shards only and a rerun skips them.

The source walks the stored items like a corpus source walks tracks: item i
belongs to epoch ``e = i // n_items`` and is stored item ``perm_e[i %
n_items]``, ``perm_e`` a permutation drawn from (seed, source, e). Asked for
another excerpt length than the stored one, it cuts (or zero-pads, at a
left offset) a hop-aligned excerpt drawn from (seed, source, e, stored item),
the reference excerpt rule; padded frames carry no pitch and confidence 1.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import os
import tempfile
import threading
from typing import Any

import numpy as np

from data_pipelines import audio as audio_lib
from data_pipelines import corpus as corpus_lib
from data_pipelines import sources as sources_lib

SOURCE_NAME = 'pseudo_labels/train'
FORMAT_VERSION = 1
MANIFEST = 'manifest.json'
FILTER_THRESHOLD = 0.7  # MAJL's default th (Eq. 8), for the summary
GRID_KEYS = ('sample_rate', 'hop_length', 'fmin', 'bins_per_octave', 'n_bins')
_EPOCH_ORDER, _EXCERPT = 21, 22  # seed sub-domains
_COMMAND = 'python -m mpe_jax.pseudo_label'


class PseudoLabelError(ValueError):
  """A pseudo-label folder that is incomplete or does not fit the config."""


# ------------------------------------------------------------------ format


def record_dtype(n_samples: int, n_bins: int, n_frames: int) -> np.dtype:
  """The structured dtype of one stored item."""
  return np.dtype([('audio', '<f4', (n_samples,)),
                   ('labels', 'u1', ((n_bins + 7) // 8, n_frames)),
                   ('confidence', '<f4', (n_frames,))])


def shard_name(shard: int) -> str:
  return f'shard-{shard:05d}.npy'


def shard_ranges(num_items: int, shard_items: int) -> list[tuple[int, int]]:
  """``[start, stop)`` item ranges of the shards."""
  if num_items <= 0 or shard_items <= 0:
    raise ValueError(f'num_items ({num_items}) and shard_items '
                     f'({shard_items}) must be positive.')
  return [(lo, min(lo + shard_items, num_items))
          for lo in range(0, num_items, shard_items)]


def pack_records(audio: np.ndarray, labels: np.ndarray,
                 confidence: np.ndarray) -> np.ndarray:
  """Items -> structured records.

  Args:
    audio: ``[n, N]`` float32.
    labels: ``[n, n_bins, T]`` 0/1 label grids.
    confidence: ``[n, T]`` in [0, 1].

  Returns:
    ``[n]`` records of ``record_dtype(N, n_bins, T)``.
  """
  n, n_samples = audio.shape
  _, n_bins, n_frames = labels.shape
  if labels.shape[0] != n or confidence.shape != (n, n_frames):
    raise ValueError(f'mismatched items: audio {audio.shape}, labels '
                     f'{labels.shape}, confidence {confidence.shape}.')
  records = np.zeros(n, record_dtype(n_samples, n_bins, n_frames))
  records['audio'] = audio
  records['labels'] = np.packbits(labels.astype(bool), axis=1)
  records['confidence'] = confidence
  return records


def unpack_labels(packed: np.ndarray, n_bins: int) -> np.ndarray:
  """``[ceil(n_bins / 8), T]`` packed bits -> ``[n_bins, T]`` uint8 grid."""
  return np.unpackbits(np.asarray(packed), axis=0, count=n_bins)


def _replace_atomically(path: str, write) -> None:
  folder = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.',
                             suffix='.part', dir=folder)
  try:
    with os.fdopen(fd, 'wb') as f:
      write(f)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_shard(directory: str, shard: int, records: np.ndarray) -> str:
  """Writes one shard atomically; returns its path."""
  path = os.path.join(directory, shard_name(shard))
  _replace_atomically(path, lambda f: np.save(f, records,
                                              allow_pickle=False))
  return path


def write_manifest(directory: str, manifest: Mapping[str, Any]) -> str:
  """Writes ``manifest.json`` atomically; returns its path."""
  path = os.path.join(directory, MANIFEST)
  text = json.dumps(manifest, indent=2, sort_keys=True) + '\n'
  _replace_atomically(path, lambda f: f.write(text.encode('utf-8')))
  return path


def read_manifest(directory: str) -> dict[str, Any] | None:
  """The manifest of ``directory``, or None when it has none.

  Raises:
    PseudoLabelError: an unreadable manifest.
  """
  path = os.path.join(directory, MANIFEST)
  if not os.path.isfile(path):
    return None
  try:
    with open(path, encoding='utf-8') as f:
      manifest = json.load(f)
  except (OSError, ValueError) as error:
    raise PseudoLabelError(f'cannot read {path}: '
                           f'{corpus_lib.one_line(error)}.') from error
  if not isinstance(manifest, dict) or 'settings' not in manifest:
    raise PseudoLabelError(f'{path} is not a pseudo-label manifest.')
  return manifest


def new_manifest(settings: Mapping[str, Any]) -> dict[str, Any]:
  """An incomplete manifest for ``settings`` (its ``shards`` listed)."""
  settings = json.loads(json.dumps(dict(settings)))  # as stored
  ranges = shard_ranges(settings['num_items'], settings['shard_items'])
  return {'format_version': FORMAT_VERSION, 'settings': settings,
          'shards': [shard_name(k) for k in range(len(ranges))],
          'complete': False, 'summary': None}


def _expected_dtype(settings: Mapping[str, Any]) -> np.dtype:
  return record_dtype(settings['excerpt_samples'], settings['n_bins'],
                      settings['n_frames'])


def shard_is_complete(directory: str, manifest: Mapping[str, Any],
                      shard: int) -> bool:
  """Whether shard ``shard`` exists with the expected records."""
  settings = manifest['settings']
  lo, hi = shard_ranges(settings['num_items'], settings['shard_items'])[shard]
  path = os.path.join(directory, manifest['shards'][shard])
  try:
    records = np.load(path, mmap_mode='r', allow_pickle=False)
  except (OSError, ValueError):
    return False
  return records.shape == (hi - lo,) and records.dtype == _expected_dtype(
      settings)


def summarize(directory: str, manifest: Mapping[str, Any], *,
              filter_threshold: float = FILTER_THRESHOLD) -> dict[str, float]:
  """Mean confidence and the share of frames >= ``filter_threshold``."""
  total = confident = 0.0
  count = 0
  for name in manifest['shards']:
    conf = np.load(os.path.join(directory, name), mmap_mode='r',
                   allow_pickle=False)['confidence'].astype(np.float64)
    total += float(conf.sum())
    confident += float(np.sum(conf >= filter_threshold))
    count += conf.size
  return {'mean_confidence': total / max(count, 1),
          'confident_fraction': confident / max(count, 1),
          'filter_threshold': filter_threshold}


# ------------------------------------------------------------------ reading


class PseudoLabelStore:
  """The items of a complete pseudo-label folder (memory-mapped shards)."""

  def __init__(self, directory: str, *, sample_rate: int, hop_length: int,
               fmin: float, bins_per_octave: int, n_bins: int):
    """Opens ``directory``.

    Raises:
      corpus.DatasetNotFoundError: no such folder or no manifest.
      PseudoLabelError: an incomplete dataset, or a label grid other than
        the given one.
    """
    hint = (f'write one with `{_COMMAND} --checkpoint=STAGE1_WORKDIR '
            f'--source=NAME --num_items=N --output_dir=DIR` and set '
            f'config.data.pseudo_label_dir=DIR')
    if not directory:
      raise corpus_lib.DatasetNotFoundError(
          f'Training source {SOURCE_NAME!r} needs '
          f'config.data.pseudo_label_dir (it is empty): {hint}.')
    if not os.path.isdir(directory):
      raise corpus_lib.DatasetNotFoundError(
          f'Training source {SOURCE_NAME!r}: config.data.pseudo_label_dir='
          f'{directory!r} does not exist; {hint}.')
    manifest = read_manifest(directory)
    if manifest is None:
      raise corpus_lib.DatasetNotFoundError(
          f'Training source {SOURCE_NAME!r}: {directory!r} holds no '
          f'{MANIFEST}; {hint}.')
    if manifest.get('format_version') != FORMAT_VERSION:
      raise PseudoLabelError(
          f'{directory!r} has pseudo-label format '
          f'{manifest.get("format_version")!r}, this version reads '
          f'{FORMAT_VERSION}; write it again with {_COMMAND}.')
    if not manifest.get('complete'):
      raise PseudoLabelError(
          f'{directory!r} is incomplete; run the same {_COMMAND} command '
          'again to finish it.')
    settings = manifest['settings']
    grid = dict(sample_rate=sample_rate, hop_length=hop_length, fmin=fmin,
                bins_per_octave=bins_per_octave, n_bins=n_bins)
    stored = {k: settings[k] for k in GRID_KEYS}
    if any(not np.isclose(float(stored[k]), float(grid[k])) for k in grid):
      raise PseudoLabelError(
          f'{directory!r} was labelled on the grid {stored}, but '
          f'config.hcqt asks for {grid}; label it again with this config.')
    self.directory = directory
    self.manifest = manifest
    self.settings = settings
    self.n_samples = int(settings['excerpt_samples'])
    self.n_frames = int(settings['n_frames'])
    self.n_bins = int(n_bins)
    self.hop_length = int(hop_length)
    self._ranges = shard_ranges(settings['num_items'],
                                settings['shard_items'])
    self._starts = np.asarray([lo for lo, _ in self._ranges])
    self._shards: dict[int, np.ndarray] = {}
    self._lock = threading.Lock()

  def __len__(self) -> int:
    return int(self.settings['num_items'])

  def _shard(self, shard: int) -> np.ndarray:
    with self._lock:  # tf.data reads items from several threads
      records = self._shards.get(shard)
      if records is None:
        path = os.path.join(self.directory, self.manifest['shards'][shard])
        records = np.load(path, mmap_mode='r', allow_pickle=False)
        lo, hi = self._ranges[shard]
        if records.shape != (hi - lo,) or records.dtype != _expected_dtype(
            self.settings):
          raise PseudoLabelError(f'{path} does not hold the items the '
                                 f'manifest describes; label again.')
        self._shards[shard] = records
    return records

  def read(self, item: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored item ``item``: audio ``[N]`` float32, labels ``[n_bins, T]``
    uint8, confidence ``[T]`` float32 (copies)."""
    if not 0 <= item < len(self):
      raise IndexError(f'item {item} is not in [0, {len(self)}).')
    shard = int(np.searchsorted(self._starts, item, side='right')) - 1
    record = self._shard(shard)[item - self._ranges[shard][0]]
    return (np.array(record['audio'], np.float32),
            unpack_labels(record['labels'], self.n_bins),
            np.array(record['confidence'], np.float32))


class PseudoLabelSource(sources_lib.EpochOrder, sources_lib.Source):
  """'pseudo_labels/train': stored items in a per-epoch order, with their
  per-frame label confidence."""
  order_domain = _EPOCH_ORDER

  def __init__(self, store: PseudoLabelStore, *, seed: int,
               use_labels: bool):
    self.name = SOURCE_NAME
    self.labelled = use_labels
    self.has_confidence = use_labels
    self.store = store
    self.seed = seed
    self._init_order(SOURCE_NAME)

  def item_with_confidence(self, index, n_samples):
    epoch, stored = self.locate(index)
    audio, grid, conf = self.store.read(stored)
    if n_samples != self.store.n_samples:
      audio, grid, conf = self._excerpt(audio, grid, conf, n_samples,
                                        epoch=epoch, stored=stored)
    if not self.labelled:
      return audio, None, None
    return audio, grid, conf

  def item(self, index, n_samples):
    audio, grid, _ = self.item_with_confidence(index, n_samples)
    return audio, grid

  def _excerpt(self, audio, grid, conf, n_samples, *, epoch, stored):
    """A hop-aligned crop or zero-padded placement of a stored item."""
    hop = self.store.hop_length
    rng = np.random.default_rng(np.random.SeedSequence(
        [self.seed, _EXCERPT, self._key, epoch, stored]))
    start = audio_lib.excerpt_start(len(audio), n_samples, rng, align=hop)
    n_frames = 1 + n_samples // hop
    first = start // hop
    audio = audio_lib.take_excerpt(audio, start, n_samples)
    grid = np.ascontiguousarray(
        audio_lib.take_excerpt(grid.T, first, n_frames).T)
    inside = audio_lib.take_excerpt(np.ones(len(conf), bool), first, n_frames)
    conf = np.where(inside, audio_lib.take_excerpt(conf, first, n_frames),
                    np.float32(1.0)).astype(np.float32)
    return audio, grid, conf

  def describe(self) -> str:
    s = self.store.settings
    kind = ('pseudo-labelled, with confidences' if self.labelled
            else 'audio only')
    return (f'{SOURCE_NAME} ({len(self.store)} items of {s["source"]} '
            f'labelled by {s["checkpoint"]}, {kind})')


def open_source(directory: str, *, seed: int, use_labels: bool,
                sample_rate: int, hop_length: int, fmin: float,
                bins_per_octave: int, n_bins: int) -> PseudoLabelSource:
  """The 'pseudo_labels/train' source of the folder ``directory``.

  Raises:
    corpus.DatasetNotFoundError: ``directory`` empty, missing, or without a
      manifest (one line saying how to write one).
    PseudoLabelError: an incomplete folder or another label grid.
  """
  store = PseudoLabelStore(directory, sample_rate=sample_rate,
                           hop_length=hop_length, fmin=fmin,
                           bins_per_octave=bins_per_octave, n_bins=n_bins)
  return PseudoLabelSource(store, seed=seed, use_labels=use_labels)


def check_settings(existing: Mapping[str, Any], settings: Mapping[str, Any],
                   directory: str) -> None:
  """Raises a one-line PseudoLabelError when a folder's manifest describes
  other items than ``settings``."""
  wanted = json.loads(json.dumps(dict(settings)))
  have = existing.get('settings', {})
  differ = sorted(k for k in set(wanted) | set(have)
                  if wanted.get(k) != have.get(k))
  if differ or existing.get('format_version') != FORMAT_VERSION:
    shown = ', '.join(f'{k}: {have.get(k)!r} there, {wanted.get(k)!r} now'
                      for k in differ[:3])
    raise PseudoLabelError(
        f'{directory} already holds other pseudo-labels ({shown or "format"}'
        f'{", ..." if len(differ) > 3 else ""}); choose another '
        '--output_dir or delete it.')

