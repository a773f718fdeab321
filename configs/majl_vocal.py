r"""MAJL in its original setting: singing-voice separation + vocal pitch.

The joint cascade of Wei et al. (MM 2024): 16-kHz audio, STFT (Hann 2048,
hop 320 = 20 ms), an MSS module (U-Net / residual U-Net mask on the
magnitude) feeding a PE module (CREPE-like on the separated waveform, or
HarmoF0-like on the separated magnitude), weighted per sample by DWHS
(mpe_jax.objectives.majl_vocal; docs/majl.md). Batch 16, Adam 1e-3 x0.98
every 10 epochs, 2.56-s excerpts.

  # Stage I on MIR-1K (Table 2, MAJL-Stage I):
  python -m mpe_jax.main --config=configs/majl_vocal.py:t2_mir1k_stage1 \
    --workdir=runs/mv1 --config.data.dataset_dirs.mir1k=/data/MIR-1K
  # Pseudo-labels of the single-labelled sets with the Stage-I model:
  python -m mpe_jax.vocal_pseudo_label --checkpoint=runs/mv1 \
    --sets=musdb18/train,mir_st500/train --output_dir=runs/mv1_pseudo \
    --dataset_dirs=musdb18=/data/musdb18hq,mir_st500=/data/MIR-ST500
  # Stage II from scratch (Table 2, MAJL + Both):
  python -m mpe_jax.main --config=configs/majl_vocal.py:t2_mir1k_both \
    --workdir=runs/mv2 --config.data.dataset_dirs.mir1k=/data/MIR-1K \
    --config.data.pseudo_label_dir=runs/mv1_pseudo

Every row of the paper's tables that can be built here is a variant
(``:<row>``); the paper's figures (SDR, GNSDR in dB; RPA, RCA in %):

Table 2 (MSS = ResUNet, PE = CREPE unless named; MIR-1K / MedleyDB test):
  t2_mir1k_pipeline_u_c      U-Net w/ CREPE pipeline: 11.43 8.48 89.28 90.41
  t2_mir1k_pipeline_r_c      ResUNet w/ CREPE pipeline: 12.06 9.13 91.40 92.07
  t2_mir1k_pipeline_u_h      U-Net w/ HARMOF0 pipeline: 11.43 8.48 87.95 88.57
  t2_mir1k_pipeline_r_h      ResUNet w/ HARMOF0 pipeline: 12.06 9.13 90.21 90.61
  t2_mir1k_stage1            MAJL-Stage I: 12.33 9.36 93.17 93.65
  t2_mir1k_musdb_half        MAJL + MUSDB18 (Half): 12.68 9.51 93.36 93.74
  t2_mir1k_musdb             MAJL + MUSDB18: 12.81 9.86 93.38 93.88
  t2_mir1k_st500_half        MAJL + MIR_ST500 (Half): 12.41 9.45 93.49 93.96
  t2_mir1k_st500             MAJL + MIR_ST500: 12.55 9.59 93.67 94.08
  t2_mir1k_both              MAJL + Both: 12.98 9.99 94.11 94.38
  t2_medleydb_pipeline_u_c   U-Net w/ CREPE pipeline: 5.06 8.75 72.65 74.98
  t2_medleydb_pipeline_r_c   ResUNet w/ CREPE pipeline: 5.54 10.31 74.62 76.29
  t2_medleydb_pipeline_u_h   U-Net w/ HARMOF0 pipeline: 5.06 8.75 71.24 73.78
  t2_medleydb_pipeline_r_h   ResUNet w/ HARMOF0 pipeline: 5.54 10.31 73.38 75.90
  t2_medleydb_stage1         MAJL-Stage I: 6.04 11.12 76.07 78.28
  t2_medleydb_musdb_half     MAJL + MUSDB18 (Half): 6.78 11.64 76.31 78.47
  t2_medleydb_musdb          MAJL + MUSDB18: 6.91 11.87 76.91 79.43
  t2_medleydb_st500_half     MAJL + MIR_ST500 (Half): 6.15 11.32 77.54 78.96
  t2_medleydb_st500          MAJL + MIR_ST500: 6.39 11.43 77.78 80.11
  t2_medleydb_both           MAJL + Both: 7.18 12.14 78.38 83.21
Table 3 (MUSDB18 test; Stage I models):
  t3_stage1_medleydb         SDR 9.46, GNSDR 15.94
  t3_stage1_mir1k            SDR 10.13, GNSDR 16.51
Table 4 (MIR-ST500 test; Stage I models):
  t4_stage1_medleydb         RPA 83.44, RCA 83.91
  t4_stage1_mir1k            RPA 84.49, RCA 85.26
Table 5 (MIR-1K test; MAJL = Stage II with both sets):
  t5_u_h_pipeline 11.43 8.48 87.95 88.57   t5_u_h_naive_joint 11.05 8.11 88.96 89.20
  t5_u_h_stage1   12.05 9.11 90.62 91.57   t5_u_h_majl        12.25 9.29 91.09 91.85
  t5_r_h_pipeline 12.06 9.13 90.21 90.61   t5_r_h_naive_joint 12.04 9.08 91.46 91.61
  t5_r_h_stage1   12.28 9.33 92.16 92.76   t5_r_h_majl        12.60 9.64 92.51 93.16
  t5_u_c_pipeline 11.43 8.48 89.28 90.41   t5_u_c_naive_joint 11.78 8.84 89.69 90.44
  t5_u_c_stage1   12.16 9.19 91.78 92.40   t5_u_c_majl        12.37 9.41 92.23 92.79
  t5_r_c_pipeline 12.06 9.13 91.40 92.07   t5_r_c_naive_joint 11.91 8.92 91.88 92.15
  t5_r_c_stage1   12.33 9.36 93.17 93.65   t5_r_c_majl        12.98 9.99 94.11 94.38
Table 8 (MIR-1K test; naive DWHS upper_bound / omega_noise):
  t8_pipeline 12.06 9.13 91.40 92.07       t8_naive_joint 11.91 8.92 91.88 92.15
  t8_naive_u4_n0 11.63 8.68 91.67 92.14    t8_naive_u5_n0 12.09 9.16 92.46 92.74
  t8_naive_u6_n0 12.02 9.04 91.92 92.34    t8_naive_u5_n02 12.13 9.18 92.62 93.03
  t8_naive_u5_n04 11.97 9.03 91.98 92.49   t8_dwhs 12.33 9.36 93.17 93.65
Not built: the end-to-end and joint baselines of Table 2 (CNN-Raw, MTANet,
JDC, HS-Wp, S->P->S->P), Table 7 (BandSplitRNN), Table 9 (six seeds of
t2_mir1k_both and t2_mir1k_pipeline_r_c: run them with --config.seed).

Building blocks (comma-combined, e.g. ``:quick,stage2_both``): 'medleydb'
(Stage I on MedleyDB instead of MIR-1K), 'unet' / 'resunet', 'harmof0' /
'crepe', 'pipeline' (the PE module learns from the true vocals, MSS and PE
trained side by side; evaluated as a cascade), 'naive_joint' (Eq. 3),
'naive' (Table 6 rule; 'u4'/'u5'/'u6' upper bound, 'n0'/'n02'/'n04' omega
noise), 'stage2_musdb_half', 'stage2_musdb', 'stage2_st500_half',
'stage2_st500', 'stage2_both' (Stage II: the fully labelled set plus the
pseudo-labelled sets of --config.data.pseudo_label_dir, each in a batch
share proportional to its hours of audio; 'Half' keeps a seeded half of the
tracks), 'eval_musdb', 'eval_st500' (add those test sets), and 'quick'.

:quick is a CPU demonstration on synthetic songs (sung glides and vibrato
with vowel formants over synthetic accompaniment and drums, exact stems and
f0): 'synth_full' stands for MIR-1K, 'synth_mss' for MUSDB18, 'synth_pe' for
MIR-ST500; a small U-Net + HarmoF0-like pair, 1.28-s excerpts, batch 8, 300
steps, the test songs scored before and after (README, docs/majl.md).
"""

from __future__ import annotations

import math

import ml_collections

from configs import _variants

# Hours of training audio (MAJL's 80 % of MIR-1K and of MedleyDB's vocal
# subset; the standard training splits of MUSDB18 and MIR-ST500): the batch
# shares of Stage II and the length of an epoch.
HOURS = {'mir1k': 0.8 * 133 / 60, 'medleydb': 0.8 * 3.21, 'musdb18': 6.6,
         'mir_st500': 25.6}
SEGMENT_SECONDS = 2.56
EPOCHS = 100  # training length (the paper does not say)
BATCH = 16
# name -> (MUSDB18 fraction, MIR-ST500 fraction) of the Stage-II sources.
STAGE2 = {'stage2_musdb_half': (0.5, 0.0), 'stage2_musdb': (1.0, 0.0),
          'stage2_st500_half': (0.0, 0.5), 'stage2_st500': (0.0, 1.0),
          'stage2_both': (1.0, 1.0)}
NAIVE = {'u4': 4.0, 'u5': 5.0, 'u6': 6.0, 'n0': 0.0, 'n02': 0.2, 'n04': 0.4}
BLOCKS = (('medleydb', 'unet', 'resunet', 'harmof0', 'crepe', 'pipeline',
           'naive_joint', 'naive') + tuple(STAGE2) + tuple(NAIVE)
          + ('eval_musdb', 'eval_st500', 'quick'))
QUICK_CORPORA = {'mir1k': 'synth_full', 'medleydb': 'synth_full',
                 'musdb18': 'synth_mss', 'mir_st500': 'synth_pe'}


def _rows() -> dict[str, tuple[str, ...]]:
  """Every table row of the paper that is built here -> its blocks."""
  mods = {'u': 'unet', 'r': 'resunet', 'h': 'harmof0', 'c': 'crepe'}
  rows = {}
  for data in ('mir1k', 'medleydb'):
    base = ('medleydb',) if data == 'medleydb' else ()
    for m, p in ('uc', 'rc', 'uh', 'rh'):
      rows[f't2_{data}_pipeline_{m}_{p}'] = base + (mods[m], mods[p],
                                                    'pipeline')
    rows[f't2_{data}_stage1'] = base
    for extra in ('musdb_half', 'musdb', 'st500_half', 'st500', 'both'):
      rows[f't2_{data}_{extra}'] = base + (f'stage2_{extra}',)
  rows['t3_stage1_medleydb'] = ('medleydb', 'eval_musdb')
  rows['t3_stage1_mir1k'] = ('eval_musdb',)
  rows['t4_stage1_medleydb'] = ('medleydb', 'eval_st500')
  rows['t4_stage1_mir1k'] = ('eval_st500',)
  for m in 'ur':
    for p in 'hc':
      pair = (mods[m], mods[p])
      rows[f't5_{m}_{p}_pipeline'] = pair + ('pipeline',)
      rows[f't5_{m}_{p}_naive_joint'] = pair + ('naive_joint',)
      rows[f't5_{m}_{p}_stage1'] = pair
      rows[f't5_{m}_{p}_majl'] = pair + ('stage2_both',)
  rows['t8_pipeline'] = ('pipeline',)
  rows['t8_naive_joint'] = ('naive_joint',)
  for ub, noise in (('u4', 'n0'), ('u5', 'n0'), ('u6', 'n0'), ('u5', 'n02'),
                    ('u5', 'n04')):
    rows[f't8_naive_{ub}_{noise}'] = ('naive', ub, noise)
  rows['t8_dwhs'] = ()
  return rows


ROWS = _rows()


def _steps(hours: float, epochs: float) -> int:
  """Steps of ``epochs`` passes over ``hours`` of 2.56-s segments."""
  return max(1, int(math.ceil(epochs * hours * 3600 / SEGMENT_SECONDS
                              / BATCH)))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """MAJL Stage I (DWHS) on MIR-1K, or the rows / blocks of the docstring."""
  config = ml_collections.ConfigDict()
  config.system = 'majl_vocal'  # mpe_jax.objectives.majl_vocal
  config.seed = 0  # parameters, data order and excerpts

  # --- front end (mpe_jax.features.stft): the paper's STFT
  config.stft = ml_collections.ConfigDict()
  config.stft.sample_rate = 16000  # Hz
  config.stft.n_fft = 2048  # Hann window and FFT length (128 ms)
  config.stft.hop_length = 320  # 20 ms

  # --- the pitch label grid (the name every data pipeline reads): CREPE's
  # 360 bins of 20 cents from C1, on the STFT frames.
  config.hcqt = ml_collections.ConfigDict()
  config.hcqt.sample_rate = 16000  # Hz (= stft.sample_rate)
  config.hcqt.hop_length = 320  # label frame hop (= stft.hop_length)
  config.hcqt.fmin = 32.70319566257483  # Hz of bin 0 (C1)
  config.hcqt.bins_per_octave = 60  # 20 cents per bin
  config.hcqt.n_bins = 360  # C1 .. B6

  # --- model (mpe_jax.models.vocal.JointCascade)
  config.model = ml_collections.ConfigDict()
  config.model.variant = 'majl_vocal'  # name only
  config.model.kind = 'joint_cascade'  # mpe_jax.models.MODELS entry
  config.model.compute_dtype = 'float32'  # the cascade computes in float32
  config.model.mss = ml_collections.ConfigDict()
  config.model.mss.module = 'resunet'  # 'unet' (Jansson 2017) | 'resunet'
  config.model.mss.channels = (16, 32, 64, 128, 256, 512)  # per level
  config.model.mss.n_bins = 1024  # lowest STFT bins the U-Net reads
  config.model.pe = ml_collections.ConfigDict()
  config.model.pe.module = 'crepe'  # 'crepe' | 'harmof0'
  # 'crepe': conv channels (CREPE 'full': 1024, 128, 128, 128, 256, 512);
  # 'harmof0': 3x3 conv channels.
  config.model.pe.channels = (1024, 128, 128, 128, 256, 512)
  config.model.pe.first_kernel = 512  # 'crepe': first kernel (stride 4)
  config.model.pe.kernel = 64  # 'crepe': the other kernels
  config.model.pe.n_harmonics = 6  # 'harmof0': harmonic stack depth
  config.model.pe.dilations = (1, 1, 1, 1, 1, 1)  # 'harmof0': per conv
  # The grid and STFT the modules are built for (copies of hcqt / stft).
  config.model.grid = ml_collections.ConfigDict(config.hcqt.to_dict())
  config.model.stft = ml_collections.ConfigDict(config.stft.to_dict())
  config.model.dwm = ml_collections.ConfigDict()
  config.model.dwm.enabled = True  # only with dwhs.method='dwhs'
  config.model.dwm.channels = (8, 8)  # the two 3x3 conv layers (ReLU)
  config.model.dwm.hidden = 32  # hidden dense layer (ReLU)
  config.model.dwm.omega_max = 2.0  # omega = 2 sigmoid(.): 1 at the centre
  config.model.dwm.pooling = 'mean'  # 'mean' | 'flatten' (fixed length)
  config.model.dwm.n_bins = 360  # pitch bins ('flatten' only)
  config.model.dwm.n_frames = 129  # frames of a 2.56-s excerpt ('flatten')

  # --- objectives (Eqs. 1, 2, 13-15)
  config.loss_weights = ml_collections.ConfigDict()
  config.loss_weights.mss = 1.0  # mean |s - s_hat| (Eq. 1), task 1
  config.loss_weights.pe = 1.0  # BCE, mean over bins and frames (Eq. 2)
  config.loss_weights.dwhs = 1.0  # the DWM's case losses (Eq. 13)
  config.objectives = ml_collections.ConfigDict()
  config.objectives.target_sigma_bins = 1.25  # CREPE's 25-cent blur
  # 'separated' (the cascade) | 'target' (the pipeline baseline: the PE
  # module learns from the true vocals, MSS on its own).
  config.objectives.pe_input = 'separated'

  # --- DWHS (mpe_jax.objectives.majl.weigh_tasks)
  config.dwhs = ml_collections.ConfigDict()
  config.dwhs.method = 'dwhs'  # 'dwhs' | 'naive' (Table 6) | 'none' (Eq. 3)
  config.dwhs.grad_to_dwm = False  # Eq. 14 does not train the DWM
  config.dwhs.omega_noise = 0.2  # 'naive': task-2 weight of case 2
  config.dwhs.upper_bound = 5.0  # 'naive': cap of hard-sample weights
  config.dwhs.confidence_threshold = 0.7  # th of Eq. 8 (the paper's best)
  # When a pitch map counts as "correct" (Table 1; the paper does not say):
  # its raw pitch accuracy over the excerpt's voiced label frames reaches
  # min_score (docs/majl.md, "Choices where the paper is silent").
  config.dwhs.correctness = ml_collections.ConfigDict()
  config.dwhs.correctness.metric = 'rpa'  # single pitch: raw pitch accuracy
  config.dwhs.correctness.threshold = 0.5  # checked only: RPA ignores voicing
  # Argmax within +-2 bins of the label bin: RPA's +-50 cents on the 20-cent
  # grid (2 bins off is 30-50 cents from the true f0, 3 bins 50-70 cents).
  config.dwhs.correctness.tolerance_bins = 2
  config.dwhs.correctness.min_score = 0.8  # correct iff RPA >= 0.8

  # --- optimisation: Adam 1e-3, x0.98 every 10 epochs
  config.optim = ml_collections.ConfigDict()
  config.optim.mss_lr = 1e-3  # MSS module
  config.optim.pe_lr = 1e-3  # PE module
  config.optim.dwm_lr = 1e-3  # the DWM
  config.optim.b1 = 0.9  # Adam
  config.optim.b2 = 0.999
  config.optim.eps = 1e-8
  config.optim.weight_decay = 0.0  # Adam, not AdamW
  config.optim.clip_norm = 1e6  # global norm; this large = no clipping
  config.optim.schedule = 'step_decay'  # mpe_jax.schedules.step_decay
  config.optim.decay_rate = 0.98  # per 10 epochs
  config.optim.decay_steps = _steps(HOURS['mir1k'], 10)  # 10 epochs
  config.optim.warmup_steps = 0  # unused by 'step_decay'
  config.optim.plateau = ml_collections.ConfigDict()
  config.optim.plateau.enabled = False  # the paper's schedule only
  config.optim.plateau.metric = ''  # (unused)
  config.optim.plateau.mode = 'max'  # (unused)
  config.optim.plateau.factor = 0.5  # (unused)
  config.optim.plateau.patience = 1  # (unused)
  config.optim.plateau.threshold = 0.0  # (unused)
  config.optim.plateau.min_scale = 1.0  # (unused)

  # --- training loop
  config.train = ml_collections.ConfigDict()
  config.train.num_steps = _steps(HOURS['mir1k'], EPOCHS)
  config.train.batch_size = BATCH  # the paper's batch (global)
  config.train.log_every = 50  # steps between logged scalars
  # No validation set in the paper: no validation, the last step is scored.
  config.train.eval_every = 10 ** 9
  config.train.checkpoint_every = 1000  # steps between checkpoints
  config.train.early_stop_patience = 0  # no early stopping
  config.train.cpu_devices = 0  # CPU backend: 0 = one per core
  config.train.init_checkpoint = ''  # '' = random initialisation

  # --- data (data_pipelines.vocal)
  config.data = ml_collections.ConfigDict()
  config.data.train_source = 'vocal'  # mixtures, stems and f0
  config.data.data_dir = ''  # root of prepared folders (<data_dir>/vocal/)
  config.data.dataset_dirs = ml_collections.ConfigDict()
  for corpus in ('mir1k', 'medleydb', 'musdb18', 'mir_st500'):
    config.data.dataset_dirs[corpus] = ''  # raw corpus folder ('' = absent)
  config.data.mixture = ml_collections.ConfigDict()
  config.data.mixture.sources = ('mir1k/train',)  # '<corpus>/<split>'
  config.data.mixture.proportions = (1,)  # batch shares
  config.data.mixture.use_labels = (True,)  # pitch labels per source
  config.data.mixture.use_stems = (True,)  # vocal stems per source
  config.data.vocal = ml_collections.ConfigDict()
  config.data.vocal.fractions = (1.0,)  # share of each source's tracks
  config.data.vocal.synthetic_tracks = 64  # synthetic songs per split
  config.data.vocal.synthetic_seconds = 8.0  # length of a synthetic song
  # Stage-II pseudo-labels (python -m mpe_jax.vocal_pseudo_label).
  config.data.pseudo_label_dir = ''
  config.data.excerpt_seconds = SEGMENT_SECONDS  # the paper's segments
  config.data.num_parallel_calls = -1  # tf.data AUTOTUNE
  config.data.prefetch = 2  # batches

  # --- evaluation (every test set of the row's table)
  config.eval = ml_collections.ConfigDict()
  config.eval.threshold = 0.5  # voicing threshold of the pitch salience
  config.eval.validation_sets = ()  # none (see train.eval_every)
  config.eval.evaluation_sets = ('vocal/mir1k/test',)
  config.eval.best_metric = ''  # (unused without validation)
  config.eval.best_mode = 'max'  # (unused without validation)
  config.eval.at_start = False  # also score the untrained model
  config.eval.batch_segments = 16  # 2.56-s segments per evaluation call

  names = _variants.apply(
      config, arg, 'configs/majl_vocal.py', VARIANTS,
      exclusive=(('unet', 'resunet'), ('harmof0', 'crepe'), METHODS),
      aliases=ROWS, hint=('a table row (t2_..., t3_..., t4_..., t5_..., '
                          f't8_...: see the docstring) or blocks '
                          f'{list(VARIANTS)}'))
  _check_stage2(names)
  return config.lock()


# Weighting methods other than DWHS; Stage II trains with DWHS only.
METHODS = ('pipeline', 'naive_joint', 'naive')


def _check_stage2(names: list[str]) -> None:
  methods = [m for m in METHODS if m in names]
  if methods and any(s in names for s in STAGE2):
    raise ValueError(f'configs/majl_vocal.py: {methods} and Stage II do not '
                     'combine; pick one weighting method (Stage II uses '
                     'DWHS).')


def _medleydb(config: ml_collections.ConfigDict) -> None:
  """Train on MedleyDB instead of MIR-1K (Table 2's lower half)."""
  config.data.mixture.sources = ('medleydb/train',)
  config.eval.evaluation_sets = ('vocal/medleydb/test',)
  config.optim.decay_steps = _steps(HOURS['medleydb'], 10)
  config.train.num_steps = _steps(HOURS['medleydb'], EPOCHS)


def _mss(module: str) -> _variants.Variant:
  """The separation module: 'unet' or 'resunet'."""
  def choose(config: ml_collections.ConfigDict) -> None:
    config.model.mss.module = module
  return choose


def _harmof0(config: ml_collections.ConfigDict) -> None:
  """HarmoF0-like PE on the separated magnitude (its paper's widths)."""
  config.model.pe.module = 'harmof0'
  config.model.pe.channels = (64, 64, 64, 64, 64, 64)
  config.model.pe.dilations = (1, 1, 2, 4, 8, 1)


def _crepe(config: ml_collections.ConfigDict) -> None:
  """CREPE-like PE on the separated waveform."""
  config.model.pe.module = 'crepe'


def _pipeline(config: ml_collections.ConfigDict) -> None:
  """The two modules trained apart: PE on the target stem, no weighting."""
  config.objectives.pe_input = 'target'
  config.dwhs.method = 'none'
  config.model.dwm.enabled = False


def _weighting(method: str) -> _variants.Variant:
  """'naive_joint' (method 'none') or 'naive' per-item weights, no DWM."""
  return _variants.dwhs_weighting(method)


def _upper_bound(name: str) -> _variants.Variant:
  """Naive weighting's upper bound u (Table 8)."""
  def bound(config: ml_collections.ConfigDict) -> None:
    config.dwhs.upper_bound = NAIVE[name]
  return bound


def _noise(name: str) -> _variants.Variant:
  """Naive weighting's noise omega (Table 8)."""
  def noise(config: ml_collections.ConfigDict) -> None:
    config.dwhs.omega_noise = NAIVE[name]
  return noise


def _stage2(name: str) -> _variants.Variant:
  """Stage II: the labelled set plus pseudo-labelled MUSDB18 / MIR-ST500
  (fractions ``STAGE2[name]``), batch shares in proportion to the hours."""
  def stage2(config: ml_collections.ConfigDict) -> None:
    d = config.data
    full = d.mixture.sources[0].split('/')[0]
    sources, hours, fractions = [d.mixture.sources[0]], [HOURS[full]], [1.0]
    for corpus, f in zip(('musdb18', 'mir_st500'), STAGE2[name]):
      if f:
        sources.append(f'pseudo/{corpus}/train')
        hours.append(HOURS[corpus] * f)
        fractions.append(f)
    d.mixture.sources = tuple(sources)
    # Shares of 16 in proportion to the hours (each at least 1).
    shares = [max(1, round(BATCH * h / sum(hours))) for h in hours]
    shares[hours.index(max(hours))] += BATCH - sum(shares)
    d.mixture.proportions = tuple(shares)
    d.mixture.use_labels = (True,) * len(sources)
    d.mixture.use_stems = (True,) * len(sources)
    d.vocal.fractions = tuple(fractions)
    config.optim.decay_steps = _steps(sum(hours), 10)
    config.train.num_steps = _steps(sum(hours), EPOCHS)
  return stage2


def _also_evaluate(name: str) -> _variants.Variant:
  """An extra test set (Tables 3 and 4)."""
  def evaluate(config: ml_collections.ConfigDict) -> None:
    config.eval.evaluation_sets += (name,)
  return evaluate


def _quick(config: ml_collections.ConfigDict, names: list[str]) -> None:
  """The CPU demonstration (docstring): synthetic stand-ins, small modules."""
  m, d = config.model, config.data

  def synthetic(name: str) -> str:
    parts = name.split('/')
    i = 1 if parts[0] == 'pseudo' else 0
    parts[i] = QUICK_CORPORA[parts[i]]
    return '/'.join(parts)

  d.mixture.sources = tuple(synthetic(s) for s in d.mixture.sources)
  config.eval.evaluation_sets = tuple(
      'vocal/' + synthetic(s[len('vocal/'):])
      for s in config.eval.evaluation_sets)
  d.vocal.synthetic_tracks = 48
  d.vocal.synthetic_seconds = 4.0
  d.excerpt_seconds = 1.28  # 64 frames
  if not set(names) & {'unet', 'resunet'}:
    m.mss.module = 'unet'
  if not set(names) & {'harmof0', 'crepe'}:
    m.pe.module = 'harmof0'
  m.mss.channels = (4, 8, 16, 32)
  m.mss.n_bins = 512  # 0 - 4 kHz (the CPU cost is the U-Net's)
  m.pe.channels = ((16, 16, 16) if m.pe.module == 'harmof0'
                   else (64, 16, 16, 16, 32))
  m.pe.dilations = (1, 4, 12) if m.pe.module == 'harmof0' else (1,) * 5
  m.dwm.channels = (4, 4)
  m.dwm.hidden = 16
  m.dwm.n_frames = 65
  config.train.batch_size = 8
  n = len(d.mixture.proportions)
  if n > 1:  # Stage II: half the batch labelled, half pseudo-labelled
    d.mixture.proportions = tuple([4] + [4 // (n - 1)] * (n - 1))
  config.train.num_steps = 300
  config.train.log_every = 25
  config.train.checkpoint_every = 300
  config.optim.decay_steps = 60  # "10 epochs" of 48 songs at batch 8
  config.optim.mss_lr = config.optim.pe_lr = 3e-3
  config.optim.dwm_lr = 1e-2  # the weights must leave 1 within the demo
  config.eval.at_start = True
  config.eval.batch_segments = 8


# The blocks, in the order they apply; table rows (``ROWS``) combine them.
VARIANTS: dict[str, _variants.Variant] = {
    'medleydb': _medleydb,
    'unet': _mss('unet'),
    'resunet': _mss('resunet'),
    'harmof0': _harmof0,
    'crepe': _crepe,
    'pipeline': _pipeline,
    'naive_joint': _weighting('none'),
    'naive': _weighting('naive'),
    **{name: _stage2(name) for name in STAGE2},
    'u4': _upper_bound('u4'), 'u5': _upper_bound('u5'),
    'u6': _upper_bound('u6'),
    'n0': _noise('n0'), 'n02': _noise('n02'), 'n04': _noise('n04'),
    'eval_musdb': _also_evaluate('vocal/musdb18/test'),
    'eval_st500': _also_evaluate('vocal/mir_st500/test'),
    'quick': _variants.WithNames(_quick),
}
# BLOCKS (kept for readers of this module) is the registry's order.
assert tuple(VARIANTS) == BLOCKS
