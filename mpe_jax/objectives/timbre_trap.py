"""Timbre-Trap objectives: reconstruction, transcription and consistency.

With the model ``F(X, s)`` (``s = 1`` reconstruct, ``s = 0`` transcribe) on
CQT coefficients ``X [B, 2, K, T]`` (real, imaginary):

* reconstruction ``L_rc(X, F(X, 1))``: squared error summed over channels and
  bins, averaged over frames and items (every item, labelled or not);
* transcription ``L_tr``: ``gamma * (Y - tanh|F(X, 0)|) ** 2`` summed over
  bins, averaged over frames and labelled items, with the balancing tensor
  ``gamma = Y * sum(1 - Y) / sum(Y) + (1 - Y)`` (paper eq. 1; sums over the
  labelled batch, ``gamma_scope='batch'``, the paper's code; or per frame,
  ``'frame'``, the later released code; no re-weighting without positives);
* consistency ``L_cc = L_rc(Z, F(Z, 0)) + L_rc(Z, F(Z, 1))`` with the
  transcription coefficients ``Z = F(X, 0)`` fed back in (paper eq. 3;
  labelled items only, as in the released code; gradients flow through the
  target ``Z`` unless ``objectives.stop_gradient_targets``).

The magnitude-CQT variant (``cqt.representation='magnitude_db'``) replaces
``X`` by the per-item normalised dB magnitude ``[B, 1, K, T]`` in [0, 1] and
puts a sigmoid on the model output in both modes (salience = the transcription
output itself).

Ground truth arrives on the data pipeline's HCQT label grid (``config.hcqt``:
bin ``j`` at ``fmin_l 2 ** (j / bpo_l)``, frame ``n`` at ``n hop_l / sr``).
It is moved to the CQT grid by a fixed nearest-neighbour mapping computed on
the host from static shapes: label bin ``j`` goes to the CQT bin nearest its
frequency (27.5 Hz vs 21.53 Hz: a shift of 21 bins, 3.4 cents off) and CQT
frame ``m`` reads the label frame nearest its time (frames past the last
label frame, i.e. slice padding, are silent).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from mpe_jax.features import cqt as cqt_lib
from mpe_jax.objectives import combine as combine_lib
from mpe_jax.objectives.reductions import reduce_map

# Every term this module can compute, in logging order.
TERMS = ('reconstruction', 'transcription', 'consistency')
REPRESENTATIONS = ('complex', 'magnitude_db')
GAMMA_SCOPES = ('batch', 'frame')


def enabled_terms(weights: Mapping[str, float]) -> tuple[str, ...]:
  """Terms with a non-zero weight; unknown names raise a one-line error."""
  unknown = sorted(set(weights) - set(TERMS))
  if unknown:
    raise ValueError(f'config.loss_weights has unknown terms {unknown}; '
                     f'valid Timbre-Trap terms: {list(TERMS)}')
  return tuple(t for t in TERMS if float(weights[t]) != 0.0)


# ------------------------------------------------------------ label mapping


def label_bin_index(cqt_freqs: np.ndarray, *, fmin: float,
                    bins_per_octave: int, n_bins: int) -> np.ndarray:
  """For each CQT bin, the label bin that maps to it (-1: none), ``[K]``.

  Label bin ``j`` (centre ``fmin 2 ** (j / bins_per_octave)``) maps to the CQT
  bin whose centre is nearest in log frequency. Label grids finer than the
  CQT grid would map several label bins to one CQT bin and are refused.
  """
  cqt_freqs = np.asarray(cqt_freqs, np.float64)
  cqt_bpo = 1.0 / np.mean(np.diff(np.log2(cqt_freqs)))
  if bins_per_octave > cqt_bpo + 1e-6:
    raise ValueError(f'label grid ({bins_per_octave} bins/octave) is finer '
                     f'than the CQT ({cqt_bpo:.0f} bins/octave).')
  label_freqs = fmin * 2.0 ** (np.arange(n_bins) / bins_per_octave)
  pos = cqt_bpo * np.log2(label_freqs / cqt_freqs[0])
  target = np.round(pos).astype(np.int64)
  index = np.full(len(cqt_freqs), -1, np.int64)
  inside = (target >= 0) & (target < len(cqt_freqs))
  index[target[inside]] = np.arange(n_bins)[inside]
  return index


def label_frame_index(n_frames: int, hop_seconds: float, n_label_frames: int,
                      label_hop_seconds: float) -> np.ndarray:
  """For each CQT frame, the nearest label frame (-1 past the last), ``[T]``."""
  nearest = np.round(np.arange(n_frames) * hop_seconds /
                     label_hop_seconds).astype(np.int64)
  return np.where(nearest < n_label_frames, nearest, -1)


def labels_to_cqt(labels: jax.Array, bin_index: np.ndarray,
                  frame_index: np.ndarray) -> jax.Array:
  """``[B, K_l, T_l]`` labels -> float32 ``[B, K, T]`` on the CQT grid."""
  x = jnp.take(jnp.asarray(labels), np.maximum(bin_index, 0), axis=1)
  x = jnp.take(x, np.maximum(frame_index, 0), axis=2).astype(jnp.float32)
  valid = (bin_index >= 0)[:, None] & (frame_index >= 0)[None, :]
  return jnp.where(jnp.asarray(valid)[None], x, 0.0)


def batch_targets(batch: Mapping[str, jax.Array], cqt: cqt_lib.CQT,
                  n_frames: int, config: ml_collections.ConfigDict
                  ) -> tuple[jax.Array, jax.Array]:
  """(targets ``[B, K, T]`` on the CQT grid, item mask ``[B]`` float32).

  A batch without ``labels`` (e.g. validation audio) is entirely unlabelled.
  """
  batch_size = batch['audio'].shape[0]
  if 'labels' not in batch:
    return (jnp.zeros((batch_size, cqt.n_bins, n_frames), jnp.float32),
            jnp.zeros((batch_size,), jnp.float32))
  grid = config.hcqt
  labels = batch['labels']
  bins = label_bin_index(cqt.bin_frequencies(), fmin=grid.fmin,
                         bins_per_octave=grid.bins_per_octave,
                         n_bins=labels.shape[1])
  frames = label_frame_index(n_frames, cqt.hop_length / cqt.config.sample_rate,
                             labels.shape[2],
                             grid.hop_length / grid.sample_rate)
  mask = jnp.asarray(batch['has_label']).astype(jnp.float32)
  return labels_to_cqt(labels, bins, frames), mask


# ------------------------------------------------------------------ losses


def balancing_weights(targets: jax.Array, item_mask: jax.Array | None = None,
                      *, scope: str = 'batch') -> jax.Array:
  """``gamma = Y * sum(1 - Y) / sum(Y) + (1 - Y)``, ``[B, K, T]``.

  ``scope='batch'`` sums over every bin, frame and (masked) item; ``'frame'``
  sums over the bins of each frame. Where the sum of ``Y`` is 0 the positive
  weight is 1 (nothing to balance).
  """
  y = targets
  if scope == 'batch':
    m = (jnp.ones(y.shape[:1], y.dtype) if item_mask is None
         else item_mask.astype(y.dtype))[:, None, None]
    pos = jnp.sum(y * m)
    neg = jnp.sum((1.0 - y) * m)
  elif scope == 'frame':
    pos = jnp.sum(y, axis=-2, keepdims=True)
    neg = jnp.sum(1.0 - y, axis=-2, keepdims=True)
  else:
    raise ValueError(f'gamma scope must be one of {GAMMA_SCOPES}, got '
                     f'{scope!r}')
  weight = jnp.where(pos > 0, neg / jnp.where(pos > 0, pos, 1.0), 1.0)
  return jax.lax.stop_gradient(y * weight + (1.0 - y))


def transcription_loss(salience: jax.Array, targets: jax.Array,
                       item_mask: jax.Array | None = None, *,
                       scope: str = 'batch') -> jax.Array:
  """``gamma * (Y - Y') ** 2``: sum over bins, mean over frames and items."""
  gamma = balancing_weights(targets, item_mask, scope=scope)
  return reduce_map(gamma * jnp.square(targets - salience), item_mask)


def reconstruction_loss(output: jax.Array, target: jax.Array,
                        item_mask: jax.Array | None = None) -> jax.Array:
  """Squared error of ``[B, C, K, T]`` maps: sum over C and K, mean over T, B."""
  return reduce_map(jnp.sum(jnp.square(output - target), axis=1), item_mask)


# ------------------------------------------------------ model input/output


def model_input(cqt: cqt_lib.CQT, audio: jax.Array,
                config: ml_collections.ConfigDict) -> jax.Array:
  """Audio ``[B, N]`` -> model input ``[B, C, K, T]`` (and target of L_rc)."""
  coef = cqt_lib.cqt_transform(cqt, audio)  # [B, 2, K, T]
  if config.cqt.representation == 'complex':
    return coef
  db = cqt_lib.to_decibels(cqt_lib.magnitude(coef), top_db=config.cqt.top_db)
  return db[:, None]


def output_coefficients(raw: jax.Array, representation: str) -> jax.Array:
  """Model output -> coefficients ``[B, C, K, T]`` (sigmoid for dB maps)."""
  if raw.ndim == 3:
    raw = raw[:, None]
  return jax.nn.sigmoid(raw) if representation == 'magnitude_db' else raw


def to_salience(coefficients: jax.Array, representation: str) -> jax.Array:
  """Transcription coefficients ``[B, C, K, T]`` -> salience ``[B, K, T]``."""
  if representation == 'magnitude_db':
    return coefficients[:, 0]
  return jnp.tanh(cqt_lib.magnitude(coefficients))


def _decode_modes(model, z, skips, modes: tuple[float, ...],
                  representation: str) -> list[jax.Array]:
  """Decodes one encoding in several modes with one (batched) decoder call."""
  n = len(modes)
  switch = jnp.repeat(jnp.asarray(modes, jnp.float32), z.shape[0])
  zz = jnp.concatenate([z] * n, axis=0)
  ss = None if skips is None else [jnp.concatenate([s] * n, axis=0)
                                   for s in skips]
  out = output_coefficients(model.decode(zz, switch, ss), representation)
  return jnp.split(out, n, axis=0)


def compute_losses(model, batch: Mapping[str, jax.Array], key: jax.Array,
                   cqt: cqt_lib.CQT, config: ml_collections.ConfigDict
                   ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Total loss and its named parts for one batch.

  Args:
    model: the switchable autoencoder (``encode``/``decode``).
    batch: ``audio [B, N]``; optionally ``labels [B, K_l, T_l]`` on the
      ``config.hcqt`` grid and ``has_label [B]``.
    key: unused (no random augmentation).
    cqt: the transform (``make_frontend``).
    config: ``loss_weights``, ``cqt``, ``hcqt`` (label grid), ``objectives``.
  """
  del key
  weights = dict(config.loss_weights)
  terms = enabled_terms(weights)
  rep = config.cqt.representation
  x = model_input(cqt, batch['audio'], config)  # [B, C, K, T]
  targets, mask = batch_targets(batch, cqt, x.shape[-1], config)
  z, skips = model.encode(x)
  modes = (((1.0,) if 'reconstruction' in terms else ()) +
           ((0.0,) if {'transcription', 'consistency'} & set(terms) else ()))
  outs = dict(zip(modes, _decode_modes(model, z, skips, modes, rep)))

  parts = {}
  if 'reconstruction' in terms:
    parts['reconstruction'] = reconstruction_loss(outs[1.0], x)
  if 'transcription' in terms:
    parts['transcription'] = transcription_loss(
        to_salience(outs[0.0], rep), targets, mask,
        scope=config.objectives.gamma_scope)
  if 'consistency' in terms:
    coef = outs[0.0]
    target = (jax.lax.stop_gradient(coef)
              if config.objectives.stop_gradient_targets else coef)
    z2, skips2 = model.encode(coef)
    rec2, trn2 = _decode_modes(model, z2, skips2, (1.0, 0.0), rep)
    parts['consistency'] = (reconstruction_loss(rec2, target, mask) +
                            reconstruction_loss(trn2, target, mask))
  return combine_lib.combine(parts, weights)


# --------------------------------------------------------------- inference


def _valid_frames(cqt: cqt_lib.CQT, num_samples: int) -> int:
  """Frames whose time is inside the (unpadded) audio."""
  return min(cqt.num_frames(num_samples),
             math.ceil(num_samples / cqt.hop_length))


def salience(model, audio: jax.Array, cqt: cqt_lib.CQT,
             config: ml_collections.ConfigDict) -> jax.Array:
  """Audio ``[B, N]`` -> salience ``[B, K, T]`` in [0, 1] (transcription mode).

  Bins above ``config.eval.max_frequency`` are zeroed (mir_eval ignores
  pitches above 5 kHz; the released evaluation does the same), and frames of
  the slice padding are dropped.
  """
  rep = config.cqt.representation
  x = model_input(cqt, audio, config)
  coef = output_coefficients(model(x, 0.0), rep)
  return finish_salience(to_salience(coef, rep), cqt, config,
                         audio.shape[-1])


def finish_salience(sal: jax.Array, cqt: cqt_lib.CQT,
                    config: ml_collections.ConfigDict,
                    num_samples: int) -> jax.Array:
  """Salience ``[B, K, T]`` of ``num_samples`` of audio -> what evaluation
  reads: bins above ``config.eval.max_frequency`` zeroed, slice padding
  frames dropped."""
  keep = cqt.bin_frequencies() <= config.eval.max_frequency
  sal = sal * jnp.asarray(keep, sal.dtype)[None, :, None]
  return sal[..., :_valid_frames(cqt, num_samples)]


def resynthesize(model, audio: jax.Array, cqt: cqt_lib.CQT,
                 config: ml_collections.ConfigDict) -> dict[str, jax.Array]:
  """Audio ``[B, N]`` -> ``{'reconstruction', 'timbreless'}`` audio ``[B, N]``.

  Both modes' coefficients go through the inverse CQT (no edge bands, so the
  output is band-limited to the CQT range); no normalisation.
  """
  if config.cqt.representation != 'complex':
    raise ValueError('resynthesis needs complex CQT coefficients; this model '
                     f"uses config.cqt.representation="
                     f"{config.cqt.representation!r}.")
  n = audio.shape[-1]
  z, skips = model.encode(model_input(cqt, audio, config))
  rec, trn = _decode_modes(model, z, skips, (1.0, 0.0), 'complex')
  return {'reconstruction': cqt_lib.icqt(cqt, rec, num_samples=n),
          'timbreless': cqt_lib.icqt(cqt, trn, num_samples=n)}


def make_track_metrics(graphdef: nnx.GraphDef, cqt: cqt_lib.CQT,
                       config: ml_collections.ConfigDict
                       ) -> Callable[[Any, Any], dict[str, float]] | None:
  """``(params, track) -> {'sdr', 'sdr_filtered'}`` of the reconstruction.

  None for the magnitude variant (nothing to resynthesise).
  """
  if config.cqt.representation != 'complex':
    return None
  from mpe_jax.evaluation import separation  # pylint: disable=g-import-not-at-top

  @jax.jit
  def reconstruct(params, audio):
    model = nnx.merge(graphdef, params)
    return resynthesize(model, audio, cqt, config)['reconstruction']

  def metrics(params, track) -> dict[str, float]:
    audio = np.asarray(track.audio, np.float32)
    rec = np.asarray(reconstruct(params, jnp.asarray(audio)[None]))[0]
    return {'sdr': separation.sdr(audio, rec),
            'sdr_filtered': separation.sdr_filtered(audio, rec)}

  return metrics


# -------------------------------------------------------------- validation


def validate_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for configs that do not fit the Timbre-Trap system."""
  enabled_terms(config.loss_weights)
  validate_backbone(config)


def validate_backbone(config: ml_collections.ConfigDict) -> None:
  """One-line errors for a CQT / model / objectives mismatch (loss terms
  aside: systems built on this backbone name their own)."""
  c, m = config.cqt, config.model
  if c.representation not in REPRESENTATIONS:
    raise ValueError(f'config.cqt.representation must be one of '
                     f'{REPRESENTATIONS}, got {c.representation!r}.')
  if config.objectives.gamma_scope not in GAMMA_SCOPES:
    raise ValueError(f'config.objectives.gamma_scope must be one of '
                     f'{GAMMA_SCOPES}, got {config.objectives.gamma_scope!r}.')
  channels = 2 if c.representation == 'complex' else 1
  if m.in_channels != channels or m.out_channels != channels:
    raise ValueError(f'config.model.in_channels and out_channels must be '
                     f'{channels} for cqt.representation='
                     f'{c.representation!r}.')
  n_bins = int(c.n_octaves) * int(c.bins_per_octave)
  if m.n_bins != n_bins:
    raise ValueError(f'config.model.n_bins ({m.n_bins}) must equal '
                     f'cqt.n_octaves * cqt.bins_per_octave ({n_bins}).')
  if not (m.switch_channel or m.film):
    raise ValueError('the Timbre-Trap model needs a mode input: set '
                     'config.model.switch_channel=True (or model.film=True).')
  if config.hcqt.sample_rate != c.sample_rate:
    raise ValueError(f'config.hcqt.sample_rate ({config.hcqt.sample_rate}) '
                     f'must equal config.cqt.sample_rate ({c.sample_rate}).')
