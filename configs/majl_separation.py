"""MAJL on the Timbre-Trap backbone: separation and pitch, weighted per item.

MAJL (Wei et al., MM 2024) trains source separation and pitch estimation
jointly and weighs the two losses of every sample by its case (Table 1):
pitch from the separated source vs pitch from the clean source, each right
or wrong against the labels. Here both modules are one Timbre-Trap
autoencoder (614,490 parameters) on complex CQT coefficients: mode 1
separates the pitched source from a drum mixture (clean pitched audio +
synthetic drums at volume v ~ U(0, 1) per item), mode 0 transcribes the
separated coefficients (the cascade). The Dynamic Weight Module (1,162
parameters with these settings) reads the three pitch maps and outputs the
two weights; docs/majl.md has the task mapping and every choice the paper
leaves open.

Stage I (labelled synthetic notes + synthetic drums), pseudo-labels for
unlabelled synthetic mixtures, Stage II from scratch on both:
  python -m mpe_jax.main --config=configs/majl_separation.py \
    --workdir=runs/majl_sep
  python -m mpe_jax.pseudo_label --checkpoint=runs/majl_sep \
    --source=synthetic_mixtures/train --num_items=4096 \
    --output_dir=runs/majl_sep_pseudo
  python -m mpe_jax.main --config=configs/majl_separation.py:stage2 \
    --workdir=runs/majl_sep2 \
    --config.data.pseudo_label_dir=runs/majl_sep_pseudo
  python -m mpe_jax.analysis.curves --figure=omega --workdirs=runs/majl_sep \
    --out=omega.png

Settings: batch 16 (the paper's), 3-s excerpts (one CQT slice; the paper
cuts 2.56-s segments), AdamW 1e-3 for the backbone and the DWM with
Timbre-Trap's warmup and plateau halving (the paper: Adam 1e-3, x0.98 every
10 epochs), 20,000 steps, best checkpoint by validation F1 of the cascade.
The paper's numbers (MIR-1K vocals: SDR 12.33 / RPA 93.17 % for Stage I,
12.68 / 93.36 % with Stage II; naive joint learning 11.91 / 91.88 %) come
from other data and models; nothing here reproduces them.

Variants (``:name``, comma-combined, e.g. ``:quick,naive``):
  (none)   MAJL Stage I with the DWM (DWHS, Eqs. 9-14).
  none     naive joint learning (Eq. 3: every weight 1; no DWM).
  naive    the fixed-rule weights of Table 6 (omega_noise 0.2, upper_bound
           5, the paper's best pair in Table 8); no DWM.
  stage2   Stage II: adds 'pseudo_labels/train' (half of every batch) read
           from --config.data.pseudo_label_dir; trained from scratch, with
           pseudo-labelled frames below confidence 0.7 masked (Eq. 15).
  quick    a CPU demonstration: 0.5-s slices, batch 2, 30 steps, a smaller
           DWM, two 2-s evaluation mixtures; docs/experiments.md has the
           numbers of ``:quick`` and ``:quick,none``.
"""

from __future__ import annotations

import ml_collections

from configs import _variants
from configs import timbre_trap

PSEUDO_SOURCE = 'pseudo_labels/train'


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """MAJL Stage I (DWHS) or the comma-separated variants of the docstring."""
  config = timbre_trap.get_config()  # every Timbre-Trap key, then MAJL's
  with config.unlocked():
    config.system = 'majl_separation'  # mpe_jax.objectives.majl
    config.model.variant = 'majl_separation'  # name only
    config.cqt.block_seconds = 3.0  # CQT slice: 1,024 frames

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
    config.model.dwm.n_bins = 540  # CQT bins ('flatten' only)
    config.model.dwm.n_frames = 1024  # CQT frames of an excerpt ('flatten')

    # --- objectives: the two task losses and Eq. 13
    config.loss_weights = ml_collections.ConfigDict()
    config.loss_weights.separation = 1.0  # |F(X_mix, 1) - X_clean|^2, task 1
    config.loss_weights.pitch = 1.0  # L_tr(Y, tanh|F(F(X_mix, 1), 0)|), task 2
    config.loss_weights.dwhs = 1.0  # the DWM's case losses (Eq. 13)
    config.augment = ml_collections.ConfigDict()
    config.augment.percussion = ml_collections.ConfigDict()
    config.augment.percussion.max_volume = 1.0  # drums volume v ~ U(0, max)

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
    # When a pitch map counts as correct (decides the case of a sample).
    config.dwhs.correctness = ml_collections.ConfigDict()
    config.dwhs.correctness.metric = 'f1'  # frame-level multi-pitch F1
    config.dwhs.correctness.threshold = 0.5  # salience threshold
    config.dwhs.correctness.tolerance_bins = 2  # ±2 bins = ±40 cents
    config.dwhs.correctness.min_score = 0.5  # correct iff F1 >= 0.5

    config.optim.dwm_lr = 1e-3  # the DWM's AdamW learning rate

    config.train.batch_size = 16  # the paper's batch
    config.train.num_steps = 20000

    config.data.train_source = 'mixture'
    config.data.mixture.sources = ('synthetic/train',)  # labelled notes
    config.data.mixture.proportions = (1,)
    config.data.mixture.use_labels = (True,)
    config.data.drum_source = 'synthetic_drums/train'  # mixed into each item
    # Stage II pseudo-labels (python -m mpe_jax.pseudo_label --output_dir).
    config.data.pseudo_label_dir = ''
    config.data.excerpt_seconds = 3.0  # one CQT slice

    # Evaluation tracks are mixed with synthetic drums at this volume for
    # the separation scores (sdr, sdr_mixture, mix_f1 ...).
    config.eval.drum_volume = 0.5

  _variants.apply(config, arg, 'configs/majl_separation.py', VARIANTS,
                  exclusive=(('none', 'naive'),))
  return config.lock()


def _quick(config: ml_collections.ConfigDict) -> None:
  config.cqt.block_seconds = 0.5  # 128 frames per slice
  config.data.excerpt_seconds = 0.5
  config.data.eval_track_seconds = 2.0
  config.data.eval_num_tracks = 2
  config.model.dwm.channels = (4, 4)
  config.model.dwm.hidden = 16
  config.model.dwm.n_frames = 128
  config.train.batch_size = 2
  config.train.num_steps = 30
  config.train.log_every = 1  # every step: the omega curves
  config.train.eval_every = 1000  # no validation: one final evaluation
  config.train.checkpoint_every = 30
  config.optim.warmup_steps = 5
  # The weights must leave 1 within a few dozen steps to show anything.
  config.optim.dwm_lr = 1e-2
  config.optim.plateau.enabled = False
  config.eval.validation_sets = ()


def _stage2(config: ml_collections.ConfigDict) -> None:
  # Labelled notes and pseudo-labelled items, half of the batch each.
  config.data.mixture.sources += (PSEUDO_SOURCE,)
  config.data.mixture.proportions = (1, 1)
  config.data.mixture.use_labels += (True,)


VARIANTS: dict[str, _variants.Variant] = {
    'quick': _quick,
    'none': _variants.dwhs_weighting('none'),
    'naive': _variants.dwhs_weighting('naive'),
    'stage2': _stage2,
}
