"""What differs between the published systems, in one registry.

A ``System`` bundles the front end (built once on the host from the config),
the objective composer used by the train step, and the mapping from audio to
a salience-gram that evaluation and transcription use. ``config.system`` names
the entry; ``train.py``, ``evaluate.py`` and ``transcribe.py`` only talk to
this interface.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mpe_jax import models
from mpe_jax.features import cqt as cqt_lib
from mpe_jax.features import hcqt as hcqt_lib
from mpe_jax.objectives import majl as majl_objectives
from mpe_jax.objectives import majl_vocal as majl_vocal_objectives
from mpe_jax.objectives import salience as salience_objectives
from mpe_jax.objectives import timbre_trap as timbre_trap_objectives

LossFn = Callable[[Any, Mapping[str, jax.Array], jax.Array, Any,
                   ml_collections.ConfigDict],
                  tuple[jax.Array, dict[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class Streaming:
  """What chunked inference needs to reproduce a system's whole-file salience.

  A system declares it when the salience of frame ``n`` depends only on the
  audio within ``context_samples`` of sample ``n * hop_length`` (through the
  front end), on the front-end frames within the model's time receptive field
  (``mpe_jax.inference`` measures it from the model's convolutions), and on one
  per-file normaliser: the maximum over all frames of ``frame_statistic``.
  ``salience(model, audio)`` must equal ``salience_given(model, audio,
  max_t frame_statistic(audio))``.

  Attributes:
    sample_rate: frontend -> the audio rate (Hz) the system reads.
    hop_length: frontend -> samples between frames (``1 + N // hop`` frames).
    context_samples: frontend -> ``c``: frame ``n`` reads samples
      ``[n * hop - c, n * hop + c)`` (zeros outside the signal).
    frame_statistic: (frontend, audio ``[B, N]``) -> ``[B, T]`` per-frame
      values whose maximum over the file is the normaliser (jit-compatible).
    salience_given: (model, audio ``[B, N]``, frontend, config, reference
      ``[B]``) -> salience ``[B, K, T]`` (jit-compatible).
  """
  sample_rate: Callable[[Any], int]
  hop_length: Callable[[Any], int]
  context_samples: Callable[[Any], int]
  frame_statistic: Callable[[Any, jax.Array], jax.Array]
  salience_given: Callable[..., jax.Array]


def _excerpt_batches(tracks: list, n_samples: int, chunk: int,
                     config: ml_collections.ConfigDict) -> list:
  """Validation batches of the HCQT and CQT systems: the tracks' first
  ``n_samples`` with their label grids (``data_pipelines.batching``)."""
  from data_pipelines import batching  # pylint: disable=g-import-not-at-top
  return batching.excerpt_batches(tracks, n_samples, chunk, config.hcqt)


@dataclasses.dataclass(frozen=True)
class System:
  """One trainable system.

  The arrays its ``compute_losses`` reads are its batch contract,
  ``data_pipelines.contracts.for_system(name)``, checked on every training
  and validation batch.

  Attributes:
    make_frontend: config -> front end (a pytree, e.g. the HCQT filterbank).
    compute_losses: (model, batch, key, frontend, config) -> (total, parts).
    salience: (model, audio [B, N], frontend, config) -> salience
      ``[B, K, T]`` in [0, 1] (jit-compatible).
    bin_frequencies: frontend -> centre frequency (Hz) of each salience bin.
    frame_times: (frontend, n_frames) -> time (s) of each salience frame.
    validate: config -> None; raises a one-line ValueError when the config
      does not fit the system.
    make_track_metrics: optional ``(graphdef, frontend, config) ->
      ((params, track) -> {name: float})`` (or None): extra per-track scores
      that evaluation adds to the multi-pitch ones (e.g. reconstruction SDR).
    streaming: how to compute the salience chunk by chunk with the same
      result (``None``: transcription and evaluation process whole files).
    set_metrics: optional ``(per-track scores, tracks) -> {name: float}``:
      set-level scores added to the track means (e.g. a length-weighted
      GNSDR).
    make_track_evaluator: optional ``(graphdef, frontend, config) ->
      ((params, track) -> {name: float})`` that scores a track on its own
      (then evaluation neither computes the salience nor the multi-pitch
      scores; e.g. separation and melody scores of a cascade).
    validation_batches: ``(tracks, n_samples, chunk, config) ->
      [batch]``: the validation excerpts as the system's training batches
      (default: audio, multi-pitch label grids and silent drums, built by
      ``data_pipelines.batching.excerpt_batches``).
    summary: the columns of the table printed after training: (score,
      header, scale) triples (scale 100 for fractions).
    model_kinds: the ``models.MODELS`` entries (``config.model.kind``) this
      system trains.
  """
  make_frontend: Callable[[ml_collections.ConfigDict], Any]
  compute_losses: LossFn
  salience: Callable[..., jax.Array]
  bin_frequencies: Callable[[Any], np.ndarray]
  frame_times: Callable[[Any, int], np.ndarray]
  validate: Callable[[ml_collections.ConfigDict], None]
  make_track_metrics: Callable[..., Callable[..., dict[str, float]] | None
                               ] | None = None
  streaming: Streaming | None = None
  set_metrics: Callable[[list[dict[str, float]], list], dict[str, float]
                        ] | None = None
  make_track_evaluator: Callable[..., Callable[..., dict[str, float]]
                                 ] | None = None
  validation_batches: Callable[..., list] = _excerpt_batches
  model_kinds: tuple[str, ...] = ('autoencoder',)
  summary: tuple[tuple[str, str, float], ...] = (
      ('precision', 'P', 100.0), ('recall', 'R', 100.0),
      ('accuracy', 'Acc', 100.0), ('f1', 'F1', 100.0))


# --------------------------------------------- HCQT salience (SS-MPE, ISMIR) --


def _hcqt_frontend(config: ml_collections.ConfigDict) -> hcqt_lib.Filterbank:
  return hcqt_lib.make_filterbank(hcqt_lib.HCQTConfig.from_config(config.hcqt))


def _hcqt_salience(model, audio, frontend, config):
  del config
  feats = hcqt_lib.hcqt_features(frontend, audio)
  return jax.nn.sigmoid(model(feats['db']))


def _hcqt_frame_statistic(frontend, audio):
  power = hcqt_lib.hcqt_power(frontend, audio)  # [B, H, K, T]
  return jnp.max(power, axis=(1, 2))  # [B, T]: the dB reference per frame


def _hcqt_salience_given(model, audio, frontend, config, reference):
  del config
  cfg = frontend.config
  power = hcqt_lib.hcqt_power(frontend, audio)
  db = hcqt_lib.power_to_db(power, amin=cfg.amin, top_db=cfg.top_db,
                            reference=reference)
  return jax.nn.sigmoid(model(jnp.clip(1.0 + db / cfg.top_db, 0.0, 1.0)))


def _validate_hcqt_model(config: ml_collections.ConfigDict) -> None:
  if config.model.n_bins != config.hcqt.n_bins:
    raise ValueError(f'config.model.n_bins ({config.model.n_bins}) must equal '
                     f'config.hcqt.n_bins ({config.hcqt.n_bins}).')
  if config.model.in_channels != len(config.hcqt.harmonics):
    raise ValueError(f'config.model.in_channels ({config.model.in_channels}) '
                     f'must equal len(config.hcqt.harmonics) '
                     f'({len(config.hcqt.harmonics)}).')


def _validate_salience(config: ml_collections.ConfigDict) -> None:
  _validate_hcqt_model(config)
  salience_objectives.enabled_terms(config.loss_weights)


def _validate_majl_salience(config: ml_collections.ConfigDict) -> None:
  _validate_hcqt_model(config)
  majl_objectives.validate_salience(config)


_HCQT_STREAMING = Streaming(
    sample_rate=lambda fb: fb.config.sample_rate,
    hop_length=lambda fb: fb.config.hop_length,
    # A frame reads one FFT frame of the longest kernel, centred on it.
    context_samples=lambda fb: fb.context_samples,
    frame_statistic=_hcqt_frame_statistic,
    salience_given=_hcqt_salience_given)


SALIENCE = System(
    make_frontend=_hcqt_frontend,
    compute_losses=salience_objectives.compute_losses,
    salience=_hcqt_salience,
    bin_frequencies=lambda fb: fb.config.bin_frequencies(1.0),
    frame_times=lambda fb, n: fb.config.frame_times(n),
    validate=_validate_salience,
    streaming=_HCQT_STREAMING,
)

# MAJL in the ISMIR 2025 setting: the same backbone and salience; the
# self-supervised terms (task 1) and the supervised BCE (task 2) weighted per
# item (mpe_jax.objectives.majl).
MAJL_SALIENCE = dataclasses.replace(
    SALIENCE, compute_losses=majl_objectives.salience_losses,
    validate=_validate_majl_salience)

# ------------------------------------------- Timbre-Trap (complex CQT U-Net) --


def _cqt_frontend(config: ml_collections.ConfigDict) -> cqt_lib.CQT:
  return cqt_lib.make_cqt(cqt_lib.CQTConfig.from_config(config.cqt))


TIMBRE_TRAP = System(
    make_frontend=_cqt_frontend,
    compute_losses=timbre_trap_objectives.compute_losses,
    salience=timbre_trap_objectives.salience,
    bin_frequencies=lambda cqt: cqt.bin_frequencies(),
    frame_times=lambda cqt, n: cqt.frame_times(n),
    validate=timbre_trap_objectives.validate_config,
    make_track_metrics=timbre_trap_objectives.make_track_metrics,
)

def _eval_drums(track_name: str, num_samples: int,
                sample_rate: int) -> np.ndarray:
  """The drums mixed into a MAJL separation evaluation track (data code,
  loaded when a MAJL run evaluates)."""
  from data_pipelines.generated import synthetic_drums  # pylint: disable=g-import-not-at-top
  return synthetic_drums.eval_drums(track_name, num_samples, sample_rate)


def _separation_metrics(graphdef, cqt, config):
  return majl_objectives.make_separation_metrics(graphdef, cqt, config,
                                                 drums=_eval_drums)


def _vocal_validation_batches(tracks: list, n_samples: int, chunk: int,
                              config: ml_collections.ConfigDict) -> list:
  """MAJL vocal validation batches (``data_pipelines.vocal``)."""
  from data_pipelines import vocal  # pylint: disable=g-import-not-at-top
  return vocal.validation_batches(tracks, n_samples, chunk, config)


# MAJL on the Timbre-Trap backbone: separation (reconstruction mode on a drum
# mixture) and pitch (transcription of the separated coefficients), weighted
# per item; evaluation runs the cascade (mpe_jax.objectives.majl).
MAJL_SEPARATION = dataclasses.replace(
    TIMBRE_TRAP,
    compute_losses=majl_objectives.separation_losses,
    salience=majl_objectives.cascade_salience,
    validate=majl_objectives.validate_separation,
    make_track_metrics=_separation_metrics,
    set_metrics=majl_objectives.separation_set_metrics,
)

# MAJL in its original setting: singing-voice separation and vocal pitch on
# a 16-kHz STFT, a swappable MSS module feeding a swappable PE module
# (mpe_jax.objectives.majl_vocal, mpe_jax.models.vocal).
MAJL_VOCAL = System(
    make_frontend=majl_vocal_objectives.make_frontend,
    compute_losses=majl_vocal_objectives.compute_losses,
    salience=majl_vocal_objectives.salience,
    bin_frequencies=lambda frontend: frontend.bin_frequencies(),
    frame_times=lambda frontend, n: frontend.frame_times(n),
    validate=majl_vocal_objectives.validate_config,
    set_metrics=majl_vocal_objectives.set_metrics,
    make_track_evaluator=majl_vocal_objectives.track_evaluator,
    validation_batches=_vocal_validation_batches,
    summary=majl_vocal_objectives.SUMMARY,
    model_kinds=('joint_cascade',),
)

SYSTEMS: dict[str, System] = {'salience': SALIENCE,
                              'timbre_trap': TIMBRE_TRAP,
                              'majl_salience': MAJL_SALIENCE,
                              'majl_separation': MAJL_SEPARATION,
                              'majl_vocal': MAJL_VOCAL}


def get_system(config: ml_collections.ConfigDict) -> System:
  """The system named by ``config.system``."""
  if config.system not in SYSTEMS:
    raise ValueError(f'config.system must be one of {sorted(SYSTEMS)}, got '
                     f'{config.system!r}')
  return SYSTEMS[config.system]


def check_model_kind(config: ml_collections.ConfigDict) -> None:
  """One line unless ``config.model`` is a kind of model the system trains
  (``System.model_kinds``; ``models.MODELS``)."""
  kind = models.model_kind(config.model)
  if kind not in models.MODELS:
    raise ValueError(f'config.model.kind must be one of '
                     f'{sorted(models.MODELS)}, got {kind!r}.')
  kinds = get_system(config).model_kinds
  if kind not in kinds:
    raise ValueError(f'system {config.system!r} trains a model of kind '
                     f'{" or ".join(map(repr, kinds))}; config.model.kind is '
                     f'{kind!r}.')
