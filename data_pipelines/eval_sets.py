"""Named evaluation sets: ``EVAL_SETS`` maps a set name to a loader
``config -> list[tracks.Track]`` (audio + mir_eval reference).

The synthetic sets, the FluidSynth and General-MIDI render sets,
'<corpus>/<split>' for every annotated corpus, and the singing-voice sets
('vocal/<corpus>/<split>'). This module needs no TensorFlow: scoring
prediction folders (``mpe_jax.evaluate --pred_dir``) works with the light
install. ``data_pipelines.pipeline`` re-exports its names.
"""

from __future__ import annotations

from collections.abc import Callable

import ml_collections

from data_pipelines import catalog
from data_pipelines import corpus
from data_pipelines import tracks
from data_pipelines import vocal as vocal_lib
from data_pipelines.generated import synthetic

EVAL_SEED = 0  # the synthetic sets' seed (never config.seed)

EvalLoader = Callable[[ml_collections.ConfigDict], list[tracks.Track]]


def _synthetic_mixtures(split: str) -> EvalLoader:
  def load(config: ml_collections.ConfigDict) -> list[tracks.Track]:
    source = synthetic.SyntheticSource(
        EVAL_SEED, split, sample_rate=config.hcqt.sample_rate,
        hop_length=config.hcqt.hop_length)
    return [source.mixture(i, seconds=config.data.eval_track_seconds,
                           max_voices=config.data.max_voices)
            for i in range(config.data.eval_num_tracks)]
  return load


def _synthetic_notes(split: str) -> EvalLoader:
  def load(config: ml_collections.ConfigDict) -> list[tracks.Track]:
    source = synthetic.SyntheticSource(
        EVAL_SEED, split, sample_rate=config.hcqt.sample_rate,
        hop_length=config.hcqt.hop_length)
    n_samples = int(round(config.data.excerpt_seconds *
                          config.hcqt.sample_rate))
    return [source.note_track(i, n_samples)
            for i in range(config.data.eval_num_tracks)]
  return load


def _corpus_set(corpus_name: str, split: str) -> EvalLoader:
  def load(config: ml_collections.ConfigDict) -> list[tracks.Track]:
    reader = catalog.open_corpus(config, corpus_name)
    return reader.eval_tracks(split, sample_rate=config.hcqt.sample_rate,
                              hop_length=config.hcqt.hop_length)
  return load


def _fluidsynth_set(split: str) -> EvalLoader:
  def load(config: ml_collections.ConfigDict) -> list[tracks.Track]:
    from data_pipelines.generated import fluidsynth_render  # pylint: disable=g-import-not-at-top
    n = config.data.eval_num_tracks
    reader = fluidsynth_render.FluidSynthCorpus(
        config.data.dataset_dirs.fluidsynth, seed=EVAL_SEED,
        n_tracks={'train': n, 'valid': n, 'test': n},
        seconds=config.data.eval_track_seconds)
    found = reader.eval_tracks(split, sample_rate=config.hcqt.sample_rate,
                               hop_length=config.hcqt.hop_length)
    return found[:n]
  return load


def _gm_renders_set(split: str) -> EvalLoader:
  def load(config: ml_collections.ConfigDict) -> list[tracks.Track]:
    from data_pipelines.generated import gm_renders  # pylint: disable=g-import-not-at-top
    reader = gm_renders.GMRenders()  # fixed sets: corpus seed 0, defaults
    return reader.eval_tracks(split, sample_rate=config.hcqt.sample_rate,
                              hop_length=config.hcqt.hop_length)
  return load


def _realsamples_set(split: str) -> EvalLoader:
  def load(config: ml_collections.ConfigDict) -> list[tracks.Track]:
    from data_pipelines.real_samples import realsamples  # pylint: disable=g-import-not-at-top
    root = config.data.dataset_dirs.get('realsamples', '')
    if not root:
      raise corpus.DatasetNotFoundError(
          'realsamples needs the sample libraries: '
          '--config.data.dataset_dirs.realsamples=DIR holding philharmonia/ '
          '(a checkout of github:jurihock/philharmonia; docs/datasets.md).')
    reader = realsamples.RealSamples(root)  # fixed sets: seed 0, defaults
    return reader.eval_tracks(split, sample_rate=config.hcqt.sample_rate,
                              hop_length=config.hcqt.hop_length)
  return load


# name -> loader(config) -> list[Track]. Extend with register_eval_set.
EVAL_SETS: dict[str, EvalLoader] = {
    'synthetic_mixtures/valid': _synthetic_mixtures('valid'),
    'synthetic_mixtures/test': _synthetic_mixtures('test'),
    'synthetic_notes/valid': _synthetic_notes('valid'),
    # Rendered General-MIDI progressions (or the user's .mid files in
    # config.data.dataset_dirs.fluidsynth): the supervised domain of the
    # FluidSynth source; needs the fluidsynth program and soundfont.
    'fluidsynth/valid': _fluidsynth_set('valid'),
    'fluidsynth/test': _fluidsynth_set('test'),
    # Performed General-MIDI renders (data_pipelines/generated/gm_renders.py), always
    # the same tracks: 'valid' (training soundfonts and programs, other
    # pieces) selects the shipped model; 'test' (held-out soundfont,
    # programs and pieces) and 'chorales' (Bach chorales, evaluation only)
    # score it.
    'gm_renders/valid': _gm_renders_set('valid'),
    'gm_renders/test': _gm_renders_set('test'),
    'gm_renders/chorales': _gm_renders_set('chorales'),
    # Expressive renders (tuning, intonation, vibrato, glides, loudness
    # curves, STK physical models, drum kits, recording chains):
    # 'expressive_valid' (training sources) selects models and thresholds;
    # 'expressive_test' (held-out soundfont, programs, STK models and kit)
    # is the realistic development set no training step reads.
    'gm_renders/expressive_valid': _gm_renders_set('expressive_valid'),
    'gm_renders/expressive_test': _gm_renders_set('expressive_test'),
    # Pieces played by recorded instruments (data_pipelines/real_samples/):
    # 'valid' (train instruments, other pieces) chooses; 'test' (held-out
    # instruments and piano) reports.
    'realsamples/valid': _realsamples_set('valid'),
    'realsamples/test': _realsamples_set('test'),
}
EVAL_SETS.update({
    f'{cls.name}/{split}': _corpus_set(cls.name, split)
    for cls in catalog.CORPORA.values() if cls.annotated
    for split in cls.splits})
# Singing-voice sets ('vocal/<corpus>/<split>'): mixture, vocal stem and f0
# (data_pipelines/vocal.py; MAJL's vocal system).
EVAL_SETS.update(vocal_lib.eval_loaders())


def register_eval_set(name: str, loader: EvalLoader, *,
                      overwrite: bool = False) -> None:
  """Adds a named evaluation set: ``loader(config) -> list[Track]``."""
  if name in EVAL_SETS and not overwrite:
    raise ValueError(f'Evaluation set {name!r} is already registered.')
  EVAL_SETS[name] = loader


def eval_tracks(config: ml_collections.ConfigDict,
                set_name: str) -> list[tracks.Track]:
  """The tracks of a named evaluation set (deterministic).

  Synthetic sets use ``EVAL_SEED`` (not ``config.seed``),
  ``config.data.eval_num_tracks`` tracks, mixtures of
  ``config.data.eval_track_seconds`` with up to ``config.data.max_voices``
  voices, and single notes of ``config.data.excerpt_seconds`` (cut from 4-s
  notes as in training). Corpus sets ('<corpus>/<split>') read every track
  of the split from ``config.data.dataset_dirs.<corpus>`` (see the corpus
  module for the split's tracks).

  Raises:
    ValueError: unknown set name (the message lists the known names).
    DatasetNotFoundError: a corpus set whose directory is unset or missing
      (one line naming the dataset and the directory).
  """
  check_eval_set(set_name)
  return EVAL_SETS[set_name](config)


def check_eval_set(set_name: str) -> None:
  """Raises ValueError (one line listing the known sets) for an unknown
  evaluation set name."""
  if set_name not in EVAL_SETS:
    raise ValueError(f'Unknown evaluation set {set_name!r}; known sets: '
                     f'{", ".join(sorted(EVAL_SETS))}.')


# Splits that hold evaluation material: never used to choose anything.
_EVALUATION_SPLITS = ('test', 'all', 'chorales')
_EVALUATION_CORPORA = ('bach10',)  # Bach chorales: evaluation only


def check_selection_set(set_name: str) -> None:
  """Raises ValueError (one line) unless ``set_name`` may choose a model or
  a decoding setting: a known set that is not a test split, a split that
  contains test material ('all'), nor an evaluation-only corpus (the Bach
  chorales)."""
  check_eval_set(set_name)
  corpus, _, split = set_name.rpartition('/')
  if (any(word in split for word in _EVALUATION_SPLITS)
      or corpus.split('/')[-1] in _EVALUATION_CORPORA):
    valid = sorted(n for n in EVAL_SETS if n.endswith('valid'))
    raise ValueError(
        f'{set_name} is an evaluation set: nothing is chosen on it. Choose '
        f'a validation set ({", ".join(valid[:4])}, ...).')
