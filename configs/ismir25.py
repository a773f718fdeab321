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

A Table 1 row combines with one of the others (``:spv,demo``: the
demonstration with L_spv only); two Table 1 rows, or two of the others, are
alternatives.
"""

from __future__ import annotations

import ml_collections

from configs import _variants
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


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The reference run (``total``) or the comma-separated variants of the
  docstring."""
  config = ssmpe.get_config()  # every key, then the ISMIR 2025 values
  with config.unlocked():
    config.model.variant = 'ismir25'
    config.model.channels = (8, 16, 32, 64, 128)  # doubled filters
    config.model.norm = 'pre_activation'  # LN between conv and ELU

    # L_total (Ref.): the objectives of Table 1's last row; the other rows
    # are variants.
    for term in config.loss_weights:
      config.loss_weights[term] = 1.0 if term in TABLE_1['total'] else 0.0
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

  _variants.apply(config, arg, 'configs/ismir25.py', VARIANTS,
                  exclusive=_EXCLUSIVE)
  return config.lock()


def _table_1_row(terms: tuple[str, ...]) -> _variants.Variant:
  """A Table 1 row: ``terms`` of L_total's four objectives, the rest off."""
  def row(config: ml_collections.ConfigDict) -> None:
    for term in TABLE_1['total']:
      config.loss_weights[term] = 1.0 if term in terms else 0.0
  return row


def _add_self_supervised(config: ml_collections.ConfigDict, source: str,
                         items: int) -> None:
  """``items`` extra audio-only items per batch (batch grows, not replaced)."""
  config.data.mixture.sources += (source,)
  config.data.mixture.proportions += (items,)
  config.data.mixture.use_labels += (False,)
  config.train.batch_size = int(sum(config.data.mixture.proportions))


def _extra_items(source: str, items: int) -> _variants.Variant:
  """Fig. 1 +NS-16 / +MN-16 / +FMA-16, Fig. 3 MN-8 / MN-4 / MN-2: ``items``
  extra ``source`` items per batch, self-supervised only."""
  def extra_items(config: ml_collections.ConfigDict) -> None:
    _add_self_supervised(config, source, items)
  return extra_items


def _energy_objectives(config: ml_collections.ConfigDict) -> None:
  """Fig. 1 +EG: the energy objectives (two-sided BCE against the harmonic
  target + sparsity) on the extra items."""
  config.loss_weights.energy = 1.0
  config.loss_weights.sparsity = 1.0


def _fine_tune(config: ml_collections.ConfigDict) -> None:
  """Fig. 1 -FT: fine-tuned from the best Ref. checkpoint at 1/5 the LR."""
  # Two-stage: start from the best Ref. checkpoint (pass its workdir with
  # --config.train.init_checkpoint) and fine-tune at 1/5 of the LRs.
  config.optim.encoder_lr /= 5
  config.optim.decoder_lr /= 5


def _urmp_t1(config: ml_collections.ConfigDict) -> None:
  """Fig. 4 URMP-T1: Ref. trained on URMP-train minus URMP-T2."""
  config.data.mixture.sources = ('urmp/train_t1',)


def _urmp_t2(config: ml_collections.ConfigDict) -> None:
  """Fig. 4 + T2: URMP-T2 (10 pieces), 8 items per batch, self-supervised
  only."""
  _add_self_supervised(config, 'urmp/train_t2', 8)


def _chain(*steps: _variants.Variant) -> _variants.Variant:
  """One variant: ``steps`` in order (a figure's combined settings)."""
  def chained(config: ml_collections.ConfigDict) -> None:
    for step in steps:
      step(config)
  return chained


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


VARIANTS: dict[str, _variants.Variant] = {
    # Table 1 rows (the objectives).
    **{row: _table_1_row(terms) for row, terms in TABLE_1.items()},
    # Fig. 1 +NS-16 / +MN-16 / +FMA-16 and Fig. 3 MN-8 / MN-4 / MN-2.
    **{name: _extra_items(*extra) for name, extra in EXTRA.items()},
    # Fig. 1 +EG and -FT of the three 16-item sources.
    **{f'{name}_{suffix}': _chain(_extra_items(*EXTRA[name]), step)
       for name in ('ns16', 'mn16', 'fma16')
       for suffix, step in (('eg', _energy_objectives), ('ft', _fine_tune))},
    't1': _urmp_t1,  # Fig. 4 URMP-T1
    't1_t2': _chain(_urmp_t1, _urmp_t2),  # Fig. 4 URMP-T1 + T2
    't1_t2_eg': _chain(_urmp_t1, _urmp_t2, _energy_objectives),  # ... + EG
    'demo': _demo,  # the CPU degeneration demonstration
    'demo_eg': _chain(_demo, _energy_objectives),  # ... + the energy objectives
}
# One Table 1 row (the objectives) with at most one of the others (the data).
_EXCLUSIVE = (tuple(TABLE_1), tuple(v for v in VARIANTS if v not in TABLE_1))
