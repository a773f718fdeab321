"""SS-MPE: fully self-supervised multi-pitch estimation (Cwitkowitz & Duan).

HCQT (6 harmonics, 440 bins, 60 bins/octave from 27.5 Hz, hop 256 at
22,050 Hz) -> Timbre-Trap autoencoder (545,189 parameters, LayerNorm after each
block) -> salience logits, trained with the harmonic, support, sparsity,
timbre-invariance (Gaussian EQ) and geometric-equivariance objectives only.

Run:
  python -m mpe_jax.main --config=configs/ssmpe.py --workdir=runs/ssmpe
  python -m mpe_jax.main --config=configs/ssmpe.py:quick --workdir=runs/quick

The full schedule trains on NSynth when a prepared TFDS ``nsynth`` is found
under ``--config.data.data_dir`` (else on the built-in synthetic NSynth-like
notes): batch 20 of 4-s notes, AdamW 1e-4, plateau halving on the validation
loss, clipping at 10, 45k steps (~3 NSynth epochs). The paper reports, for the
model trained on NSynth (P / R / Acc %): Bach10 65.1 / 82.5 / 57.1,
Su 61.6 / 63.9 / 44.4, TRIOS 50.4 / 52.8 / 34.1, URMP 65.8 / 51.1 / 38.9,
GuitarSet 49.9 / 67.5 / 39.2.

``:quick`` is a laptop run of the whole pipeline on the synthetic source that
finishes in about 11 minutes on 2 CPU cores: 1-s excerpts, batch 4, 150 steps,
LR 1e-3, and the decoder's U-Net skip connections switched on (the paper model
without them needs thousands of steps before its salience forms peaks). It
reports F1 on synthetic polyphonic mixtures before and after training; on 2
CPU cores: 2.59 % untrained, 58.85 % after 150 steps (README, "Results";
docs/experiments.md).

Paper ablations: ``:energy`` (L_e), ``:timbre`` (L_t = L_e + timbre),
``:geometric`` (L_g = L_e + geometric).

Variants combine with commas (e.g. ``:quick,energy``); ``:quick`` and
``:paper`` are alternatives, and so are the three ablations.

``:paper`` trains on the real NSynth and evaluates on the paper's test sets
(docs/datasets.md says where to get them and how to prepare them):
  python -m mpe_jax.main --config=configs/ssmpe.py:paper --workdir=runs/paper \
    --config.data.dataset_dirs.nsynth=/data/NSynth \
    --config.data.dataset_dirs.bach10=/data/Bach10 \
    --config.data.dataset_dirs.su=/data/Su \
    --config.data.dataset_dirs.trios="/data/TRIOS Dataset" \
    --config.data.dataset_dirs.urmp=/data/URMP/Dataset \
    --config.data.dataset_dirs.guitarset=/data/GuitarSet
"""

from __future__ import annotations

import ml_collections
from ml_collections import config_dict

from configs import _variants


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The SS-MPE paper configuration or the comma-separated variants of the
  docstring."""
  config = ml_collections.ConfigDict()
  config.seed = 0  # root seed: model init, augmentation keys, data order
  config.system = 'salience'  # objective composer (mpe_jax.objectives.salience)

  # --- features (mpe_jax.features.hcqt.HCQTConfig)
  config.hcqt = ml_collections.ConfigDict()
  config.hcqt.sample_rate = 22050  # Hz
  config.hcqt.hop_length = 256  # samples (11.61 ms)
  config.hcqt.fmin = 27.5  # Hz, bin 0 of the h=1 channel (A0)
  config.hcqt.bins_per_octave = 60  # 5 bins per semitone
  config.hcqt.n_bins = 440  # 88 semitones per channel
  config.hcqt.harmonics = (0.5, 1, 2, 3, 4, 5)  # channel order
  config.hcqt.gamma = config_dict.placeholder(float)  # None: librosa ERB rule
  config.hcqt.zero_above_nyquist = False  # lhvqt 0.5.3 variant when True
  config.hcqt.normalize_filters = False  # librosa L1-normalised filters
  config.hcqt.top_db = 80.0  # dB range below each item's maximum
  config.hcqt.amin = 1e-5  # amplitude floor
  config.hcqt.kernel_tolerance = 1e-7  # FFT kernel truncation (accuracy)
  config.hcqt.chunk_size = 64  # filters per dense matmul
  config.hcqt.fold_min_fft = 1024  # longer filters: block folding (0: off)
  config.hcqt.fold_chunk_size = 1024  # filters per folded chunk (1 chunk per group)

  # --- model (mpe_jax.models.autoencoder)
  config.model = ml_collections.ConfigDict()
  config.model.variant = 'ssmpe'  # name only; the keys below define it
  config.model.kind = 'autoencoder'  # mpe_jax.models.MODELS entry
  config.model.in_channels = 6  # = len(hcqt.harmonics)
  config.model.out_channels = 1  # salience logits
  config.model.n_bins = 440  # = hcqt.n_bins
  config.model.channels = (4, 8, 16, 32, 64)  # encoder widths (decoder mirrors)
  config.model.latent_size = 128  # latent channels per frame
  # Residual-block dilations per level; () = (1, 2, 3) at every level.
  config.model.residual_dilations = ()
  config.model.norm = 'post_block'  # LayerNorm after each block (SS-MPE)
  config.model.switch_channel = False  # Timbre-Trap mode channel: off
  config.model.film = False  # Timbre-Trap FiLM-conditioning ablation: off
  config.model.skip_connections = False  # Timbre-Trap skip ablation: off
  config.model.compute_dtype = 'float32'  # 'bfloat16' on accelerators
  # How convolutions run (same function and parameters): 'auto' = 'direct'
  # on CPU (strided kernels as matrix products, the full-resolution level as
  # fused sums in [batch, channel, bin, frame]), 'xla' elsewhere; 'gemm' is
  # 'direct' without the full-resolution part; 'direct' is reverse-mode only
  # (use 'gemm' for jax.jvp through the model). See docs/scaling.md.
  config.model.conv_impl = 'auto'
  # Backward pass: 'blocks' recomputes each encoder/decoder block instead of
  # keeping its activations (same gradients, ~1/4 of the temporary memory,
  # +30 % FLOPs); 'auto' = 'blocks' on CPU, 'none' elsewhere. 'blocks' is
  # reverse-mode only: use 'none' for jax.jvp through the model. See
  # docs/scaling.md.
  config.model.remat = 'auto'

  # --- objectives
  config.loss_weights = ml_collections.ConfigDict()
  config.loss_weights.supervised = 0.0  # BCE(y, blurred ground truth): none
  config.loss_weights.support = 1.0  # -(1 - db_1) log(1 - y)
  config.loss_weights.harmonic = 1.0  # -db_h log y
  config.loss_weights.sparsity = 1.0  # |y|_1 over frequency
  config.loss_weights.energy = 0.0  # two-sided BCE(y, db_h) (ISMIR 2025)
  config.loss_weights.timbre = 1.0  # BCE(F(EQ(X)), y)
  config.loss_weights.geometric = 1.0  # BCE(F(GM(X)), GM(y))
  config.loss_weights.percussion = 0.0  # BCE(F(HCQT(x + v drums)), y)
  config.loss_weights.distill = 0.0  # BCE(y, teacher salience): none
  config.objectives = ml_collections.ConfigDict()
  # The released code lets gradients flow through the consistency targets.
  config.objectives.stop_gradient_targets = False
  # Energy group (support/harmonic/sparsity/energy) on every item (SS-MPE),
  # or only on items without ground truth (ISMIR 2025).
  config.objectives.energy_on_unlabeled_only = False
  config.objectives.target_sigma_bins = 1.0  # Gaussian blur of supervised GT
  # Distillation: a trained model (a shipped model's name, an exported
  # model's folder or a run's checkpoint) whose salience of each clean
  # excerpt is the 'distill' term's target (mpe_jax/teacher.py).
  config.teacher = ml_collections.ConfigDict()
  config.teacher.checkpoint = ''

  # --- augmentation (on device, inside the step)
  config.augment = ml_collections.ConfigDict()
  config.augment.eq = ml_collections.ConfigDict()
  config.augment.eq.kind = 'gaussian'  # SS-MPE; 'parabolic' in ISMIR 2025
  config.augment.eq.max_amplitude = 0.375  # A ~ U(-A, A): gains 0.625..1.375
  config.augment.eq.max_std_bins = 120.0  # sigma ~ U(0, 2 octaves)
  config.augment.eq.pointiness = 2.0  # parabolic curves only
  config.augment.geometric = ml_collections.ConfigDict()
  config.augment.geometric.max_freq_shift = 120  # bins (2 octaves)
  config.augment.geometric.max_time_shift = 86  # frames (~1 s)
  config.augment.geometric.max_stretch = 2.0  # stretch in [1/2, 2]
  config.augment.percussion = ml_collections.ConfigDict()
  config.augment.percussion.max_volume = 1.0  # drums volume ~ U(0, max)

  # --- optimisation
  config.optim = ml_collections.ConfigDict()
  config.optim.encoder_lr = 1e-4
  config.optim.decoder_lr = 1e-4
  config.optim.b1 = 0.9  # AdamW (PyTorch defaults)
  config.optim.b2 = 0.999
  config.optim.eps = 1e-8
  config.optim.weight_decay = 0.01
  config.optim.clip_norm = 10.0  # global gradient norm
  config.optim.schedule = 'constant'  # or 'cosine_warmup'
  config.optim.warmup_steps = 0  # cosine_warmup only
  config.optim.plateau = ml_collections.ConfigDict()
  config.optim.plateau.enabled = True  # halve LRs when validation stalls
  config.optim.plateau.metric = 'synthetic_notes/valid/loss/total'
  config.optim.plateau.mode = 'min'
  config.optim.plateau.factor = 0.5
  config.optim.plateau.patience = 29  # validations (~0.5 NSynth epoch)
  config.optim.plateau.threshold = 2e-3  # relative improvement
  config.optim.plateau.min_scale = 1e-3  # never below 1/1000 of the base LR

  # --- training loop
  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 45000  # ~3 epochs of NSynth at batch 20
  config.train.batch_size = 20  # global
  config.train.log_every = 50  # steps between logged scalars
  config.train.eval_every = 250  # steps between validations
  config.train.checkpoint_every = 250  # steps between 'latest' checkpoints
  config.train.early_stop_patience = 58  # validations w/o best improvement
  # Stop (validate, checkpoint, evaluate) once the run has spent this many
  # CPU-hours of process CPU time on training, resumes included, validation
  # left out (mpe_jax/cpu_budget.py; equal-cost comparisons); 0 = no budget.
  config.train.cpu_budget_hours = 0.0
  # CPU devices (the CPU backend only; accelerators are unaffected): 0 = one
  # per core, as many as divide the batch (data parallel over the cores:
  # faster than one device on 2 cores, docs/scaling.md); n = exactly n.
  config.train.cpu_devices = 0
  # Parameters to start a fresh run from (a workdir, checkpoint step dir, or
  # a shipped model's name or folder; fine-tuning); '' = random
  # initialisation. Ignored when resuming.
  config.train.init_checkpoint = ''

  # --- data (data_pipelines.pipeline)
  config.data = ml_collections.ConfigDict()
  # 'synthetic' | 'nsynth' (TFDS) | 'auto' (NSynth if prepared, else
  # synthetic) | 'mixture' (the named sources of config.data.mixture).
  config.data.train_source = 'auto'
  # TFDS data_dir, also holding corpora prepared with
  # `python -m data_pipelines.prepare` (<data_dir>/<corpus>/<split>/).
  config.data.data_dir = ''
  # Raw corpus directories (download layouts: docs/datasets.md); '' = absent.
  # Evaluation sets '<corpus>/<split>' read them; training sources read them
  # when no prepared shards exist under data_dir.
  config.data.dataset_dirs = ml_collections.ConfigDict()
  config.data.dataset_dirs.nsynth = ''  # holds nsynth-{train,valid,test}/
  config.data.dataset_dirs.urmp = ''  # URMP 'Dataset' folder
  config.data.dataset_dirs.bach10 = ''  # Bach10 (01-AchGottundHerr/ ...)
  config.data.dataset_dirs.su = ''  # Su (audio/, gt_Note/)
  config.data.dataset_dirs.trios = ''  # 'TRIOS Dataset' folder
  config.data.dataset_dirs.musicnet = ''  # musicnet (train_data/ ...)
  config.data.dataset_dirs.guitarset = ''  # GuitarSet (annotation/ ...)
  config.data.dataset_dirs.egmd = ''  # e-gmd-v1.0.0
  # Holds philharmonia/ (and the Salamander node_modules/): 'realsamples'.
  config.data.dataset_dirs.realsamples = ''
  config.data.dataset_dirs.fma = ''  # holds fma_metadata/ and fma_<size>/
  config.data.dataset_dirs.maestro = ''  # maestro-v3.0.0
  config.data.dataset_dirs.fluidsynth = ''  # .mid files to render ('' = random)
  # train_source='mixture': sources ('<corpus>/<split>', 'synthetic/train',
  # 'fluidsynth/train'), their shares of every batch, and whether each
  # source's items are supervised (has_label). E.g. ('urmp/train',
  # 'nsynth/train'), (1, 2), (True, False).
  config.data.mixture = ml_collections.ConfigDict()
  config.data.mixture.sources = ()
  config.data.mixture.proportions = ()
  config.data.mixture.use_labels = ()
  config.data.drum_source = ''  # e.g. 'egmd/train': adds batch['drums']
  config.data.excerpt_seconds = 4.0  # training excerpt (a whole NSynth note)
  config.data.eval_track_seconds = 10.0  # synthetic evaluation mixtures
  config.data.eval_num_tracks = 16  # tracks per synthetic evaluation set
  config.data.max_voices = 6  # voices in a synthetic mixture
  config.data.num_parallel_calls = -1  # tf.data AUTOTUNE
  config.data.prefetch = 2  # batches

  # --- evaluation
  config.eval = ml_collections.ConfigDict()
  config.eval.threshold = 0.5  # on peaks of the salience
  # > 0: hysteresis: peak tracks reaching the threshold continue down to this
  # value (evaluation.peaks.PeakDecoder); 0: the threshold alone.
  config.eval.continue_threshold = 0.0
  config.eval.validation_sets = ('synthetic_notes/valid',
                                 'synthetic_mixtures/valid')
  config.eval.evaluation_sets = ('synthetic_mixtures/test',)
  config.eval.best_metric = 'synthetic_notes/valid/loss/total'
  config.eval.best_mode = 'min'
  config.eval.at_start = False  # also evaluate the untrained model
  # Whole-track salience compiles one program per length bucket (this many
  # per octave; exact, docs/usage.md); 0: one per track length.
  config.eval.length_buckets = 3

  _variants.apply(config, arg, 'configs/ssmpe.py', VARIANTS,
                  exclusive=(('quick', 'paper'),
                             ('energy', 'timbre', 'geometric')))
  return config.lock()



def _quick(config: ml_collections.ConfigDict) -> None:
  """The laptop run of the docstring (synthetic source, 150 steps)."""
  # U-Net skips (encoder features added to the decoder's, the Timbre-Trap
  # ablation switch): through the 128-channel bottleneck alone the salience
  # needs thousands of steps to form peaks; with the skips it forms them
  # within ~100 CPU steps (docs/experiments.md).
  config.model.skip_connections = True
  config.data.train_source = 'synthetic'
  config.data.excerpt_seconds = 1.0
  config.data.eval_track_seconds = 6.0
  config.data.eval_num_tracks = 6
  config.train.batch_size = 4
  config.train.num_steps = 150
  config.train.log_every = 10
  config.train.eval_every = 50
  config.train.checkpoint_every = 50
  config.train.early_stop_patience = 0
  config.optim.encoder_lr = 1e-3
  config.optim.decoder_lr = 1e-3
  config.optim.plateau.patience = 2
  config.eval.at_start = True


def _paper(config: ml_collections.ConfigDict) -> None:
  """The paper's data: NSynth training, its validation and test sets."""
  # NSynth train notes (audio only; prepared shards under data_dir or the
  # raw download at dataset_dirs.nsynth), the NSynth-valid total loss for the
  # plateau and best-checkpoint rules, its test sets.
  config.data.train_source = 'mixture'
  config.data.mixture.sources = ('nsynth/train',)
  config.data.mixture.proportions = (1.0,)
  config.data.mixture.use_labels = (False,)
  config.eval.validation_sets = ('nsynth/valid',)
  config.eval.evaluation_sets = ('bach10/test', 'su/test', 'trios/test',
                                 'urmp/all', 'guitarset/test')
  config.eval.best_metric = 'nsynth/valid/loss/total'
  config.optim.plateau.metric = 'nsynth/valid/loss/total'


def _ablation(terms: tuple[str, ...]) -> _variants.Variant:
  """A paper ablation: the energy objectives plus ``terms`` of the timbre
  and geometric ones."""
  def ablation(config: ml_collections.ConfigDict) -> None:
    for term in ('timbre', 'geometric'):
      config.loss_weights[term] = 1.0 if term in terms else 0.0
  return ablation


VARIANTS: dict[str, _variants.Variant] = {
    'quick': _quick,
    'energy': _ablation(()),  # L_e
    'timbre': _ablation(('timbre',)),  # L_t = L_e + timbre
    'geometric': _ablation(('geometric',)),  # L_g = L_e + geometric
    'paper': _paper,
}
