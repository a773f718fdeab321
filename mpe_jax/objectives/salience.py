"""All objectives of the HCQT-salience systems (SS-MPE, ISMIR 2025), composed.

One call computes the HCQT of the clean audio once, builds every transformed
input that an enabled objective needs (EQ, geometric transform, percussion
mixture), runs the model ONCE on their concatenation (LayerNorm is per item,
so this equals separate passes), and returns ``(total, parts)`` with
``config.loss_weights`` applied. Terms whose weight is 0 are not computed.

Batch keys: ``audio [B, N]``; ``labels [B, K, T]`` and ``has_label [B]`` for
the supervised term; ``drums [B, N]`` for percussion invariance.
Averaging: the supervised term over labelled items only; the consistency
terms (timbre, geometric, percussion) over all items; the energy group
(support, harmonic, sparsity, energy) over all items, or only over unlabelled
items when ``config.objectives.energy_on_unlabeled_only``.
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections

from mpe_jax.augment import equalization, geometric, mixing
from mpe_jax.features import hcqt as hcqt_lib
from mpe_jax.objectives import combine as combine_lib
from mpe_jax.objectives import consistency, energy, supervised

# Every term this module can compute, in logging order.
TERMS = ('supervised', 'support', 'harmonic', 'sparsity', 'energy', 'timbre',
         'geometric', 'percussion')
ENERGY_GROUP = ('support', 'harmonic', 'sparsity', 'energy')


def enabled_terms(weights: Mapping[str, float]) -> tuple[str, ...]:
  """Terms with a non-zero weight; unknown or missing names raise one line."""
  unknown = sorted(set(weights) - set(TERMS))
  missing = sorted(set(TERMS) - set(weights))
  if unknown or missing:
    raise ValueError(f'config.loss_weights must set exactly {list(TERMS)}; '
                     f'unknown terms {unknown}, missing {missing}')
  return tuple(t for t in TERMS if float(weights[t]) != 0.0)


def compute_losses(apply_fn: Callable[[jax.Array], jax.Array],
                   batch: Mapping[str, jax.Array], key: jax.Array,
                   filterbank: hcqt_lib.Filterbank,
                   config: ml_collections.ConfigDict
                   ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Total loss and its named parts for one batch.

  Args:
    apply_fn: features ``[B, H, K, T]`` -> logits ``[B, K, T]``.
    batch: ``audio [B, N]`` float32 (plus keys other systems use).
    key: PRNG key for this step's augmentations.
    filterbank: the HCQT.
    config: the run config (``loss_weights``, ``augment``, ``objectives``).
  """
  weights = dict(config.loss_weights)
  terms = enabled_terms(weights)
  feats = hcqt_lib.hcqt_features(filterbank, batch['audio'])
  x = feats['db']  # [B, H, K, T]
  batch_size = x.shape[0]
  k_eq, k_geo, k_vol = jax.random.split(key, 3)

  inputs, names = [x], ['clean']
  if 'timbre' in terms:
    n_points, index = equalization.eq_grid(filterbank.config)
    curves = equalization.sample_curves(k_eq, batch_size, n_points,
                                        config.augment.eq)
    inputs.append(equalization.equalize(x, curves, index))
    names.append('timbre')
  if 'geometric' in terms:
    g = config.augment.geometric
    params = geometric.sample_params(
        k_geo, batch_size, max_freq_shift=g.max_freq_shift,
        max_time_shift=g.max_time_shift, max_stretch=g.max_stretch)
    inputs.append(geometric.apply(x, params))
    names.append('geometric')
  if 'percussion' in terms:
    volume = mixing.sample_volumes(k_vol, batch_size,
                                   config.augment.percussion.max_volume)
    mixture = mixing.mix(batch['audio'], batch['drums'], volume)
    inputs.append(hcqt_lib.hcqt_features(filterbank, mixture)['db'])
    names.append('percussion')

  logits_all = apply_fn(jnp.concatenate(inputs, axis=0))
  logits = dict(zip(names, jnp.split(logits_all, len(names), axis=0)))
  clean = logits['clean']
  stop = bool(config.objectives.stop_gradient_targets)

  labelled = batch['has_label'].astype(jnp.float32) if (
      'supervised' in terms or config.objectives.energy_on_unlabeled_only
  ) else None
  energy_mask = (1.0 - labelled
                 if config.objectives.energy_on_unlabeled_only else None)

  parts = {}
  if 'supervised' in terms:
    targets = supervised.blur_targets(batch['labels'],
                                      config.objectives.target_sigma_bins)
    parts['supervised'] = supervised.supervised_loss(clean, targets, labelled)
  if 'support' in terms:
    parts['support'] = energy.support_loss(clean, feats['db_1'], energy_mask)
  if 'harmonic' in terms:
    parts['harmonic'] = energy.harmonic_loss(clean, feats['db_h'],
                                             energy_mask)
  if 'sparsity' in terms:
    parts['sparsity'] = energy.sparsity_loss(clean, energy_mask)
  if 'energy' in terms:
    parts['energy'] = energy.energy_loss(clean, feats['db_h'], energy_mask)
  if 'timbre' in terms:
    target = consistency.target_salience(clean, stop_gradient=stop)
    parts['timbre'] = consistency.consistency_loss(logits['timbre'], target)
  if 'geometric' in terms:
    target = consistency.target_salience(clean, stop_gradient=stop)
    parts['geometric'] = consistency.consistency_loss(
        logits['geometric'], geometric.apply(target, params))
  if 'percussion' in terms:
    target = consistency.target_salience(clean, stop_gradient=stop)
    parts['percussion'] = consistency.consistency_loss(logits['percussion'],
                                                       target)
  return combine_lib.combine(parts, weights)
