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
import ml_collections
import numpy as np

from mpe_jax.features import cqt as cqt_lib
from mpe_jax.features import hcqt as hcqt_lib
from mpe_jax.objectives import salience as salience_objectives
from mpe_jax.objectives import timbre_trap as timbre_trap_objectives

LossFn = Callable[[Any, Mapping[str, jax.Array], jax.Array, Any,
                   ml_collections.ConfigDict],
                  tuple[jax.Array, dict[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class System:
  """One trainable system.

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
  """
  make_frontend: Callable[[ml_collections.ConfigDict], Any]
  compute_losses: LossFn
  salience: Callable[..., jax.Array]
  bin_frequencies: Callable[[Any], np.ndarray]
  frame_times: Callable[[Any, int], np.ndarray]
  validate: Callable[[ml_collections.ConfigDict], None]
  make_track_metrics: Callable[..., Callable[..., dict[str, float]] | None
                               ] | None = None


# --------------------------------------------- HCQT salience (SS-MPE, ISMIR) --


def _hcqt_frontend(config: ml_collections.ConfigDict) -> hcqt_lib.Filterbank:
  return hcqt_lib.make_filterbank(hcqt_lib.HCQTConfig.from_config(config.hcqt))


def _hcqt_salience(model, audio, frontend, config):
  del config
  feats = hcqt_lib.hcqt_features(frontend, audio)
  return jax.nn.sigmoid(model(feats['db']))


def _validate_salience(config: ml_collections.ConfigDict) -> None:
  if config.model.n_bins != config.hcqt.n_bins:
    raise ValueError(f'config.model.n_bins ({config.model.n_bins}) must equal '
                     f'config.hcqt.n_bins ({config.hcqt.n_bins}).')
  if config.model.in_channels != len(config.hcqt.harmonics):
    raise ValueError(f'config.model.in_channels ({config.model.in_channels}) '
                     f'must equal len(config.hcqt.harmonics) '
                     f'({len(config.hcqt.harmonics)}).')
  salience_objectives.enabled_terms(config.loss_weights)


SALIENCE = System(
    make_frontend=_hcqt_frontend,
    compute_losses=salience_objectives.compute_losses,
    salience=_hcqt_salience,
    bin_frequencies=lambda fb: fb.config.bin_frequencies(1.0),
    frame_times=lambda fb, n: fb.config.frame_times(n),
    validate=_validate_salience,
)

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

SYSTEMS: dict[str, System] = {'salience': SALIENCE,
                              'timbre_trap': TIMBRE_TRAP}


def get_system(config: ml_collections.ConfigDict) -> System:
  """The system named by ``config.system``."""
  if config.system not in SYSTEMS:
    raise ValueError(f'config.system must be one of {sorted(SYSTEMS)}, got '
                     f'{config.system!r}')
  return SYSTEMS[config.system]
