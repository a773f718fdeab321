"""MAJL in its original setting: singing-voice separation (MSS) and vocal
pitch estimation (PE) from the mixture, trained jointly ('majl_vocal').

The joint cascade (paper Sec. 3, Fig. 3) on a batch of mixtures ``x [B, N]``
(16 kHz; ``config.stft``: Hann 2048, hop 320):

  X = STFT(x);  M = mss(|X|) in [0, 1];  S = M |X|
  s_hat = ISTFT(S e^{i angle X})                    the separated vocals
  P_pred = sigmoid(pe(S, s_hat))    [B, K, T]       pitch of the prediction
  P_tgt  = sigmoid(pe(|STFT(s)|, s))                pitch of the true vocals
                                                     (no gradient)

With ``config.objectives.pe_input='target'`` (the pipeline baseline) the PE
loss reads ``pe(|STFT(s)|, s)`` instead: the two modules train side by side
on the same data and meet only at evaluation.

Task 1 (MSS, Eq. 1): the mean absolute error between ``s_hat`` and the vocal
stem ``s`` over the excerpt's samples, each sample weighted by the Eq. 8
filter of its frame's ``confi_mss`` (the frame nearest the sample). Task 2
(PE, Eq. 2): binary cross-entropy of ``pe``'s logits against the label grid
blurred by ``config.objectives.target_sigma_bins`` (CREPE's Gaussian
targets), averaged over bins (CREPE's reduction; Eq. 2 writes a sum, as
Eq. 1 sums over samples: both are means here, so that neither task's scale
depends on the excerpt length or the grid size), times the Eq. 8 filter
of ``confi_pe`` per frame, averaged over frames. Items without stems (without pitch) have no task-1
(task-2) loss; each task's per-item losses are scaled so that its batch mean
is the mean over the items that have it (``majl.scale_to_items``).

The two per-item losses are weighted by MAJL's cases (``majl.weigh_tasks``:
'dwhs' with the DWM and Eq. 13, the Table-6 rule 'naive', or 'none' = Eq. 3),
decided by whether ``P_pred`` and ``P_tgt`` are correct against the labels
(``config.dwhs.correctness``: raw pitch accuracy). Only items with both a
stem and pitch labels (true or pseudo) have a case.

Evaluation runs the cascade on whole tracks cut into consecutive segments of
the training excerpt's length (one compiled shape; ``track_evaluator``):
``sdr`` (paper Eq. 16), ``sdr_mixture`` and ``nsdr`` (Eq. 18) where the track
has a vocal stem, GNSDR (Eq. 17) over them, and the melody scores of
``evaluation.melody`` (``rpa``, ``rca``, voicing) where it has pitch.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx, struct

from mpe_jax.features import stft as stft_lib
from mpe_jax.objectives import confidence as confidence_lib
from mpe_jax.objectives import majl
from mpe_jax.objectives import supervised
from mpe_jax.objectives.reductions import bce_with_logits

TERMS = ('mss', 'pe', 'dwhs')
# The table printed after training: (score, header, scale).
SUMMARY = (('sdr', 'SDR', 1.0), ('gnsdr', 'GNSDR', 1.0), ('rpa', 'RPA', 100.0),
           ('rca', 'RCA', 100.0))


@struct.dataclass
class Frontend:
  """The STFT and the pitch grid (static: a pytree without leaves)."""
  stft: stft_lib.STFTConfig = struct.field(pytree_node=False)
  fmin: float = struct.field(pytree_node=False)
  bins_per_octave: int = struct.field(pytree_node=False)
  n_bins: int = struct.field(pytree_node=False)

  def bin_frequencies(self) -> np.ndarray:
    """``[K]`` Hz of the pitch bins."""
    return self.fmin * 2.0 ** (np.arange(self.n_bins) / self.bins_per_octave)

  def frame_times(self, n_frames: int) -> np.ndarray:
    return self.stft.frame_times(n_frames)


def make_frontend(config: ml_collections.ConfigDict) -> Frontend:
  """``config.stft`` and the label grid ``config.hcqt``."""
  g = config.hcqt
  return Frontend(stft_lib.STFTConfig.from_config(config.stft),
                  float(g.fmin), int(g.bins_per_octave), int(g.n_bins))


def cascade(model: Any, mixture: jax.Array, cfg: stft_lib.STFTConfig
            ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Mixture ``[B, N]`` -> (separated vocals ``[B, N]``, separated magnitude
  ``[B, F, T]``, pitch logits ``[B, K, T]``)."""
  spec = stft_lib.stft(cfg, mixture)
  mag = stft_lib.magnitude(spec)
  sep_mag = model.mss(mag) * mag
  sep = stft_lib.istft(cfg, stft_lib.with_phase_of(sep_mag, spec),
                       mixture.shape[-1])
  return sep, sep_mag, model.pe(sep_mag, sep)


def clean_pitch_logits(model: Any, vocals: jax.Array,
                       cfg: stft_lib.STFTConfig) -> jax.Array:
  """Pitch logits ``[B, K, T]`` of the true vocals ``[B, N]``."""
  mag = (None if model.pe_reads_waveform
         else stft_lib.magnitude(stft_lib.stft(cfg, vocals)))
  return model.pe(mag, vocals)


def sample_weights(frame_mask: jax.Array, n_samples: int,
                   hop_length: int) -> jax.Array:
  """Frame mask ``[B, T]`` -> per-sample weights ``[B, N]`` (sample n takes
  the frame nearest its time, ``round(n / hop)``)."""
  index = np.minimum(np.rint(np.arange(n_samples) / hop_length).astype(int),
                     frame_mask.shape[-1] - 1)
  return jnp.take(frame_mask, index, axis=1)


def compute_losses(model: Any, batch: Mapping[str, jax.Array],
                   key: jax.Array, frontend: Frontend,
                   config: ml_collections.ConfigDict
                   ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Total loss and its parts (module docstring).

  Args:
    model: the ``JointCascade`` (``model.dwm`` with method 'dwhs').
    batch: ``mixture``, ``vocals`` [B, N]; ``labels`` [B, K, T];
      ``has_stems``, ``has_pitch`` [B]; ``confi_mss``, ``confi_pe`` [B, T].
    key: unused (no augmentation).
    frontend: the STFT and pitch grid.
    config: ``loss_weights`` (mss, pe, dwhs), ``dwhs``, ``objectives``.
  """
  del key
  cfg = frontend.stft
  w = config.loss_weights
  th = float(config.dwhs.confidence_threshold)
  mixture, vocals = batch['mixture'], batch['vocals']
  has_stems = batch['has_stems'].astype(jnp.float32)
  has_pitch = batch['has_pitch'].astype(jnp.float32)
  mss_frames = confidence_lib.confidence_mask(batch['confi_mss'], th)
  pe_frames = confidence_lib.confidence_mask(batch['confi_pe'], th)

  sep, _, logits = cascade(model, mixture, cfg)
  weights = sample_weights(mss_frames, mixture.shape[-1], cfg.hop_length)
  mss_loss = majl.scale_to_items(
      jnp.mean(jnp.abs(sep - vocals) * weights, axis=-1), has_stems)  # [B]
  clean_logits = clean_pitch_logits(model, vocals, cfg)
  if config.objectives.pe_input == 'target':  # the pipeline baseline
    trained, pe_items = clean_logits, has_pitch * has_stems
  else:  # the cascade
    trained, pe_items = logits, has_pitch
  targets = supervised.blur_targets(batch['labels'],
                                    config.objectives.target_sigma_bins)
  bce = jnp.mean(bce_with_logits(trained, targets), axis=-2)  # [B, T]
  pe_loss = majl.scale_to_items(jnp.mean(bce * pe_frames, axis=-1),
                                pe_items)  # [B]
  target_pitch = jax.nn.sigmoid(jax.lax.stop_gradient(clean_logits))

  task = jnp.stack([float(w.mss) * mss_loss, float(w.pe) * pe_loss], axis=-1)
  weighted, case_loss, stats = majl.weigh_tasks(
      model, task, jax.nn.sigmoid(logits), batch['labels'], target_pitch,
      has_stems * has_pitch, pe_frames, config)
  parts = {'mss': jnp.mean(mss_loss), 'pe': jnp.mean(pe_loss),
           'weighted_tasks': weighted, 'dwhs': case_loss}
  parts.update(stats)
  return weighted + float(w.dwhs) * case_loss, parts


def salience(model: Any, audio: jax.Array, frontend: Frontend,
             config: ml_collections.ConfigDict) -> jax.Array:
  """Audio ``[B, N]`` -> vocal pitch salience ``[B, K, T]`` of the cascade."""
  del config
  return jax.nn.sigmoid(cascade(model, audio, frontend.stft)[2])


# -------------------------------------------------------------- evaluation


def excerpt_samples(config: ml_collections.ConfigDict) -> int:
  return majl.excerpt_samples(config)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run_segments(graphdef: nnx.GraphDef, cfg: stft_lib.STFTConfig,
                  params: Any, segments: jax.Array
                  ) -> tuple[jax.Array, jax.Array]:
  """Segments ``[S, N]`` -> (separated ``[S, N]``, salience ``[S, K, T]``);
  one compiled program per model and shape, shared by every runner."""
  sep, _, logits = cascade(nnx.merge(graphdef, params), segments, cfg)
  return sep, jax.nn.sigmoid(logits)


def make_segment_runner(graphdef: nnx.GraphDef, frontend: Frontend,
                        config: ml_collections.ConfigDict
                        ) -> Callable[[Any, np.ndarray],
                                      tuple[np.ndarray, np.ndarray]]:
  """``(params, audio [N]) -> (separated [N], salience [K, 1 + N // hop])``
  of a whole track, run in consecutive segments of the training excerpt
  (``config.eval.batch_segments`` per call, one compiled shape); each
  segment's salience frames are those of its own STFT."""
  cfg = frontend.stft
  seg = excerpt_samples(config)
  hop = cfg.hop_length
  per_seg = seg // hop  # frames a segment contributes
  batch = int(config.eval.batch_segments)

  def track(params, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(audio)
    n_seg = n // seg + 1
    total = -(-n_seg // batch) * batch
    x = np.zeros(total * seg, np.float32)
    x[:n] = audio
    x = x.reshape(total, seg)
    seps, sals = [], []
    for b in range(0, total, batch):
      sep, sal = _run_segments(graphdef, cfg, params,
                               jnp.asarray(x[b:b + batch]))
      seps.append(np.asarray(sep))
      sals.append(np.asarray(sal)[..., :per_seg])
    sep = np.concatenate(seps).reshape(-1)[:n]
    sal = np.concatenate(sals, axis=0)  # [S, K, per_seg]
    sal = np.transpose(sal, (1, 0, 2)).reshape(sal.shape[1], -1)
    return sep, sal[:, :1 + n // hop]

  return track


def track_evaluator(graphdef: nnx.GraphDef, frontend: Frontend,
                    config: ml_collections.ConfigDict
                    ) -> Callable[[Any, Any], dict[str, float]]:
  """``(params, VocalTrack) -> scores`` (module docstring)."""
  from mpe_jax.evaluation import melody, separation  # pylint: disable=g-import-not-at-top
  runner = make_segment_runner(graphdef, frontend, config)
  freqs = frontend.bin_frequencies()

  def evaluate(params, track) -> dict[str, float]:
    mixture = np.asarray(track.audio, np.float32)
    sep, sal = runner(params, mixture)
    out: dict[str, float] = {}
    if getattr(track, 'vocals', None) is not None:
      vocals = np.asarray(track.vocals, np.float32)
      out['sdr'] = separation.sdr(vocals, sep)
      out['sdr_mixture'] = separation.sdr(vocals, mixture)
      out['nsdr'] = separation.nsdr(vocals, sep, mixture)
    if getattr(track, 'has_pitch', True) and len(track.ref_times):
      times = frontend.frame_times(sal.shape[-1])
      out.update(melody.evaluate_salience(
          sal, freqs, times, track.ref_times,
          melody.reference_from_multipitch(track.ref_freqs),
          threshold=float(config.eval.threshold)))
    return out

  return evaluate


def set_metrics(scores: list[dict[str, float]],
                tracks: list) -> dict[str, float]:
  """``{'gnsdr'}`` over the tracks with a vocal stem (Eq. 17), else {}."""
  from mpe_jax.evaluation import separation  # pylint: disable=g-import-not-at-top
  pairs = [(s['nsdr'], np.size(t.audio)) for s, t in zip(scores, tracks)
           if 'nsdr' in s]
  if not pairs:
    return {}
  return {'gnsdr': separation.gnsdr([p[0] for p in pairs],
                                    [p[1] for p in pairs])}


# -------------------------------------------------------------- validation


def validate_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for configs that do not fit 'majl_vocal'."""
  names = set(config.loss_weights)
  if names != set(TERMS):
    raise ValueError(f'config.loss_weights must set exactly {list(TERMS)} '
                     f'for majl_vocal, got {sorted(names)}.')
  s, g = config.stft, config.hcqt
  if (int(s.sample_rate), int(s.hop_length)) != (int(g.sample_rate),
                                                 int(g.hop_length)):
    raise ValueError(
        f'config.stft (sample_rate {s.sample_rate}, hop_length '
        f'{s.hop_length}) and the label grid config.hcqt (sample_rate '
        f'{g.sample_rate}, hop_length {g.hop_length}) must share the rate '
        'and the hop: pitch frames are STFT frames.')
  if config.data.train_source != 'vocal':
    raise ValueError("majl_vocal trains on config.data.train_source='vocal' "
                     f'(mixtures with stems and f0), got '
                     f'{config.data.train_source!r}.')
  n = excerpt_samples(config)
  if n % int(g.hop_length) or n <= int(s.n_fft) // 2:
    raise ValueError(f'config.data.excerpt_seconds gives {n} samples: it '
                     f'must be a multiple of the hop ({g.hop_length}) and '
                     f'longer than n_fft / 2 ({int(s.n_fft) // 2}).')
  if config.objectives.pe_input not in ('separated', 'target'):
    raise ValueError("config.objectives.pe_input must be 'separated' or "
                     f"'target', got {config.objectives.pe_input!r}.")
  if int(config.eval.batch_segments) < 1:
    raise ValueError('config.eval.batch_segments must be >= 1, got '
                     f'{config.eval.batch_segments}.')
  for name in tuple(config.eval.evaluation_sets) + tuple(
      config.eval.validation_sets):
    if not name.startswith('vocal/'):
      raise ValueError(f'majl_vocal evaluates vocal sets '
                       f"('vocal/<corpus>/<split>'), got {name!r}.")
  if config.model.mss.n_bins > 1 + int(s.n_fft) // 2:
    raise ValueError(f'config.model.mss.n_bins ({config.model.mss.n_bins}) '
                     f'exceeds the {1 + int(s.n_fft) // 2} STFT bins.')
  if (int(config.model.grid.n_bins), int(config.model.stft.n_fft)) != (
      int(g.n_bins), int(s.n_fft)):
    raise ValueError('config.model.grid and config.model.stft must be '
                     'config.hcqt and config.stft (set them by reference).')
  majl.validate_common(config, n_bins=int(g.n_bins),
                       n_frames=lambda: 1 + n // int(g.hop_length))

