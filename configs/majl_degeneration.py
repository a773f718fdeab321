"""MAJL in the ISMIR 2025 setting: supervised and self-supervised, per item.

Cwitkowitz & Duan (ISMIR 2025) found that self-supervising extra unlabelled
data next to a supervised source pulls the model towards blank output on the
extra data. Here the two parts of that training are MAJL's two tasks (Wei et
al., MM 2024): task 1 the self-supervised terms (timbre, percussion and
geometric consistency), task 2 the supervised BCE. Per labelled item, the
salience of the percussion-mixed input (predicted_source2pitch) and of the
clean input (target_source2pitch) are each right or wrong against the labels;
the case sets the two weights (the DWM, Table 6, or 1). Unlabelled items have
no case and keep weight 1. Stage II replaces the unlabelled extra items by
their pseudo-labels from the Stage-I model (frames below confidence 0.7
masked), which gives the extra data a supervised signal. docs/majl.md has the
mapping and the choices the papers leave open.

The full config is ISMIR 2025's Fig. 1 "+MN-16" run (URMP-train x8
supervised + MusicNet-train x16 self-supervised per batch, 4-s excerpts, the
1,303,753-parameter model) with MAJL's weighting; the real corpora are needed
(docs/datasets.md):
  python -m mpe_jax.main --config=configs/majl_degeneration.py \
    --workdir=runs/majl_deg --config.data.dataset_dirs.urmp=/data/URMP/Dataset \
    --config.data.dataset_dirs.musicnet=/data/musicnet \
    --config.data.dataset_dirs.egmd=/data/e-gmd-v1.0.0 ...
  python -m mpe_jax.pseudo_label --checkpoint=runs/majl_deg \
    --source=musicnet/train --num_items=8192 --output_dir=runs/majl_deg_pseudo
  python -m mpe_jax.main --config=configs/majl_degeneration.py:stage2 \
    --workdir=runs/majl_deg2 --config.data.pseudo_label_dir=runs/majl_deg_pseudo
  python -m mpe_jax.analysis.curves --figure=omega --workdirs=runs/majl_deg \
    --out=omega.png

Variants (``:name``, comma-combined, e.g. ``:quick,none``):
  (none)   Stage I with the DWM (DWHS).
  none     naive joint learning: every weight 1 (= configs/ismir25.py:mn16).
  naive    the fixed-rule weights of Table 6 (omega_noise 0.2,
           upper_bound 5); no DWM.
  stage2   Stage II from scratch: the unlabelled extra source is replaced by
           'pseudo_labels/train' (same share of the batch, now supervised
           where confident), read from --config.data.pseudo_label_dir.
  flatten  the paper's DWM read-out: the conv features flattened into the
           hidden layer (fixes the excerpt length; 2 x 440 x 345 x 16
           weights at 4 s) instead of averaged.
  quick    a CPU demonstration on data made here: synthetic notes x2
           (supervised) + synthetic polyphonic mixtures x2 (self-supervised
           only) + synthetic drums, 0.5-s excerpts, 24 steps; evaluated on
           synthetic notes and mixtures. docs/experiments.md has the numbers
           of ``:quick`` and ``:quick,none``.
"""

from __future__ import annotations

import ml_collections

from configs import _variants
from configs import ismir25

PSEUDO_SOURCE = 'pseudo_labels/train'


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """MAJL Stage I (DWHS) or the comma-separated variants of the docstring."""
  config = ismir25.get_config('mn16')  # every ISMIR 2025 key, then MAJL's
  with config.unlocked():
    config.system = 'majl_salience'  # mpe_jax.objectives.majl

    # --- Dynamic Weight Module (mpe_jax.models.dwm), a top-level 'dwm'
    # child of the model with its own learning rate.
    config.model.dwm = ml_collections.ConfigDict()
    config.model.dwm.enabled = True  # only with dwhs.method='dwhs'
    config.model.dwm.channels = (8, 8)  # the two 3x3 conv layers (ReLU)
    config.model.dwm.hidden = 32  # hidden dense layer (ReLU)
    config.model.dwm.omega_max = 2.0  # omega = 2 sigmoid(.): 1 at the centre
    # 'mean': average the conv features over bins and frames (any length);
    # 'flatten' (the paper's) needs n_bins x n_frames of the training excerpt.
    config.model.dwm.pooling = 'mean'
    config.model.dwm.n_bins = 440  # = hcqt.n_bins ('flatten' only)
    config.model.dwm.n_frames = 345  # 1 + N // hop of 4 s ('flatten' only)

    # Task 1 = the enabled self-supervised terms (timbre, percussion,
    # geometric here; energy/sparsity/support/harmonic when set), task 2 =
    # supervised; plus the DWM's case losses (Eq. 13).
    config.loss_weights.dwhs = 1.0

    # --- DWHS (mpe_jax.objectives.majl, mpe_jax.objectives.dwhs)
    config.dwhs = ml_collections.ConfigDict()
    # 'dwhs' (DWM), 'naive' (Table 6 rule) or 'none' (omega = 1, Eq. 3).
    config.dwhs.method = 'dwhs'
    # Let Eq. 14 train the DWM too (the paper is silent; off: the DWM could
    # lower the weighted task loss by shrinking every weight).
    config.dwhs.grad_to_dwm = False
    config.dwhs.omega_noise = 0.2  # 'naive': task-2 weight of case 2
    config.dwhs.upper_bound = 5.0  # 'naive': cap of hard-sample weights
    config.dwhs.confidence_threshold = 0.7  # th of Eq. 8 (pseudo-labels)
    # The "predicted source": the percussion-mixed input ('percussion') or
    # the EQ'd input ('timbre'); its term must be enabled.
    config.dwhs.predicted_input = 'percussion'
    # When a salience-gram counts as correct (decides the case of a sample).
    config.dwhs.correctness = ml_collections.ConfigDict()
    config.dwhs.correctness.metric = 'f1'  # frame-level multi-pitch F1
    config.dwhs.correctness.threshold = 0.5  # salience threshold
    config.dwhs.correctness.tolerance_bins = 2  # ±2 bins = ±40 cents
    config.dwhs.correctness.min_score = 0.5  # correct iff F1 >= 0.5

    config.optim.dwm_lr = 1e-3  # the DWM's AdamW learning rate (MAJL's LR)
    # Stage II pseudo-labels (python -m mpe_jax.pseudo_label --output_dir).
    config.data.pseudo_label_dir = ''

  _variants.apply(config, arg, 'configs/majl_degeneration.py', VARIANTS,
                  exclusive=(('none', 'naive'),))
  with config.unlocked():
    n = int(round(config.data.excerpt_seconds * config.hcqt.sample_rate))
    config.model.dwm.n_frames = 1 + n // config.hcqt.hop_length
  return config.lock()


def _quick(config: ml_collections.ConfigDict) -> None:
  config.data.mixture.sources = ('synthetic/train',
                                 'synthetic_mixtures/train')
  config.data.mixture.proportions = (2, 2)  # supervised + SS-only
  config.data.mixture.use_labels = (True, False)
  config.data.drum_source = 'synthetic_drums/train'
  config.data.excerpt_seconds = 0.5
  config.data.eval_track_seconds = 2.0
  config.data.eval_num_tracks = 2
  config.model.dwm.channels = (4, 4)
  config.model.dwm.hidden = 16
  config.train.batch_size = 4
  config.train.num_steps = 24
  config.train.log_every = 1  # every step: the omega curves
  config.train.eval_every = 1000  # no validation: one final evaluation
  config.train.checkpoint_every = 24
  config.optim.warmup_steps = 5
  # The weights must leave 1 within a few dozen steps to show anything.
  config.optim.dwm_lr = 1e-2
  config.eval.validation_sets = ()
  config.eval.evaluation_sets = ('synthetic_notes/valid',
                                 'synthetic_mixtures/test')


def _flatten(config: ml_collections.ConfigDict) -> None:
  config.model.dwm.pooling = 'flatten'
  config.model.dwm.channels = (4, 2)  # keeps the flattened layer small
  config.model.dwm.hidden = 16


def _stage2(config: ml_collections.ConfigDict) -> None:
  mix = config.data.mixture
  mix.sources = tuple(s if use else PSEUDO_SOURCE
                      for s, use in zip(mix.sources, mix.use_labels))
  mix.use_labels = tuple(True for _ in mix.use_labels)


VARIANTS: dict[str, _variants.Variant] = {
    'quick': _quick,
    'flatten': _flatten,
    'none': _variants.dwhs_weighting('none'),
    'naive': _variants.dwhs_weighting('naive'),
    'stage2': _stage2,
}
