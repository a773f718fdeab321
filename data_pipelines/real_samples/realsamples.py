"""'realsamples': pieces played by recorded instruments, with exact labels.

A track (a pure function of seed, split and index) is a piece (generated
textures, or, with ``music21_share``, an excerpt of a music21 work of the
split's side; no Bach, no chorale: ``pieces``), each of its parts played by
a recorded instrument on a sampler (``sampler``, ``renders``) and recorded
through a room and a chain (``recording_chain``). Labels are the recordings'
own f0.

Splits (instruments: ``splits``):

* ``train``: every instrument not held out; generated pieces and music21
  train works; 20 s.
* ``unlabelled``: like train with other pieces (other seeds), for the
  self-supervised terms only (read it with ``use_labels=False``).
* ``valid`` (``realsamples_valid``: checkpoints, thresholds, recipes): the
  train instruments, generated pieces and music21 valid works no train
  track uses; 64 x 20 s (the renders' 24 x 10 s could not tell recipes 5 F1
  apart).
* ``test`` (``realsamples_test``, reporting only): the held-out instruments
  and piano, music21 test works and generated pieces; 64 x 20 s.

The library folder (``root``) holds ``philharmonia/`` (a checkout of
``github:jurihock/philharmonia``) and, optionally, ``node_modules/`` with
the Salamander piano packages (``salamander``). Each note's pitch is
measured once (``measurements``) into ``<root>/measurements.npz`` (or
``measurements=PATH``).
"""

from __future__ import annotations

import os

import numpy as np

from data_pipelines import corpus
from data_pipelines.generated import pieces
from data_pipelines.real_samples import library
from data_pipelines.real_samples import measurements as measurements_lib
from data_pipelines.real_samples import philharmonia
from data_pipelines.real_samples import renders
from data_pipelines.real_samples import salamander
from data_pipelines.real_samples import sampler
from data_pipelines.real_samples import splits as splits_lib

NAME = 'realsamples'
SPLITS = ('train', 'valid', 'test', 'unlabelled')
DEFAULT_TRACKS = {'train': 960, 'valid': 64, 'test': 64, 'unlabelled': 960}
DEFAULT_SECONDS = {'train': 20.0, 'valid': 20.0, 'test': 20.0,
                   'unlabelled': 20.0}
_SPLIT_KEY = {'train': 0, 'valid': 1, 'test': 2, 'unlabelled': 3}
_WORKS_SIDE = {'train': 'train', 'unlabelled': 'train', 'valid': 'valid',
               'test': 'test'}
_DOMAIN = 41  # seed sub-domain (gm_renders uses 31)
MIN_NOTES = 12  # an instrument with fewer kept notes is not used


class RealSamples(corpus.Corpus):
  """The 'realsamples' corpus (see the module docstring)."""

  name = NAME
  title = 'Recorded-instrument renders'
  splits = SPLITS
  annotated = True
  url = 'https://github.com/jurihock/philharmonia'

  def __init__(self, root: str, *, seed: int = 0,
               n_tracks: dict[str, int] | None = None,
               seconds: dict[str, float] | None = None,
               music21_share: float = 0.5, measurements: str | None = None):
    super().__init__(root)
    philharmonia.data_dir(os.path.join(self.root, 'philharmonia'))  # exists?
    self.seed = int(seed)
    self.n_tracks = {**DEFAULT_TRACKS, **(n_tracks or {})}
    self.seconds = {**DEFAULT_SECONDS, **(seconds or {})}
    self.music21_share = float(music21_share)
    self.measurements = measurements or os.path.join(self.root,
                                                     'measurements.npz')
    self._banks: dict[str, dict[str, sampler.Bank]] | None = None

  # ------------------------------------------------------------ inventory --

  def samples(self) -> list[library.Sample]:
    """Every single note the libraries under ``root`` hold."""
    found, _ = philharmonia.read(os.path.join(self.root, 'philharmonia'))
    node_modules = os.path.join(self.root, 'node_modules')
    if os.path.isdir(node_modules):
      try:
        found += salamander.read(node_modules)[0]
      except library.LibraryError:
        pass  # no layer installed: no piano
    return found

  def banks(self) -> dict[str, dict[str, sampler.Bank]]:
    """``{'train_valid': {instrument: Bank}, 'test': {...}}`` of the kept
    notes (measured once; audio read when played)."""
    if self._banks is None:
      kept, _ = measurements_lib.measure_all(self.samples(),
                                             self.measurements)
      by_split: dict[str, dict[str, list]] = {'train_valid': {}, 'test': {}}
      for sample, measured in kept:
        side = 'test' if splits_lib.held_out(sample) else 'train_valid'
        key = f'{sample.library}:{sample.instrument}'
        by_split[side].setdefault(key, []).append(
            sampler.Recorded(sample, measured))
      self._banks = {
          side: {key: sampler.Bank(notes) for key, notes in sorted(
              group.items()) if len(notes) >= MIN_NOTES}
          for side, group in by_split.items()}
    return self._banks

  # --------------------------------------------------------------- tracks --

  def _track_ids(self, split: str) -> list[str]:
    return [f'{split}/{i:05d}' for i in range(self.n_tracks[split])]

  def _rng(self, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(
        [self.seed, _DOMAIN, _SPLIT_KEY[split], index]))

  def _piece(self, rng: np.random.Generator, split: str, beats: float
             ) -> tuple[str, list[pieces.Part]]:
    if self.music21_share > 0 and rng.random() < self.music21_share:
      path, parts = pieces.music21_excerpt(
          rng, pieces.music21_works(_WORKS_SIDE[split]), beats)
      return os.path.basename(path), parts
    texture, parts = pieces.generated_piece(rng, beats)
    return f'generated:{texture}', parts

  def plan(self, track_id: str) -> tuple[str, list[pieces.Part], list[str],
                                         float, np.random.Generator]:
    """(description, parts, instrument per part, bpm, the generator that
    then performs and records the track)."""
    split, index = track_id.split('/')
    rng = self._rng(split, int(index))
    seconds = self.seconds[split]
    bpm = float(rng.uniform(50, 140))
    name, parts = self._piece(rng, split, seconds * bpm / 60 * 1.1 + 1)
    pool = self.banks()['test' if split == 'test' else 'train_valid']
    if not pool:
      raise corpus.DatasetNotFoundError(
          f'{self.title}: no instrument with {MIN_NOTES}+ kept notes for '
          f'the {split!r} split under {self.root!r}.')
    names = sorted(pool)
    chosen = []
    for part in parts:
      middle = float(np.median(part.pitches)) if len(part) else 60.0
      fits = [n for n in names if n not in chosen and renders.playable_range(
          pool[n])[0] <= middle <= renders.playable_range(pool[n])[1]]
      chosen.append(str(rng.choice(fits or [n for n in names if n not in
                                            chosen] or names)))
    description = f'{name} at {bpm:.0f} bpm, parts {chosen}'
    return description, parts, chosen, bpm, rng

  def load(self, track_id: str,
           sample_rate: int = corpus.SAMPLE_RATE) -> corpus.Record:
    return self.render(track_id, sample_rate)[0]

  def render(self, track_id: str, sample_rate: int = corpus.SAMPLE_RATE
             ) -> tuple[corpus.Record, np.ndarray]:
    """The track's record and its played notes ``[L, 3]`` (onset, note-off
    in s, median f0 in Hz: the reference of note-level scores)."""
    split, _ = track_id.split('/')
    if sample_rate != corpus.SAMPLE_RATE:
      raise ValueError(f'{self.title} renders at {corpus.SAMPLE_RATE} Hz, '
                       f'asked for {sample_rate}')
    _, parts, chosen, bpm, rng = self.plan(track_id)
    pool = self.banks()['test' if split == 'test' else 'train_valid']
    audio, labels, notes = renders.render_track(
        rng, parts, [pool[n] for n in chosen], bpm=bpm,
        seconds=self.seconds[split],
        keyboard=[n.startswith(salamander.NAME) for n in chosen],
        sample_rate=sample_rate)
    return corpus.Record(track_id, audio, sample_rate, labels), notes
