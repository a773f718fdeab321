"""The corpora mpe_jax reads, by name, and where a config says they are.

``CORPORA`` maps a short name to its reader class. A set name is
``'<corpus>/<split>'`` (e.g. ``'urmp/valid'``); ``open_corpus`` finds the
corpus directory in ``config.data.dataset_dirs.<corpus>``.
"""

from __future__ import annotations

import ml_collections

from data_pipelines import corpus
from data_pipelines.corpora import bach10
from data_pipelines.corpora import egmd
from data_pipelines.corpora import fma
from data_pipelines.corpora import guitarset
from data_pipelines.corpora import maestro
from data_pipelines.corpora import medleydb
from data_pipelines.corpora import mir1k
from data_pipelines.corpora import mir_st500
from data_pipelines.corpora import musdb18
from data_pipelines.corpora import musicnet
from data_pipelines.corpora import nsynth
from data_pipelines.corpora import su
from data_pipelines.corpora import trios
from data_pipelines.corpora import urmp

CORPORA: dict[str, type[corpus.Corpus]] = {
    cls.name: cls for cls in (
        nsynth.NSynth, urmp.URMP, bach10.Bach10, su.Su, trios.TRIOS,
        musicnet.MusicNet, guitarset.GuitarSet, egmd.EGMD, fma.FMA,
        maestro.MAESTRO, mir1k.MIR1K, medleydb.MedleyDB, musdb18.MUSDB18,
        mir_st500.MIRST500)
}


def split_set_name(set_name: str) -> tuple[type[corpus.Corpus], str]:
  """'urmp/valid' -> (URMP, 'valid').

  Raises:
    ValueError: not '<corpus>/<split>' of a known corpus and split.
  """
  name, _, split = set_name.partition('/')
  if name not in CORPORA:
    raise ValueError(f'Unknown corpus {name!r} in {set_name!r}; corpora: '
                     f'{", ".join(sorted(CORPORA))}.')
  cls = CORPORA[name]
  if split not in cls.splits:
    raise ValueError(f'{cls.title} has no split {split!r} (in {set_name!r}); '
                     f'splits: {", ".join(cls.splits)}.')
  return cls, split


def corpus_dir(config: ml_collections.ConfigDict, name: str) -> str:
  """``config.data.dataset_dirs.<name>`` (one-line error when unset)."""
  cls = CORPORA[name]
  dirs = config.data.dataset_dirs
  if name not in dirs:
    raise ValueError(f'config.data.dataset_dirs has no entry {name!r}.')
  path = dirs[name]
  if not path:
    raise corpus.DatasetNotFoundError(
        f'{cls.title} ({name}) not found: config.data.dataset_dirs.{name} is '
        f'empty; obtain it from {cls.url} and pass '
        f'--config.data.dataset_dirs.{name}=/path/to/{cls.title} '
        '(layout: docs/datasets.md).')
  return path


def open_corpus(config: ml_collections.ConfigDict,
                name: str) -> corpus.Corpus:
  """The reader of corpus ``name`` at ``config.data.dataset_dirs.<name>``.

  Raises:
    DatasetNotFoundError: the directory is unset or does not exist (one line
      naming the dataset and the directory).
  """
  return CORPORA[name](corpus_dir(config, name))
