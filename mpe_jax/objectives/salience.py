"""All objectives of the HCQT-salience systems (SS-MPE, ISMIR 2025), composed.

One call computes the HCQT of the clean audio once, builds every transformed
input that an enabled objective needs (EQ, geometric transform, percussion
mixture), runs the model ONCE on their concatenation (LayerNorm is per item,
so this equals separate passes), and returns ``(total, parts)`` with
``config.loss_weights`` applied. Terms whose weight is 0 are not computed.

Batch keys: ``audio [B, N]``; ``labels [B, K, T]`` and ``has_label [B]`` for
the supervised term; ``drums [B, N]`` for percussion invariance; ``teacher
[B, K, T]`` (a frozen model's salience of the clean audio, added by the train
step: ``mpe_jax/teacher.py``) for distillation.
Averaging: the supervised term over labelled items only; the consistency
terms (timbre, geometric, percussion) over all items; the energy group
(support, harmonic, sparsity, energy) over all items, or only over unlabelled
items when ``config.objectives.energy_on_unlabeled_only``; distillation (BCE
of the clean logits against the teacher's salience) over all items.

``compute_losses`` is ``forward`` (the batched model call) followed by
``term_losses``; MAJL's weighted training (``objectives/majl.py``) calls the
two itself to get every term per item (``per_item``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from mpe_jax.augment import equalization, geometric, mixing
from mpe_jax.features import hcqt as hcqt_lib
from mpe_jax.objectives import combine as combine_lib
from mpe_jax.objectives import consistency, energy, supervised

# Every term this module can compute, in logging order.
TERMS = ('supervised', 'support', 'harmonic', 'sparsity', 'energy', 'timbre',
         'geometric', 'percussion', 'distill')
ENERGY_GROUP = ('support', 'harmonic', 'sparsity', 'energy')
# Terms a config written before they existed may leave out (weight 0).
OPTIONAL_TERMS = ('distill',)


def enabled_terms(weights: Mapping[str, float]) -> tuple[str, ...]:
  """Terms with a non-zero weight; unknown or missing names raise one line
  (``OPTIONAL_TERMS`` may be missing: weight 0)."""
  weights = {**{t: 0.0 for t in OPTIONAL_TERMS}, **weights}
  unknown = sorted(set(weights) - set(TERMS))
  missing = sorted(set(TERMS) - set(weights))
  if unknown or missing:
    raise ValueError(f'config.loss_weights must set exactly {list(TERMS)}; '
                     f'unknown terms {unknown}, missing {missing}')
  return tuple(t for t in TERMS if float(weights[t]) != 0.0)


class Forward(NamedTuple):
  """What one batched model call produced (``forward``).

  Attributes:
    feats: the clean input's HCQT features (``hcqt_lib.hcqt_features``).
    logits: ``[B, K, T]`` logits per input: 'clean' and, when their terms are
      enabled, 'timbre' (EQ), 'geometric' and 'percussion' (drum mixture).
    geometric: the sampled geometric parameters (None without 'geometric').
    terms: the terms this forward pass was built for.
  """
  feats: dict[str, jax.Array]
  logits: dict[str, jax.Array]
  geometric: Any
  terms: tuple[str, ...]


def forward(apply_fn: Callable[[jax.Array], jax.Array],
            batch: Mapping[str, jax.Array], key: jax.Array,
            filterbank: hcqt_lib.Filterbank,
            config: ml_collections.ConfigDict, *,
            terms: tuple[str, ...] | None = None) -> Forward:
  """HCQT, the transformed inputs and ONE model call on their concatenation.

  Args:
    apply_fn: features ``[B, H, K, T]`` -> logits ``[B, K, T]``.
    batch: ``audio [B, N]``; ``drums [B, N]`` when 'percussion' is a term.
    key: PRNG key for this step's augmentations.
    filterbank: the HCQT.
    config: the run config (``augment``).
    terms: the terms to prepare inputs for (default: the enabled terms of
      ``config.loss_weights``).
  """
  if terms is None:
    terms = enabled_terms(dict(config.loss_weights))
  feats = hcqt_lib.hcqt_features(filterbank, batch['audio'])
  x = feats['db']  # [B, H, K, T]
  batch_size = x.shape[0]
  k_eq, k_geo, k_vol = jax.random.split(key, 3)

  inputs, names, params = [x], ['clean'], None
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
  return Forward(feats=feats, logits=logits, geometric=params,
                 terms=tuple(terms))


def per_item(loss_fn: Callable[..., jax.Array], item_mask: jax.Array | None,
             *maps: jax.Array) -> jax.Array:
  """Per-item values ``[B]`` of a batch loss ``loss_fn(*maps, item_mask)``.

  Item ``b`` gets ``loss_fn`` of its own maps; with ``item_mask`` (0/1) it is
  zeroed outside the mask and scaled by ``B / max(sum(mask), 1)``, so the mean
  over ``B`` equals the batch loss (masked mean over the selected items).
  """
  values = jax.vmap(lambda *m: loss_fn(*(v[None] for v in m)))(*maps)  # [B]
  if item_mask is None:
    return values
  m = item_mask.astype(values.dtype)
  return values * m * (m.shape[0] / jnp.maximum(jnp.sum(m), 1.0))


def term_losses(fwd: Forward, batch: Mapping[str, jax.Array],
                config: ml_collections.ConfigDict, *,
                per_item_values: bool = False) -> dict[str, jax.Array]:
  """Every term of ``fwd.terms``: scalars, or ``[B]`` per-item values.

  Args:
    fwd: ``forward``'s result.
    batch: ``labels [B, K, T]`` and ``has_label [B]`` when 'supervised' is a
      term or the energy group is restricted to unlabelled items.
    config: the run config (``objectives``).
    per_item_values: return ``[B]`` per term (``per_item``: their mean over
      the batch is the scalar term) instead of scalars.
  """
  terms, logits, feats = fwd.terms, fwd.logits, fwd.feats
  clean = logits['clean']
  stop = bool(config.objectives.stop_gradient_targets)

  def reduce(loss_fn, item_mask, *maps):
    if per_item_values:
      return per_item(loss_fn, item_mask, *maps)
    return loss_fn(*maps, item_mask)

  labelled = batch['has_label'].astype(jnp.float32) if (
      'supervised' in terms or config.objectives.energy_on_unlabeled_only
  ) else None
  energy_mask = (1.0 - labelled
                 if config.objectives.energy_on_unlabeled_only else None)

  parts = {}
  if 'supervised' in terms:
    targets = supervised.blur_targets(batch['labels'],
                                      config.objectives.target_sigma_bins)
    parts['supervised'] = reduce(supervised.supervised_loss, labelled, clean,
                                 targets)
  if 'support' in terms:
    parts['support'] = reduce(energy.support_loss, energy_mask, clean,
                              feats['db_1'])
  if 'harmonic' in terms:
    parts['harmonic'] = reduce(energy.harmonic_loss, energy_mask, clean,
                               feats['db_h'])
  if 'sparsity' in terms:
    parts['sparsity'] = reduce(energy.sparsity_loss, energy_mask, clean)
  if 'energy' in terms:
    parts['energy'] = reduce(energy.energy_loss, energy_mask, clean,
                             feats['db_h'])
  if 'timbre' in terms:
    target = consistency.target_salience(clean, stop_gradient=stop)
    parts['timbre'] = reduce(consistency.consistency_loss, None,
                             logits['timbre'], target)
  if 'geometric' in terms:
    target = consistency.target_salience(clean, stop_gradient=stop)
    parts['geometric'] = reduce(consistency.consistency_loss, None,
                                logits['geometric'],
                                geometric.apply(target, fwd.geometric))
  if 'percussion' in terms:
    target = consistency.target_salience(clean, stop_gradient=stop)
    parts['percussion'] = reduce(consistency.consistency_loss, None,
                                 logits['percussion'], target)
  if 'distill' in terms:
    if 'teacher' not in batch:
      raise ValueError("loss_weights.distill needs the batch's 'teacher' "
                       'salience: set config.teacher.checkpoint.')
    parts['distill'] = reduce(consistency.consistency_loss, None, clean,
                              jax.lax.stop_gradient(batch['teacher']))
  return parts


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
  fwd = forward(apply_fn, batch, key, filterbank, config,
                terms=enabled_terms(weights))
  return combine_lib.combine(term_losses(fwd, batch, config), weights)
