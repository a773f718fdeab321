"""Joint supervised + self-supervised MPE (Cwitkowitz & Duan, ISMIR 2025).

The ISMIR 2025 model (doubled filters, LayerNorm between each conv and its
ELU: 1,303,753 parameters) trained on URMP with supervised BCE against
Gaussian-blurred targets plus timbre invariance (parabolic EQ), percussion
invariance (E-GMD drums mixed into the waveform) and geometric equivariance
(±1 octave shifts). AdamW 5e-4 / 2.5e-4 (encoder / decoder), cosine warmup
over 400 steps, clipping at 1.0, batch 8 of 4-s excerpts (one per URMP piece
per epoch), validation every 250 steps, best checkpoint by URMP-valid F1.

Run (the real corpora are needed: docs/datasets.md):
  python -m mpe_jax.main --config=configs/ismir25.py:total --workdir=runs/ref \
    --config.data.dataset_dirs.urmp=/data/URMP/Dataset \
    --config.data.dataset_dirs.egmd=/data/e-gmd-v1.0.0 ...

Variants (``:name``) and the paper result each reproduces:
  spv          Table 1 row L_spv (supervised only).
  spv_ivt      Table 1 row L_spv + L_iv-t (timbre invariance).
  spv_ivp      Table 1 row L_spv + L_iv-p (percussion invariance).
  spv_evg      Table 1 row L_spv + L_ev-g (geometric equivariance).
  total        Table 1 row L_total (Ref.): all four objectives (default).
  ns16         Fig. 1 +NS-16: 16 extra NSynth-train items per batch,
               self-supervised only.
  mn16         Fig. 1 +MN-16: the same with MusicNet-train.
  fma16        Fig. 1 +FMA-16: the same with FMA (the reader uses the
               largest subset present: fma_large in the paper).
  ns16_eg, mn16_eg, fma16_eg
               Fig. 1 +EG: the above plus the energy objectives (two-sided
               BCE against the harmonic target + sparsity) on the extra items.
  ns16_ft, mn16_ft, fma16_ft
               Fig. 1 -FT: the above fine-tuned from the best Ref. checkpoint
               (set --config.train.init_checkpoint=runs/ref) at 1/5 the LR.
  mn8, mn4, mn2
               Fig. 3: 8, 4 and 2 extra MusicNet items per batch.
  t1           Fig. 4 URMP-T1: Ref. trained on URMP-train minus URMP-T2.
  t1_t2        Fig. 4 URMP-T1 + T2: URMP-T2 (10 pieces) self-supervised only.
  t1_t2_eg     Fig. 4 URMP-T1 + T2 + EG.
  demo         A CPU-sized demonstration of the degeneration phenomenon on
               data made here: FluidSynth-rendered General-MIDI progressions
               (supervised) + synthetic NSynth-like notes (self-supervised
               only, another timbre family) + synthetic drums; results in
               docs/experiments.md.
  demo_eg      The demonstration with the energy objectives on the extra
               items.
"""

from __future__ import annotations

import ml_collections

from configs import ssmpe

TABLE_1 = {
    'spv': ('supervised',),
    'spv_ivt': ('supervised', 'timbre'),
    'spv_ivp': ('supervised', 'percussion'),
    'spv_evg': ('supervised', 'geometric'),
    'total': ('supervised', 'timbre', 'percussion', 'geometric'),
}
EXTRA = {'ns16': ('nsynth/train', 16), 'mn16': ('musicnet/train', 16),
         'fma16': ('fma/train', 16), 'mn8': ('musicnet/train', 8),
         'mn4': ('musicnet/train', 4), 'mn2': ('musicnet/train', 2)}
VARIANTS = (tuple(TABLE_1) + tuple(EXTRA)
            + tuple(f'{v}_{s}' for v in ('ns16', 'mn16', 'fma16')
                    for s in ('eg', 'ft'))
            + ('t1', 't1_t2', 't1_t2_eg', 'demo', 'demo_eg'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The reference run (``total``) or a variant listed in the docstring."""
  config = ssmpe.get_config()  # every key, then the ISMIR 2025 values
  with config.unlocked():
    config.model.variant = 'ismir25'
    config.model.channels = (8, 16, 32, 64, 128)  # doubled filters
    config.model.norm = 'pre_activation'  # LN between conv and ELU

    for term in config.loss_weights:  # see _objectives
      config.loss_weights[term] = 0.0
    # Energy objectives apply only to items without ground truth.
    config.objectives.energy_on_unlabeled_only = True
    config.objectives.stop_gradient_targets = False  # as the released code
    config.objectives.target_sigma_bins = 1.0  # 1/5 semitone

    config.augment.eq.kind = 'parabolic'  # 1 - 2 a (k - b)^2, clipped
    config.augment.eq.pointiness = 2.0
    config.augment.geometric.max_freq_shift = 60  # ±1 octave
    config.augment.geometric.max_time_shift = 86  # ±N/4 frames of 4 s
    config.augment.geometric.max_stretch = 2.0
    config.augment.percussion.max_volume = 1.0  # v ~ U(0, 1)

    config.optim.encoder_lr = 5e-4
    config.optim.decoder_lr = 2.5e-4
    config.optim.schedule = 'cosine_warmup'
    config.optim.warmup_steps = 400  # 100 epochs of 4 URMP batches
    config.optim.clip_norm = 1.0
    config.optim.plateau.enabled = False  # no decay in the reference run
    config.optim.plateau.metric = 'urmp/valid/f1'
    config.optim.plateau.mode = 'max'

    config.train.num_steps = 50000  # 12,500 epochs of 4 batches
    config.train.batch_size = 8
    config.train.eval_every = 250
    config.train.checkpoint_every = 250
    config.train.early_stop_patience = 0  # train for the whole schedule

    config.data.train_source = 'mixture'
    config.data.mixture.sources = ('urmp/train',)
    config.data.mixture.proportions = (8,)  # items per batch
    config.data.mixture.use_labels = (True,)
    config.data.drum_source = 'egmd/train'
    config.data.excerpt_seconds = 4.0

    config.eval.validation_sets = (
        'urmp/valid', 'nsynth/valid', 'bach10/test', 'su/test', 'trios/test',
        'musicnet/test', 'guitarset/valid', 'maestro/valid')
    config.eval.evaluation_sets = ('bach10/test', 'su/test', 'trios/test',
                                   'musicnet/test', 'guitarset/test')
    config.eval.best_metric = 'urmp/valid/f1'
    config.eval.best_mode = 'max'

    _apply_variant(config, arg or 'total')
  return config.lock()


def _objectives(config: ml_collections.ConfigDict, terms) -> None:
  for term in terms:
    config.loss_weights[term] = 1.0


def _add_self_supervised(config: ml_collections.ConfigDict, source: str,
                         items: int) -> None:
  """``items`` extra audio-only items per batch (batch grows, not replaced)."""
  config.data.mixture.sources += (source,)
  config.data.mixture.proportions += (items,)
  config.data.mixture.use_labels += (False,)
  config.train.batch_size = int(sum(config.data.mixture.proportions))


def _apply_variant(config: ml_collections.ConfigDict, arg: str) -> None:
  if arg not in VARIANTS:
    raise ValueError(f'unknown configs/ismir25.py variant {arg!r}; choose '
                     f'from {list(VARIANTS)}')
  if arg in TABLE_1:
    _objectives(config, TABLE_1[arg])
    return
  _objectives(config, TABLE_1['total'])
  base, _, suffix = arg.partition('_')
  if base in EXTRA:
    _add_self_supervised(config, *EXTRA[base])
  elif base == 't1':
    config.data.mixture.sources = ('urmp/train_t1',)
    if suffix.startswith('t2'):
      _add_self_supervised(config, 'urmp/train_t2', 8)
  elif base == 'demo':
    _demo(config)
  if suffix.endswith('eg'):
    config.loss_weights.energy = 1.0
    config.loss_weights.sparsity = 1.0
  if suffix == 'ft':
    # Two-stage: start from the best Ref. checkpoint (pass its workdir with
    # --config.train.init_checkpoint) and fine-tune at 1/5 of the LRs.
    config.optim.encoder_lr /= 5
    config.optim.decoder_lr /= 5


def _demo(config: ml_collections.ConfigDict) -> None:
  """Degeneration on data made here, sized for 2 CPU cores (~30 min).

  The 1.3 M-parameter model would need about 30 s per step here, so the
  demonstration halves its widths (the SS-MPE sizes, LayerNorm kept) and,
  as the other CPU demonstrations, switches on the U-Net skip connections.
  """
  config.model.variant = 'ismir25_half_skip'
  config.model.channels = (4, 8, 16, 32, 64)
  config.model.skip_connections = True
  config.data.mixture.sources = ('fluidsynth/train', 'synthetic/train')
  config.data.mixture.proportions = (2, 4)  # 2 supervised + 4 SS-only
  config.data.mixture.use_labels = (True, False)
  config.data.drum_source = 'synthetic_drums/train'
  config.data.excerpt_seconds = 1.0
  config.data.eval_track_seconds = 4.0
  config.data.eval_num_tracks = 4
  config.train.batch_size = 6
  config.train.num_steps = 200
  config.train.log_every = 10
  config.train.eval_every = 25
  config.train.checkpoint_every = 25
  config.optim.warmup_steps = 25
  config.eval.validation_sets = ('fluidsynth/valid', 'synthetic_notes/valid',
                                 'synthetic_mixtures/valid')
  config.eval.evaluation_sets = ('fluidsynth/test', 'synthetic_mixtures/test')
  config.eval.best_metric = 'fluidsynth/valid/f1'
  config.optim.plateau.metric = 'fluidsynth/valid/f1'
