"""Training item sources: what one excerpt of a training batch comes from.

A source turns a global item index into one fixed-length excerpt (and, for
labelled sources, its HCQT label grid). Every item is a pure function of
(seed, source, index), so a batch is a pure function of (seed, step,
process) and a restarted run reproduces the uninterrupted one.

* ``SyntheticNotes`` ('synthetic/train'): item i is the synthetic note
  excerpt i (``SyntheticSource(seed, 'train').note_excerpt``), with or
  without its exact labels.
* ``CorpusSource`` ('<corpus>/<split>', e.g. 'urmp/train'): one random excerpt
  per track per epoch. Item i belongs to epoch ``e = i // n_tracks`` and is
  track ``perm_e[i % n_tracks]``, where ``perm_e`` is a permutation drawn from
  (seed, source, e); the excerpt start is drawn from (seed, source, e, track)
  with the reference rule (a uniform crop, or a uniform left zero-padding
  offset for a track shorter than the excerpt), restricted to multiples of
  the hop when labels are used so the label frames stay aligned. Tracks are
  read from prepared shards (``PreparedStore``) when they exist, otherwise
  decoded from the raw corpus each time (``RawStore``).
* ``fluidsynth_render.RenderedSource`` ('fluidsynth/train' without prepared
  shards): item i is random progression i rendered on the fly.
* ``SyntheticMixtures`` ('synthetic_mixtures/train'): item i is synthetic
  polyphonic mixture i (``synthetic.synth_mixture``) rendered at the excerpt
  length, with or without its exact labels.
* ``SyntheticDrums`` ('synthetic_drums/train'): item i is synthetic drum
  groove i (audio only; a percussion source when no E-GMD is at hand).
* ``pseudo_labels.PseudoLabelSource`` ('pseudo_labels/train'): items labelled
  by a trained model (``python -m mpe_jax.pseudo_label``), with a per-frame
  confidence of their labels (``item_with_confidence``).

Per-host disjointness comes from the item indices the pipeline hands out
(see ``pipeline.py``), not from the sources.
"""

from __future__ import annotations

import abc
import threading
import zlib

from absl import logging
import numpy as np

from data_pipelines import audio as audio_lib
from data_pipelines import corpus as corpus_lib
from data_pipelines import labels as labels_lib
from data_pipelines import prepared
from data_pipelines.generated import synthetic

_EPOCH_ORDER, _EXCERPT = 11, 12  # seed sub-domains


def source_key(name: str) -> int:
  """A stable 32-bit integer for a source name (seeds its randomness)."""
  return zlib.crc32(name.encode('utf-8'))


class Source(abc.ABC):
  """A training source.

  Attributes:
    name: e.g. 'urmp/train'.
    labelled: whether ``item`` returns label grids.
    has_confidence: whether ``item_with_confidence`` gives a per-frame
      confidence of the labels (pseudo-labels); other sources' labels are
      ground truth.
  """
  name: str
  labelled: bool
  has_confidence: bool = False

  @abc.abstractmethod
  def item(self, index: int, n_samples: int
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """Item ``index``: audio [n_samples] float32 and, if ``labelled``, the
    [n_bins, 1 + n_samples // hop] uint8 label grid (else None)."""

  def item_with_confidence(self, index: int, n_samples: int
                           ) -> tuple[np.ndarray, np.ndarray | None,
                                      np.ndarray | None]:
    """``item`` plus the [1 + n_samples // hop] float32 confidence of the
    label frames, or None (= fully trusted) for sources without one."""
    audio, grid = self.item(index, n_samples)
    return audio, grid, None

  def describe(self) -> str:
    """A short description for the log line."""
    return self.name


class SyntheticNotes(Source):
  """The synthetic NSynth-like notes (labelled)."""

  def __init__(self, seed: int, *, sample_rate: int, hop_length: int,
               fmin: float, bins_per_octave: int, n_bins: int,
               use_labels: bool = True):
    self.name = 'synthetic/train'
    self.labelled = use_labels
    self._source = synthetic.SyntheticSource(seed, 'train',
                                             sample_rate=sample_rate,
                                             hop_length=hop_length)
    self._grid = dict(fmin=fmin, bins_per_octave=bins_per_octave,
                      n_bins=n_bins)

  def item(self, index, n_samples):
    audio, f0 = self._source.note_excerpt(int(index), n_samples)
    if not self.labelled:
      return audio, None
    return audio, labels_lib.frequencies_to_grid(f0[:, None], **self._grid)

  def describe(self) -> str:
    kind = 'labelled' if self.labelled else 'audio only'
    return f'synthetic/train (synthetic NSynth-like notes, {kind})'


class SyntheticMixtures(Source):
  """Synthetic polyphonic mixtures of 1..max_voices voices (labelled)."""

  def __init__(self, seed: int, *, max_voices: int, sample_rate: int,
               hop_length: int, fmin: float, bins_per_octave: int,
               n_bins: int, use_labels: bool = True):
    self.name = 'synthetic_mixtures/train'
    self.labelled = use_labels
    self._seed, self._max_voices = seed, max_voices
    self._sample_rate, self._hop_length = sample_rate, hop_length
    self._grid = dict(fmin=fmin, bins_per_octave=bins_per_octave,
                      n_bins=n_bins)

  def item(self, index, n_samples):
    track = synthetic.synth_mixture(
        self._seed, int(index), split='train',
        sample_rate=self._sample_rate, seconds=n_samples / self._sample_rate,
        max_voices=self._max_voices, hop_length=self._hop_length)
    audio = np.zeros(n_samples, np.float32)
    audio[:min(n_samples, len(track.audio))] = track.audio[:n_samples]
    if not self.labelled:
      return audio, None
    n_frames = 1 + n_samples // self._hop_length
    return audio, labels_lib.frequencies_to_grid(track.ref_freqs[:n_frames],
                                                 **self._grid)

  def describe(self) -> str:
    kind = 'labelled' if self.labelled else 'audio only'
    return ('synthetic_mixtures/train (synthetic polyphonic mixtures of up to '
            f'{self._max_voices} voices, {kind})')


class SyntheticDrums(Source):
  """Synthetic drum grooves ('synthetic_drums/train', audio only)."""

  def __init__(self, seed: int, *, sample_rate: int):
    self.name = 'synthetic_drums/train'
    self.labelled = False
    self._seed, self._sample_rate = seed, sample_rate

  def item(self, index, n_samples):
    from data_pipelines.generated import synthetic_drums  # pylint: disable=g-import-not-at-top
    return synthetic_drums.synth_drums(self._seed, int(index), n_samples,
                                       sample_rate=self._sample_rate), None

  def describe(self) -> str:
    return 'synthetic_drums/train (synthetic drum-kit grooves, audio only)'


class RawStore:
  """Tracks decoded from a raw corpus directory on every read."""

  def __init__(self, reader: corpus_lib.Corpus, split: str, *,
               sample_rate: int, grid: dict):
    self.reader = reader
    self.names = reader.track_ids(split)
    self.annotated = reader.annotated
    self.sample_rate = sample_rate
    self.grid = grid

  def __len__(self) -> int:
    return len(self.names)

  def load(self, track: int, *, labels: bool):
    record = self.reader.load(self.names[track], self.sample_rate)
    grid = record.label_grid(**self.grid) if labels else None
    return record.audio, grid


class EpochOrder:
  """Per-epoch permutations of a source's stored items (tracks).

  Item ``i`` belongs to epoch ``e = i // n`` (``n = len(self.store)``) and
  is stored item ``perm_e[i % n]``, where ``perm_e`` is drawn from (seed,
  ``order_domain``, source key, e). Subclasses call ``_init_order`` and have
  ``seed`` and ``store``.
  """
  order_domain = _EPOCH_ORDER

  def _init_order(self, name: str) -> None:
    self._key = source_key(name)
    self._orders: dict[int, np.ndarray] = {}
    self._lock = threading.Lock()

  def permutation(self, epoch: int) -> np.ndarray:
    """The item order of ``epoch`` (a pure function of seed, name, epoch)."""
    with self._lock:  # tf.data calls items from several threads
      order = self._orders.get(epoch)
      if order is None:
        rng = np.random.default_rng(np.random.SeedSequence(
            [self.seed, self.order_domain, self._key, epoch]))
        order = rng.permutation(len(self.store))
        if len(self._orders) >= 4:  # keep the few epochs in flight
          del self._orders[min(self._orders)]
        self._orders[epoch] = order
    return order

  def locate(self, index: int) -> tuple[int, int]:
    """(epoch, stored item) of item ``index``."""
    epoch, position = divmod(int(index), len(self.store))
    return epoch, int(self.permutation(epoch)[position])


class CorpusSource(EpochOrder, Source):
  """One random excerpt per track per epoch from a corpus split."""

  def __init__(self, name: str, store: prepared.PreparedStore | RawStore, *,
               seed: int, use_labels: bool, hop_length: int, n_bins: int,
               origin: str):
    if len(store) == 0:
      raise ValueError(f'Training source {name!r} has no tracks ({origin}).')
    if use_labels and not store.annotated:
      raise ValueError(f'Training source {name!r} has no pitch labels; use '
                       'it without labels (config.data.mixture.use_labels).')
    self.name = name
    self.labelled = use_labels
    self.store = store
    self.seed = seed
    self.hop_length = hop_length
    self.n_bins = n_bins
    self.origin = origin
    self._init_order(name)

  def _rng(self, epoch: int, track: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(
        [self.seed, _EXCERPT, self._key, epoch, track]))

  def item(self, index, n_samples):
    epoch, track = self.locate(index)
    rng = self._rng(epoch, track)
    align = self.hop_length if self.labelled else 1
    n_frames = 1 + n_samples // self.hop_length
    if isinstance(self.store, prepared.PreparedStore):
      start = audio_lib.excerpt_start(int(self.store.n_samples[track]),
                                      n_samples, rng, align=align)
      audio, grid = self.store.read(track, start, n_samples,
                                    labels=self.labelled)
    else:
      full, full_grid = self.store.load(track, labels=self.labelled)
      start = audio_lib.excerpt_start(len(full), n_samples, rng, align=align)
      audio = audio_lib.take_excerpt(full, start, n_samples)
      grid = None
      if self.labelled:
        grid = audio_lib.take_excerpt(full_grid.T, start // self.hop_length,
                                      n_frames).T
    if grid is not None:
      grid = np.ascontiguousarray(grid, dtype=np.uint8)
    return audio, grid

  def describe(self) -> str:
    kind = 'labelled' if self.labelled else 'audio only'
    return f'{self.name} ({len(self.store)} tracks, {kind}, {self.origin})'


def open_corpus_source(name: str, *, corpus_dir: str | None, data_dir: str,
                       seed: int, use_labels: bool, sample_rate: int,
                       hop_length: int, fmin: float, bins_per_octave: int,
                       n_bins: int) -> CorpusSource:
  """A ``CorpusSource`` for '<corpus>/<split>': prepared shards under
  ``data_dir`` if present, else the raw corpus at ``corpus_dir``.

  Raises:
    DatasetNotFoundError: neither exists (one line naming both places).
  """
  from data_pipelines import catalog  # pylint: disable=g-import-not-at-top
  cls, split = catalog.split_set_name(name)
  grid = dict(fmin=fmin, bins_per_octave=bins_per_octave, n_bins=n_bins)
  if prepared.is_prepared(data_dir, cls.name, split):
    directory = prepared.prepared_dir(data_dir, cls.name, split)
    store = prepared.PreparedStore(directory, sample_rate=sample_rate,
                                   hop_length=hop_length, **grid)
    origin = f'prepared shards in {directory}'
  else:
    if not corpus_dir:
      raise corpus_lib.DatasetNotFoundError(
          f'Training source {name!r} not found: no prepared shards under '
          f'config.data.data_dir={data_dir!r} (python -m '
          f'data_pipelines.prepare --dataset={cls.name} ...) and '
          f'config.data.dataset_dirs.{cls.name} is empty.')
    reader = cls(corpus_dir)
    store = RawStore(reader, split, sample_rate=sample_rate,
                     grid=dict(hop_length=hop_length, **grid))
    origin = f'decoded from {corpus_dir} every read'
    logging.warning('Training source %s is decoded from the raw corpus at %s '
                    'on every read; prepare it once for faster input: python '
                    '-m data_pipelines.prepare --dataset=%s --manual_dir=%s '
                    '--data_dir=<data_dir>', name, corpus_dir, cls.name,
                    corpus_dir)
  return CorpusSource(name, store, seed=seed, use_labels=use_labels,
                      hop_length=hop_length, n_bins=n_bins, origin=origin)
