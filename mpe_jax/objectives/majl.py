"""MAJL: two jointly trained tasks, weighted per sample (Wei et al., MM 2024).

Every sample carries three pitch maps: ``P_pred`` (pitch estimated from the
predicted source), the ground truth ``Y`` and ``P_tgt`` (pitch estimated from
the true source). Whether ``P_pred`` and ``P_tgt`` match ``Y``
(``config.dwhs.correctness``) puts the sample in one of the four cases of
the paper's Table 1, and the two task losses of the sample are weighted by
``omega [B, 2]`` (column 0 task 1, column 1 task 2; Eq. 14, and Eq. 15 with
per-frame confidence masks for pseudo-labels):

  total = mean_b(omega_b1 L1_b + omega_b2 L2_b) + w_dwhs L_dwhs

``config.dwhs.method`` picks omega: 'dwhs' (the Dynamic Weight Module
``model.dwm`` on ``stop_gradient([P_pred, Y, P_tgt])``, trained by the case
losses Eqs. 9-13), 'naive' (the fixed rule of Table 6) or 'none' (omega = 1:
naive joint learning, Eq. 3). With ``config.dwhs.grad_to_dwm`` False (the
default) omega is a constant inside Eq. 14, so the DWM learns from L_dwhs
alone: with the gradient it could lower the weighted task loss by shrinking
every weight, against the case losses. Items without labels belong to no
case (they are left out of L_dwhs and of the logged case statistics) and
keep omega = 1.

Two instantiations:

* ``separation_losses`` ('majl_separation'; Timbre-Trap backbone ``F(X, s)``
  on complex CQT coefficients, s = 1 separate, s = 0 transcribe). The
  mixture is the clean pitched audio plus drums at a volume
  ``v ~ U(0, augment.percussion.max_volume)`` per item. Task 1 (separation):
  ``S = F(X_mix, 1)`` against the clean coefficients, per-item squared error
  (Timbre-Trap's reconstruction loss). Task 2 (pitch, the cascade of the
  paper's joint cascade framework): ``P_pred = tanh|F(S, 0)|`` against the
  labels with Timbre-Trap's gamma-balanced transcription loss, labelled items
  only; its gradient reaches the separation through ``S``.
  ``P_tgt = tanh|F(X_clean, 0)|`` is computed without gradient and gets no
  loss (as in the paper: it only decides the cases).
* ``salience_losses`` ('majl_salience'; the ISMIR 2025 HCQT setting). Task 1:
  the enabled self-supervised terms of ``salience.py`` (energy group,
  timbre, geometric, percussion), per item; task 2: the supervised BCE of the
  labelled (or pseudo-labelled) items. ``P_pred`` is the salience of the
  percussion-mixed (or EQ'd: ``config.dwhs.predicted_input``) input,
  ``P_tgt`` that of the clean input.

Per-item task losses are scaled so that their batch mean equals the batch
loss of the single-task system (a loss averaged over labelled items only is
scaled by ``B / n_labelled`` on those items): with omega = 1 the total equals
the plain sum of the terms. Parts returned: the task losses (batch means),
``weighted_tasks`` (the Eq. 14 mean), ``dwhs`` (Eq. 13; 0 unless 'dwhs') and
statistics named ``dwhs/omega1/case<c>``, ``dwhs/omega2/case<c>``,
``dwhs/count/case<c>`` that the train step logs as they are (never summed).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from mpe_jax.augment import mixing
from mpe_jax.features import cqt as cqt_lib
from mpe_jax.features import hcqt as hcqt_lib
from mpe_jax.models import dwm_enabled
from mpe_jax.objectives import confidence as confidence_lib
from mpe_jax.objectives import dwhs
from mpe_jax.objectives import salience as salience_lib
from mpe_jax.objectives import supervised
from mpe_jax.objectives import timbre_trap as tt
from mpe_jax.objectives.reductions import bce_with_logits

METHODS = ('dwhs', 'naive', 'none')
SEPARATION_TERMS = ('separation', 'pitch', 'dwhs')
PREDICTED_INPUTS = ('percussion', 'timbre')
CORRECTNESS_METRICS = ('f1', 'rpa')
PSEUDO_SOURCE = 'pseudo_labels/train'
# Multi-pitch scores of the cascade on the drum mixture (prefixed 'mix_').
MIX_SCORES = ('precision', 'recall', 'accuracy', 'f1', 'rpa', 'rca')


# ------------------------------------------------------------ shared parts


def label_frame_mask(batch: Mapping[str, jax.Array],
                     config: ml_collections.ConfigDict) -> jax.Array:
  """Per-frame label mask ``[B, T_label]`` float32 (Eq. 8 filter).

  1 where the label's confidence (``batch['label_confidence']``; 1 for
  ground truth, and for every frame of batches without the key) reaches
  ``config.dwhs.confidence_threshold``, else 0.
  """
  if 'label_confidence' in batch:
    conf = jnp.asarray(batch['label_confidence'], jnp.float32)
  else:
    labels = batch['labels']
    conf = jnp.ones((labels.shape[0], labels.shape[-1]), jnp.float32)
  return confidence_lib.confidence_mask(conf,
                                        config.dwhs.confidence_threshold)


def scale_to_items(values: jax.Array, item_mask: jax.Array) -> jax.Array:
  """``[B]`` per-item losses -> zero outside ``item_mask``, times
  ``B / max(n_selected, 1)``: their batch mean is the mean over the
  selected items."""
  m = item_mask.astype(values.dtype)
  return values * m * (m.shape[0] / jnp.maximum(jnp.sum(m), 1.0))


def weigh_tasks(model: Any, task_losses: jax.Array, pred_pitch: jax.Array,
                truth: jax.Array, target_pitch: jax.Array,
                item_mask: jax.Array, frame_mask: jax.Array,
                config: ml_collections.ConfigDict
                ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
  """Cases, omega, Eq. 14 and Eq. 13 for one batch.

  Args:
    model: the backbone; with method 'dwhs' it carries ``model.dwm``.
    task_losses: ``[B, 2]`` per-item losses (task 1, task 2), already
      confidence-masked and scaled.
    pred_pitch: ``P_pred`` ``[B, K, T]`` in [0, 1].
    truth: ``Y`` ``[B, K, T]`` (0/1).
    target_pitch: ``P_tgt`` ``[B, K, T]`` in [0, 1].
    item_mask: ``[B]`` 1 for items with (pseudo-)labels; the others get no
      case and omega = 1.
    frame_mask: ``[B, T]`` frames whose labels decide correctness.
    config: ``dwhs`` (method, correctness, naive rule, grad_to_dwm).

  Returns:
    (``mean_b(omega_b . L_b)``, L_dwhs (0 unless 'dwhs'), the case
    statistics named ``dwhs/...``).
  """
  c = config.dwhs
  stop = jax.lax.stop_gradient
  pred_pitch, truth, target_pitch = (stop(m.astype(jnp.float32)) for m in
                                     (pred_pitch, truth, target_pitch))
  labelled = item_mask > 0
  cases = dwhs.assign_cases(
      dwhs.is_correct(pred_pitch, truth, c.correctness,
                      frame_mask=frame_mask),
      dwhs.is_correct(target_pitch, truth, c.correctness,
                      frame_mask=frame_mask))
  cases = jnp.where(labelled, cases, 0)  # 0: no case
  batch_size = task_losses.shape[0]
  if c.method == 'dwhs':
    omega = model.dwm(jnp.stack([pred_pitch, truth, target_pitch], axis=1))
  elif c.method == 'naive':
    omega = dwhs.naive_weights(cases, truth, pred_pitch, target_pitch,
                               omega_noise=c.omega_noise,
                               upper_bound=c.upper_bound)
  else:
    omega = jnp.ones((batch_size, 2), jnp.float32)
  omega = jnp.where(labelled[:, None], omega, 1.0)
  weighted = dwhs.weighted_task_loss(task_losses, omega,
                                     grad_to_dwm=bool(c.grad_to_dwm))
  case_loss = (dwhs.dwhs_loss(omega, cases, labelled.astype(jnp.float32))
               if c.method == 'dwhs' else jnp.zeros((), jnp.float32))
  stats = {f'dwhs/{k}': v
           for k, v in dwhs.omega_case_stats(omega, cases).items()}
  return weighted, case_loss, stats


def _total(weighted: jax.Array, case_loss: jax.Array,
           config: ml_collections.ConfigDict) -> jax.Array:
  return weighted + float(config.loss_weights.dwhs) * case_loss


# ------------------------------------------------ 'majl_separation' (CQT)


def transcription_per_item(salience: jax.Array, targets: jax.Array,
                           item_mask: jax.Array, frame_mask: jax.Array, *,
                           scope: str = 'batch') -> jax.Array:
  """Timbre-Trap's transcription loss per item, ``[B]`` (scaled).

  ``gamma * (Y - P) ** 2`` summed over bins, times the frame mask
  ``[B, T]``, averaged over all frames; then ``scale_to_items``. The
  balancing sums (``scope='batch'``) run over the kept frames of labelled
  items. Without masked frames the batch mean equals
  ``timbre_trap.transcription_loss``.
  """
  keep = item_mask.astype(jnp.float32)[:, None] * frame_mask  # [B, T]
  y = targets
  if scope == 'batch':
    pos = jnp.sum(y * keep[:, None, :])
    neg = jnp.sum((1.0 - y) * keep[:, None, :])
    weight = jnp.where(pos > 0, neg / jnp.where(pos > 0, pos, 1.0), 1.0)
    gamma = jax.lax.stop_gradient(y * weight + (1.0 - y))
  else:
    gamma = tt.balancing_weights(y, scope=scope)
  per_frame = jnp.sum(gamma * jnp.square(y - salience), axis=-2)  # [B, T]
  values = jnp.mean(per_frame * frame_mask, axis=-1)
  return scale_to_items(values, item_mask)


def _cqt_frame_mask(frame_mask: jax.Array, cqt: cqt_lib.CQT, n_frames: int,
                    config: ml_collections.ConfigDict) -> jax.Array:
  """Label-frame mask ``[B, T_label]`` -> CQT frames ``[B, T]`` (nearest;
  frames past the last label frame are kept)."""
  grid = config.hcqt
  index = tt.label_frame_index(n_frames,
                               cqt.hop_length / cqt.config.sample_rate,
                               frame_mask.shape[-1],
                               grid.hop_length / grid.sample_rate)
  taken = jnp.take(frame_mask, np.maximum(index, 0), axis=1)
  return jnp.where(jnp.asarray(index >= 0)[None], taken, 1.0)


def separation_losses(model: Any, batch: Mapping[str, jax.Array],
                      key: jax.Array, cqt: cqt_lib.CQT,
                      config: ml_collections.ConfigDict
                      ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Total loss and its parts for 'majl_separation' (module docstring).

  Args:
    model: the switchable autoencoder (``model(x, switch)``; ``model.dwm``
      with method 'dwhs').
    batch: ``audio [B, N]`` (the clean pitched source), ``drums [B, N]``,
      ``labels [B, K_l, T_l]`` and ``has_label [B]``, optionally
      ``label_confidence [B, T_l]``.
    key: PRNG key of this step (drum volumes).
    cqt: the transform.
    config: ``loss_weights`` (separation, pitch, dwhs), ``dwhs``,
      ``augment.percussion``, ``objectives.gamma_scope``.
  """
  rep = config.cqt.representation
  w = config.loss_weights
  clean = batch['audio']
  volume = mixing.sample_volumes(key, clean.shape[0],
                                 config.augment.percussion.max_volume)
  mixture = mixing.mix(clean, batch['drums'], volume)
  x_clean = tt.model_input(cqt, clean, config)  # [B, 2, K, T]
  x_mix = tt.model_input(cqt, mixture, config)
  n_frames = x_clean.shape[-1]
  targets, item_mask = tt.batch_targets(batch, cqt, n_frames, config)
  frames = _cqt_frame_mask(label_frame_mask(batch, config), cqt, n_frames,
                           config)

  separated = tt.output_coefficients(model(x_mix, 1.0), rep)
  sep_loss = jnp.mean(jnp.sum(jnp.square(separated - x_clean), axis=(1, 2)),
                      axis=-1)  # [B]
  pred_pitch = tt.to_salience(
      tt.output_coefficients(model(separated, 0.0), rep), rep)
  pitch_loss = transcription_per_item(pred_pitch, targets, item_mask, frames,
                                      scope=config.objectives.gamma_scope)
  target_pitch = jax.lax.stop_gradient(tt.to_salience(
      tt.output_coefficients(model(x_clean, 0.0), rep), rep))

  task = jnp.stack([float(w.separation) * sep_loss,
                    float(w.pitch) * pitch_loss], axis=-1)
  weighted, case_loss, stats = weigh_tasks(
      model, task, pred_pitch, targets, target_pitch, item_mask, frames,
      config)
  parts = {'separation': jnp.mean(sep_loss), 'pitch': jnp.mean(pitch_loss),
           'weighted_tasks': weighted, 'dwhs': case_loss}
  parts.update(stats)
  return _total(weighted, case_loss, config), parts


def cascade_salience(model: Any, audio: jax.Array, cqt: cqt_lib.CQT,
                     config: ml_collections.ConfigDict) -> jax.Array:
  """Audio ``[B, N]`` -> salience ``[B, K, T]``: separate, then transcribe
  the separated coefficients (``tanh|F(F(X, 1), 0)|``), bins above
  ``config.eval.max_frequency`` zeroed, padding frames dropped."""
  rep = config.cqt.representation
  x = tt.model_input(cqt, audio, config)
  separated = tt.output_coefficients(model(x, 1.0), rep)
  coef = tt.output_coefficients(model(separated, 0.0), rep)
  return tt.finish_salience(tt.to_salience(coef, rep), cqt, config,
                            audio.shape[-1])


def separate(model: Any, audio: jax.Array, cqt: cqt_lib.CQT,
             config: ml_collections.ConfigDict) -> jax.Array:
  """Audio ``[B, N]`` -> the separated pitched source ``[B, N]`` (the
  inverse CQT of ``F(X, 1)``; band-limited to the CQT range)."""
  x = tt.model_input(cqt, audio, config)
  separated = tt.output_coefficients(model(x, 1.0), 'complex')
  return cqt_lib.icqt(cqt, separated, num_samples=audio.shape[-1])


def make_separation_metrics(graphdef: nnx.GraphDef, cqt: cqt_lib.CQT,
                            config: ml_collections.ConfigDict, *,
                            drums: Callable[[str, int, int], np.ndarray]
                            ) -> Callable[[Any, Any], dict[str, float]]:
  """``(params, track) -> scores`` on the track mixed with drums.

  ``drums(track name, samples, sample rate)`` is the drum excerpt mixed into
  a track (``data_pipelines.generated.synthetic_drums.eval_drums``: a pure function of
  the name). The clean track plus ``config.eval.drum_volume`` times it, in
  dB: ``sdr`` of the separated source against the clean track,
  ``sdr_mixture`` (the unprocessed mixture against the clean track) and
  their difference ``nsdr``; and the cascade's pitch on the mixture:
  multi-pitch scores (``MIX_SCORES``) and single-pitch RPA / RCA against the
  lowest reference pitch of each frame, prefixed ``mix_``.
  """
  from mpe_jax.evaluation import melody, multipitch, separation  # pylint: disable=g-import-not-at-top

  @jax.jit
  def run(params, mixture):
    model = nnx.merge(graphdef, params)
    return (separate(model, mixture, cqt, config),
            cascade_salience(model, mixture, cqt, config))

  bin_freqs = cqt.bin_frequencies()

  def metrics(params, track) -> dict[str, float]:
    clean = np.asarray(track.audio, np.float32)
    mixture = clean + np.float32(config.eval.drum_volume) * drums(
        track.name, clean.size, cqt.config.sample_rate)
    sep, sal = run(params, jnp.asarray(mixture)[None])
    sep, sal = np.asarray(sep)[0], np.asarray(sal)[0]
    est_freqs = multipitch.salience_to_multipitch(sal, bin_freqs,
                                                  config.eval.threshold)
    times = cqt.frame_times(sal.shape[-1])
    scores = multipitch.evaluate_multipitch(track.ref_times, track.ref_freqs,
                                            times, est_freqs)
    scores.update(melody.evaluate_salience(
        sal, bin_freqs, times, track.ref_times,
        melody.reference_from_multipitch(track.ref_freqs),
        threshold=config.eval.threshold))
    out = {f'mix_{k}': scores[k] for k in MIX_SCORES}
    out['sdr'] = separation.sdr(clean, sep)
    out['sdr_mixture'] = separation.sdr(clean, mixture)
    out['nsdr'] = separation.nsdr(clean, sep, mixture)
    return out

  return metrics


def separation_set_metrics(scores: list[dict[str, float]],
                           tracks: list) -> dict[str, float]:
  """``{'gnsdr'}``: the tracks' ``nsdr`` weighted by their length (dB)."""
  from mpe_jax.evaluation import separation  # pylint: disable=g-import-not-at-top
  return {'gnsdr': separation.gnsdr([s['nsdr'] for s in scores],
                                    [np.size(t.audio) for t in tracks])}


# ------------------------------------------------ 'majl_salience' (HCQT)


def salience_losses(model: Any, batch: Mapping[str, jax.Array],
                    key: jax.Array, filterbank: hcqt_lib.Filterbank,
                    config: ml_collections.ConfigDict
                    ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Total loss and its parts for 'majl_salience' (module docstring).

  Args:
    model: the salience autoencoder (``model(features)``; ``model.dwm`` with
      method 'dwhs').
    batch: ``audio [B, N]``, ``labels [B, K, T]``, ``has_label [B]``,
      ``drums [B, N]`` for percussion, optionally ``label_confidence
      [B, T]``.
    key: PRNG key of this step's augmentations.
    filterbank: the HCQT.
    config: ``loss_weights`` (the salience terms and dwhs), ``dwhs``,
      ``augment``, ``objectives``.
  """
  weights = {t: float(config.loss_weights.get(t, 0.0))
             for t in salience_lib.TERMS}
  ss_terms = tuple(t for t in salience_lib.enabled_terms(weights)
                   if t != 'supervised')
  fwd = salience_lib.forward(model, batch, key, filterbank, config,
                             terms=ss_terms)
  per_item = salience_lib.term_losses(fwd, batch, config,
                                      per_item_values=True)
  ss_loss = sum(weights[t] * per_item[t] for t in ss_terms)  # [B]

  labelled = batch['has_label'].astype(jnp.float32)
  frames = label_frame_mask(batch, config)  # [B, T]
  clean = fwd.logits['clean']
  targets = supervised.blur_targets(batch['labels'],
                                    config.objectives.target_sigma_bins)
  bce = jnp.sum(bce_with_logits(clean, targets), axis=-2)  # [B, T]
  sup_loss = scale_to_items(jnp.mean(bce * frames, axis=-1), labelled)

  task = jnp.stack([ss_loss, weights['supervised'] * sup_loss], axis=-1)
  weighted, case_loss, stats = weigh_tasks(
      model, task, jax.nn.sigmoid(fwd.logits[config.dwhs.predicted_input]),
      batch['labels'], jax.nn.sigmoid(clean), labelled, frames, config)
  parts = {t: jnp.mean(per_item[t]) for t in ss_terms}
  parts.update({'supervised': jnp.mean(sup_loss),
                'self_supervised': jnp.mean(ss_loss),
                'weighted_tasks': weighted, 'dwhs': case_loss})
  parts.update(stats)
  return _total(weighted, case_loss, config), parts


# -------------------------------------------------------------- validation


def excerpt_samples(config: ml_collections.ConfigDict) -> int:
  """Samples of a training excerpt."""
  return int(round(config.data.excerpt_seconds * config.hcqt.sample_rate))


def validate_common(config: ml_collections.ConfigDict, *, n_bins: int,
                    n_frames: Callable[[], int]) -> None:
  """One-line errors for the MAJL settings shared by both systems.

  ``n_bins`` and ``n_frames()`` are the salience grid of a training excerpt
  (what a 'flatten' DWM must be built for).
  """
  c = config.dwhs
  if c.method not in METHODS:
    raise ValueError(f'config.dwhs.method must be one of {METHODS}, got '
                     f'{c.method!r}.')
  has_dwm = dwm_enabled(config.model)
  if (c.method == 'dwhs') != has_dwm:
    raise ValueError(f"config.dwhs.method={c.method!r} needs "
                     f'config.model.dwm.enabled={c.method == "dwhs"} (only '
                     "'dwhs' builds and trains a Dynamic Weight Module).")
  if has_dwm:
    d = config.model.dwm
    if not float(config.optim.dwm_lr) > 0:
      raise ValueError(f'config.optim.dwm_lr must be > 0, got '
                       f'{config.optim.dwm_lr}.')
    if d.pooling == 'flatten' and (int(d.n_bins), int(d.n_frames)) != (
        n_bins, n_frames()):
      raise ValueError(
          f"config.model.dwm.pooling='flatten' is built for n_bins="
          f'{d.n_bins}, n_frames={d.n_frames} but a training excerpt gives '
          f'{n_bins} bins x {n_frames()} frames; set them to match (or use '
          "pooling='mean').")
  k = c.correctness
  if k.metric not in CORRECTNESS_METRICS:
    raise ValueError(f'config.dwhs.correctness.metric must be one of '
                     f'{CORRECTNESS_METRICS}, got {k.metric!r}.')
  if not 0.0 < float(k.threshold) < 1.0:
    raise ValueError(f'config.dwhs.correctness.threshold must lie in (0, 1), '
                     f'got {k.threshold}.')
  if not 0.0 <= float(k.min_score) <= 1.0 or int(k.tolerance_bins) < 0:
    raise ValueError('config.dwhs.correctness needs min_score in [0, 1] and '
                     f'tolerance_bins >= 0, got {k.min_score} and '
                     f'{k.tolerance_bins}.')
  if not 0.0 < float(c.confidence_threshold) <= 1.0:
    raise ValueError(f'config.dwhs.confidence_threshold must lie in (0, 1], '
                     f'got {c.confidence_threshold}.')
  if c.method == 'naive' and not (0.0 <= float(c.omega_noise) <= 1.0
                                  and float(c.upper_bound) >= 1.0):
    raise ValueError(f'config.dwhs.omega_noise must lie in [0, 1] and '
                     f'upper_bound be >= 1, got {c.omega_noise} and '
                     f'{c.upper_bound}.')
  if float(config.loss_weights.dwhs) < 0:
    raise ValueError(f'config.loss_weights.dwhs must be >= 0, got '
                     f'{config.loss_weights.dwhs}.')
  sources = (tuple(config.data.mixture.sources)
             if config.data.train_source == 'mixture' else ())
  if PSEUDO_SOURCE in sources and not config.data.pseudo_label_dir:
    raise ValueError(
        f"'{PSEUDO_SOURCE}' is a training source but "
        'config.data.pseudo_label_dir is empty: make pseudo-labels with '
        '`python -m mpe_jax.pseudo_label --checkpoint=STAGE1_WORKDIR ...` '
        'and pass --config.data.pseudo_label_dir=DIR.')


def validate_separation(config: ml_collections.ConfigDict) -> None:
  """One-line errors for configs that do not fit 'majl_separation'."""
  names = set(config.loss_weights)
  if names != set(SEPARATION_TERMS):
    raise ValueError(f'config.loss_weights must set exactly '
                     f'{list(SEPARATION_TERMS)} for majl_separation, got '
                     f'{sorted(names)}.')
  tt.validate_backbone(config)
  if config.cqt.representation != 'complex':
    raise ValueError("majl_separation separates complex CQT coefficients: "
                     "set config.cqt.representation='complex'.")
  if not config.data.drum_source:
    raise ValueError('majl_separation mixes drums into every item: set '
                     "config.data.drum_source (e.g. 'synthetic_drums/train').")
  if not float(config.eval.drum_volume) >= 0:
    raise ValueError(f'config.eval.drum_volume must be >= 0, got '
                     f'{config.eval.drum_volume}.')

  def n_frames() -> int:
    cqt = cqt_lib.make_cqt(cqt_lib.CQTConfig.from_config(config.cqt))
    return cqt.num_frames(excerpt_samples(config))

  validate_common(config, n_bins=int(config.model.n_bins), n_frames=n_frames)


def validate_salience(config: ml_collections.ConfigDict) -> None:
  """One-line errors for the MAJL part of a 'majl_salience' config (the
  HCQT/model match is checked by the system)."""
  names = set(config.loss_weights)
  expected = set(salience_lib.TERMS) | {'dwhs'}
  if not expected - set(salience_lib.OPTIONAL_TERMS) <= names <= expected:
    raise ValueError(f'config.loss_weights must set exactly '
                     f'{sorted(expected)} for majl_salience, got '
                     f'{sorted(names)}.')
  weights = {t: float(config.loss_weights.get(t, 0.0))
             for t in salience_lib.TERMS}
  terms = salience_lib.enabled_terms(weights)
  if 'supervised' not in terms or len(terms) < 2:
    raise ValueError('majl_salience weighs two tasks: set '
                     'config.loss_weights.supervised and at least one '
                     'self-supervised term to non-zero values.')
  if config.dwhs.predicted_input not in PREDICTED_INPUTS:
    raise ValueError(f'config.dwhs.predicted_input must be one of '
                     f'{PREDICTED_INPUTS}, got '
                     f'{config.dwhs.predicted_input!r}.')
  if config.dwhs.predicted_input not in terms:
    raise ValueError(f'config.dwhs.predicted_input='
                     f'{config.dwhs.predicted_input!r} reads that term\'s '
                     f'input: set config.loss_weights.'
                     f'{config.dwhs.predicted_input} to a non-zero value.')
  if 'percussion' in terms and not config.data.drum_source:
    raise ValueError('the percussion term needs drums: set '
                     "config.data.drum_source (e.g. 'synthetic_drums/train').")
  n = excerpt_samples(config)
  validate_common(config, n_bins=int(config.hcqt.n_bins),
                  n_frames=lambda: 1 + n // int(config.hcqt.hop_length))
