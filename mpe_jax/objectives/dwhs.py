"""Dynamic Weights on Hard Samples (MAJL): correctness, cases and their losses.

Two tasks are trained jointly: task 1 (index 0, "mss": source separation /
reconstruction, or the self-supervised part) and task 2 (index 1, "pe": pitch,
the supervised part). Per sample three pitch maps ``[B, K, T]`` in [0, 1]
exist: pitch estimated from the predicted source, the ground truth, and pitch
estimated from the true source. Whether each of the two estimates is correct
decides the sample's case (Table 1 of the MAJL paper):

* case 1, both correct: nothing is wrong; both weights should stay at 1;
* case 2, correct from the predicted source, incorrect from the true source:
  the label is noisy; omega_2 should drop below 1;
* case 3, incorrect from the predicted source, correct from the true source:
  the sample is hard for task 1; omega_1 should rise above 1;
* case 4, both incorrect: the sample is hard for task 2; omega_2 should rise
  above 1.

This module owns the correctness scores (frame F1, raw pitch accuracy), the
case assignment, the case losses that train the Dynamic Weight Module (MAE
``|w - 1|`` to hold a weight at 1, BPR ``-log s(.)`` to push it below or above
1), the per-sample weighting of the task losses, the fixed-rule weights of
the naive variant, and per-case weight statistics for logging. Every function
is pure, jit-compatible and computes in float32; arguments documented as
static (thresholds, tolerances, config values) must be Python numbers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

CASES = (1, 2, 3, 4)
METRICS = ('f1', 'rpa')

# ------------------------------------------------------------- validation


def _check_threshold(threshold: float) -> float:
  if not 0.0 < float(threshold) < 1.0:
    raise ValueError(f'salience threshold must lie in (0, 1), got '
                     f'{threshold!r}')
  return float(threshold)


def _check_tolerance(tolerance_bins: int) -> int:
  if int(tolerance_bins) != tolerance_bins or int(tolerance_bins) < 0:
    raise ValueError(f'tolerance_bins must be an int >= 0, got '
                     f'{tolerance_bins!r}')
  return int(tolerance_bins)


def _check_maps(pred: jax.Array, truth: jax.Array) -> None:
  if pred.ndim != 3 or pred.shape != truth.shape:
    raise ValueError(f'pitch maps must be [B, K, T] of equal shapes, got '
                     f'{tuple(pred.shape)} and {tuple(truth.shape)}')


def _check_omega(omega: jax.Array) -> None:
  if omega.ndim != 2 or omega.shape[1] != 2:
    raise ValueError(f'omega must be [B, 2], got {tuple(omega.shape)}')


def _frames(frame_mask: jax.Array | None, like: jax.Array) -> jax.Array:
  """Frame mask ``[B, T]`` (or ``[T]``; None = all) -> float32 ``[B, 1, T]``."""
  if frame_mask is None:
    return jnp.ones(like.shape[:1] + (1,) + like.shape[2:], jnp.float32)
  m = jnp.asarray(frame_mask).astype(jnp.float32)[..., None, :]
  return jnp.broadcast_to(m, like.shape[:1] + (1,) + like.shape[2:])


def _dilate(active: jax.Array, bins: int) -> jax.Array:
  """Boolean ``[B, K, T]``: is any bin within ``+-bins`` along K active."""
  if bins == 0:
    return active
  n_bins = active.shape[1]
  padded = jnp.pad(active, ((0, 0), (bins, bins), (0, 0)))
  out = active
  for shift in range(2 * bins + 1):
    out = out | padded[:, shift:shift + n_bins]
  return out


# ------------------------------------------------------------ correctness


def frame_f1(pred: jax.Array, truth: jax.Array, *, threshold: float = 0.5,
             tolerance_bins: int = 0,
             frame_mask: jax.Array | None = None) -> jax.Array:
  """Per-sample multi-pitch F1 over (masked) frames, ``[B]`` float32.

  Args:
    pred: estimated salience ``[B, K, T]`` in [0, 1]; active where
      ``>= threshold``.
    truth: reference ``[B, K, T]`` (0/1 or soft); active where ``>= 0.5``.
    threshold: static salience threshold in (0, 1).
    tolerance_bins: static; an estimate within ``+-tolerance_bins`` bins of an
      active reference bin (same frame) is a true positive, an unmatched
      estimate a false positive, and a reference bin with no estimate within
      the tolerance a false negative. Matching is not one-to-one.
    frame_mask: optional ``[B, T]`` (0/1 or bool); frames outside count for
      nothing.

  Returns:
    ``2 TP / (2 TP + FP + FN)`` with counts summed over the sample's bins and
    frames; 1 for a sample with neither reference nor estimated bins.
  """
  _check_maps(pred, truth)
  threshold = _check_threshold(threshold)
  tol = _check_tolerance(tolerance_bins)
  est = pred.astype(jnp.float32) >= threshold
  ref = truth.astype(jnp.float32) >= 0.5
  m = _frames(frame_mask, pred)  # [B, 1, T]
  near_ref = _dilate(ref, tol)
  near_est = _dilate(est, tol)
  tp = jnp.sum((est & near_ref) * m, axis=(1, 2))
  fp = jnp.sum((est & ~near_ref) * m, axis=(1, 2))
  fn = jnp.sum((ref & ~near_est) * m, axis=(1, 2))
  denom = 2.0 * tp + fp + fn
  return jnp.where(denom > 0, 2.0 * tp / jnp.maximum(denom, 1.0), 1.0)


def raw_pitch_accuracy(pred: jax.Array, truth: jax.Array, *,
                       threshold: float = 0.5, tolerance_bins: int = 0,
                       frame_mask: jax.Array | None = None) -> jax.Array:
  """Per-sample raw pitch accuracy (single pitch), ``[B]`` float32.

  A reference frame is voiced where ``max_k truth >= 0.5``; it is correct
  when the strongest estimated bin lies within ``+-tolerance_bins`` of the
  strongest reference bin. The estimate's own voicing is ignored, as RPA
  defines it, so ``threshold`` is only validated (it is accepted to share a
  signature with ``frame_f1``). Samples with no voiced (masked) frame score 1.

  Args:
    pred: estimated salience ``[B, K, T]``.
    truth: reference ``[B, K, T]`` (0/1 or soft).
    threshold: static, in (0, 1); does not change the score.
    tolerance_bins: static int >= 0.
    frame_mask: optional ``[B, T]`` (0/1 or bool).
  """
  _check_maps(pred, truth)
  _check_threshold(threshold)
  tol = _check_tolerance(tolerance_bins)
  truth = truth.astype(jnp.float32)
  voiced = (jnp.max(truth, axis=1) >= 0.5) * _frames(frame_mask, pred)[:, 0]
  distance = jnp.abs(jnp.argmax(pred.astype(jnp.float32), axis=1)
                     - jnp.argmax(truth, axis=1))  # [B, T] bins
  hits = jnp.sum((distance <= tol) * voiced, axis=-1)
  n_voiced = jnp.sum(voiced, axis=-1)
  return jnp.where(n_voiced > 0, hits / jnp.maximum(n_voiced, 1.0), 1.0)


def is_correct(pred: jax.Array, truth: jax.Array,
               cfg: ml_collections.ConfigDict, *,
               frame_mask: jax.Array | None = None) -> jax.Array:
  """Whether each sample's pitch estimate counts as correct, ``[B]`` bool.

  ``cfg`` (``config.dwhs.correctness``): ``metric`` ('f1' for multi-pitch
  maps, 'rpa' for single-pitch maps), ``threshold`` (salience threshold),
  ``tolerance_bins`` and ``min_score`` (correct iff score >= min_score).
  ``pred`` and ``truth`` are ``[B, K, T]``; ``frame_mask`` ``[B, T]``.
  """
  if cfg.metric not in METRICS:
    raise ValueError(f'dwhs.correctness.metric must be one of {METRICS}, got '
                     f'{cfg.metric!r}')
  if not 0.0 <= float(cfg.min_score) <= 1.0:
    raise ValueError(f'dwhs.correctness.min_score must lie in [0, 1], got '
                     f'{cfg.min_score!r}')
  score_fn = frame_f1 if cfg.metric == 'f1' else raw_pitch_accuracy
  score = score_fn(pred, truth, threshold=cfg.threshold,
                   tolerance_bins=cfg.tolerance_bins, frame_mask=frame_mask)
  return score >= float(cfg.min_score)


def assign_cases(pred_source_correct: jax.Array,
                 target_source_correct: jax.Array) -> jax.Array:
  """Table-1 case per sample, ``[B]`` int32 in 1..4.

  ``pred_source_correct``: is pitch from the predicted source correct ``[B]``;
  ``target_source_correct``: is pitch from the true source correct ``[B]``.
  (correct, correct) -> 1, (correct, incorrect) -> 2, (incorrect, correct)
  -> 3, (incorrect, incorrect) -> 4.
  """
  pred_wrong = 1 - jnp.asarray(pred_source_correct).astype(jnp.int32)
  target_wrong = 1 - jnp.asarray(target_source_correct).astype(jnp.int32)
  return 1 + target_wrong + 2 * pred_wrong


# ------------------------------------------------------------- case losses


def _mae(w: jax.Array) -> jax.Array:
  """Holds a weight at 1: ``|w - 1|``."""
  return jnp.abs(w - 1.0)


def _bpr(margin: jax.Array) -> jax.Array:
  """Pushes ``margin`` up: ``-log s(margin)``, stable for any margin."""
  return -jax.nn.log_sigmoid(margin)


def _per_sample_case_loss(omega: jax.Array, case: int) -> jax.Array:
  """The loss of one case (Eqs. 9-12) for every sample, ``[B]``.

  ``omega`` ``[B, 2]``: case 1 ``|w1-1| + |w2-1|``; case 2 ``|w1-1| -
  log s(1-w2)``; case 3 ``-log s(w1-1) + |w2-1|``; case 4 ``|w1-1| -
  log s(w2-1)``.
  """
  w1, w2 = omega[:, 0], omega[:, 1]
  if case == 1:
    return _mae(w1) + _mae(w2)
  if case == 2:
    return _mae(w1) + _bpr(1.0 - w2)
  if case == 3:
    return _bpr(w1 - 1.0) + _mae(w2)
  if case == 4:
    return _mae(w1) + _bpr(w2 - 1.0)
  raise ValueError(f'case must be one of {CASES}, got {case!r}')


def _case_members(cases: jax.Array, case: int,
                  sample_mask: jax.Array | None) -> jax.Array:
  """Float32 ``[B]``: 1 for (unmasked) samples of ``case``."""
  members = (jnp.asarray(cases) == case).astype(jnp.float32)
  if sample_mask is not None:
    members = members * jnp.asarray(sample_mask).astype(jnp.float32)
  return members


def _masked_mean(values: jax.Array, members: jax.Array) -> jax.Array:
  """Mean of ``values [B]`` over ``members``; 0, without gradient, if none."""
  picked = jnp.where(members > 0, values * members, 0.0)
  return jnp.sum(picked) / jnp.maximum(jnp.sum(members), 1.0)


def case_losses(omega: jax.Array, cases: jax.Array,
                sample_mask: jax.Array | None = None
                ) -> dict[str, jax.Array]:
  """DWHS loss of each case, ``{'case1': ..., 'case4': ...}`` scalars.

  Args:
    omega: DWM weights ``[B, 2]`` (column 0 task 1, column 1 task 2).
    cases: ``[B]`` int in 1..4 (``assign_cases``); other values belong to no
      case.
    sample_mask: optional ``[B]`` (0/1 or bool); masked-out samples belong to
      no case.

  Returns:
    For each case, the mean over its samples of the per-sample loss of
    Eqs. 9-12 (case 1 ``|w1-1| + |w2-1|``, case 2 ``|w1-1| - log s(1-w2)``,
    case 3 ``-log s(w1-1) + |w2-1|``, case 4 ``|w1-1| - log s(w2-1)``); a
    case without samples gives exactly 0.
  """
  _check_omega(omega)
  omega = omega.astype(jnp.float32)
  return {f'case{c}': _masked_mean(_per_sample_case_loss(omega, c),
                                   _case_members(cases, c, sample_mask))
          for c in CASES}


def dwhs_loss(omega: jax.Array, cases: jax.Array,
              sample_mask: jax.Array | None = None) -> jax.Array:
  """Eq. 13: the sum of the four case losses (scalar); see ``case_losses``."""
  return sum(case_losses(omega, cases, sample_mask).values())


# --------------------------------------------------------- task weighting


def weighted_task_loss(task_losses: jax.Array, omega: jax.Array, *,
                       grad_to_dwm: bool = False) -> jax.Array:
  """Eq. 14 per sample, averaged over the batch (scalar).

  Args:
    task_losses: per-sample losses ``[B, 2]`` (column 0 task 1, column 1 task
      2), already confidence-masked by the caller where Eq. 15 applies.
    omega: weights ``[B, 2]``.
    grad_to_dwm: static. False (default) stops the gradient through
      ``omega`` here: the task losses train the backbone only and the DWM
      learns from ``dwhs_loss`` alone. With the gradient, the cheapest way
      for the DWM to lower ``omega_1 L_1 + omega_2 L_2`` is to shrink every
      weight towards 0, which works against the case losses that hold weights
      at or above 1.

  Returns:
    ``mean_b(omega_b1 L_b1 + omega_b2 L_b2)``.
  """
  _check_omega(omega)
  if task_losses.shape != omega.shape:
    raise ValueError(f'task_losses must be [B, 2] like omega '
                     f'{tuple(omega.shape)}, got {tuple(task_losses.shape)}')
  w = omega.astype(jnp.float32)
  if not grad_to_dwm:
    w = jax.lax.stop_gradient(w)
  return jnp.mean(jnp.sum(w * task_losses.astype(jnp.float32), axis=-1))


def _voicing_agreement(truth: jax.Array, estimate: jax.Array) -> jax.Array:
  """``y_t`` of Table 6 per sample ``[B]``: frame mean of voicing agreement.

  Per frame ``max_k(y) max_k(yhat) + (1 - max_k(y)) (1 - max_k(yhat))``.
  """
  y = jnp.max(truth.astype(jnp.float32), axis=1)  # [B, T]
  y_hat = jnp.max(estimate.astype(jnp.float32), axis=1)
  return jnp.mean(y * y_hat + (1.0 - y) * (1.0 - y_hat), axis=-1)


def _hard_weight(y_t: jax.Array, upper_bound: float) -> jax.Array:
  """``clip(1 / y_t, 1, upper_bound)``; ``y_t = 0`` gives ``upper_bound``."""
  inverse = jnp.where(y_t > 0, 1.0 / jnp.where(y_t > 0, y_t, 1.0),
                      upper_bound)
  return jnp.clip(inverse, 1.0, upper_bound)


def naive_weights(cases: jax.Array, truth: jax.Array,
                  pred_source_pitch: jax.Array,
                  target_source_pitch: jax.Array, *, omega_noise: float,
                  upper_bound: float) -> jax.Array:
  """Fixed-rule weights of the naive variant (Table 6), ``[B, 2]``.

  Case 1: (1, 1). Case 2 (noisy label): (1, ``omega_noise``). Case 3 (hard for
  task 1): (``clip(1 / y_t, 1, upper_bound)``, 1) with ``y_t`` measured on
  ``pred_source_pitch``: task 1's output is what fails there, and pitch from
  the predicted source shows how far it is off. Case 4 (hard for task 2): (1,
  ``clip(1 / y_t, 1, upper_bound)``) with ``y_t`` measured on
  ``target_source_pitch``: pitch fails even on the true source, so that map
  isolates task 2's own error. ``y_t`` per sample is the frame mean of the
  voicing agreement ``max_k(y) max_k(yhat) + (1 - max_k(y)) (1 - max_k(yhat))``;
  ``y_t = 0`` gives ``upper_bound``. Any other case value gives (1, 1). The
  result carries no gradient.

  Args:
    cases: ``[B]`` int in 1..4.
    truth: ground truth ``[B, K, T]``.
    pred_source_pitch: pitch from the predicted source ``[B, K, T]``.
    target_source_pitch: pitch from the true source ``[B, K, T]``.
    omega_noise: static task-2 weight of case 2, in [0, 1].
    upper_bound: static cap of the hard-sample weights, >= 1.
  """
  if not 0.0 <= float(omega_noise) <= 1.0:
    raise ValueError(f'dwhs.omega_noise must lie in [0, 1], got '
                     f'{omega_noise!r}')
  if not float(upper_bound) >= 1.0:
    raise ValueError(f'dwhs.upper_bound must be >= 1, got {upper_bound!r}')
  _check_maps(pred_source_pitch, truth)
  _check_maps(target_source_pitch, truth)
  cases = jnp.asarray(cases)
  upper_bound = float(upper_bound)
  w_task1 = _hard_weight(_voicing_agreement(truth, pred_source_pitch),
                         upper_bound)
  w_task2 = _hard_weight(_voicing_agreement(truth, target_source_pitch),
                         upper_bound)
  omega_1 = jnp.where(cases == 3, w_task1, 1.0)
  omega_2 = jnp.where(cases == 4, w_task2,
                      jnp.where(cases == 2, float(omega_noise), 1.0))
  return jax.lax.stop_gradient(
      jnp.stack([omega_1, omega_2], axis=-1).astype(jnp.float32))


# ---------------------------------------------------------------- logging


def omega_case_stats(omega: jax.Array, cases: jax.Array, *,
                     sample_mask: jax.Array | None = None
                     ) -> dict[str, jax.Array]:
  """Mean weight of each task per case and the case counts (no gradient).

  ``omega`` ``[B, 2]``, ``cases`` ``[B]``, optional ``sample_mask`` ``[B]``.
  Returns float32 scalars ``'omega1/case<c>'``, ``'omega2/case<c>'`` (0 when
  case ``c`` has no sample) and ``'count/case<c>'`` for c in 1..4.
  """
  _check_omega(omega)
  omega = jax.lax.stop_gradient(omega.astype(jnp.float32))
  stats = {}
  for c in CASES:
    members = _case_members(cases, c, sample_mask)
    stats[f'omega1/case{c}'] = _masked_mean(omega[:, 0], members)
    stats[f'omega2/case{c}'] = _masked_mean(omega[:, 1], members)
    stats[f'count/case{c}'] = jnp.sum(members)
  return stats
