"""Timbre-Trap: one autoencoder that transcribes or reconstructs (Cwitkowitz et al.).

Complex CQT (9 octaves below Nyquist x 60 bins/octave = 540 bins from
21.53 Hz, 3-s slices, hop 2.93 ms; real and imaginary parts as 2 channels) ->
the Timbre-Trap U-Net without LayerNorm (channels 4..64, latent 128, a switch
channel appended to the latent: 1 = reconstruct, 0 = transcribe; 614,490
parameters) -> real/imaginary coefficients; salience = tanh(|coefficients|)
of the transcription mode. Loss = reconstruction MSE + gamma-balanced
transcription MSE + consistency (paper eqs. 1-4). See docs/timbre_trap.md.

Run:
  python -m mpe_jax.main --config=configs/timbre_trap.py --workdir=runs/tt
  python -m mpe_jax.main --config=configs/timbre_trap.py:quick --workdir=runs/ttq
  python -m mpe_jax.resynthesize --checkpoint=runs/tt song.wav --output_dir=out

The paper's setup: batch 8 of 9-s excerpts, AdamW 1e-3 (weight decay 0.01),
cosine warmup over 50 epochs, LR halved when validation F1 stalls for 500
epochs, clipping at 10, best of 5000 epochs by validation F1, seed 2. Its
epochs are URMP's (35 tracks / batch 8 = 4 steps), so here: warmup 200
steps, patience 8 validations of 250 steps, 20,000 steps. Training uses the
pipeline's labelled source (``data.train_source``; the built-in synthetic
notes by default, so that the config runs without downloads) and validation
the synthetic mixtures; the paper's URMP training is
``--config.data.train_source=mixture --config.data.mixture.sources=
"('urmp/train',)" --config.data.mixture.proportions="(8,)"
--config.data.mixture.use_labels="(True,)"`` with ``data.dataset_dirs.urmp``
set, and its evaluation sets are 'bach10/test', 'su/test' and
'guitarset/test'. The paper reports (P / R / F1 %, SDR dB)
Bach10 81.2 / 84.2 / 82.6, 7.4; Su 52.0 / 53.0 / 51.4, 5.0; GuitarSet
50.1 / 77.7 / 60.2, 4.0.

Variants (paper Table 1 rows; ``:name``, comma-combined, e.g. ``:quick,film``;
the unlabelled-audio rows are alternatives):
  (none)                        Timbre-Trap: L_rc + L_tr + L_cc
  :no_consistency               L_rc + L_tr
  :transcription_only           L_tr
  :magnitude                    magnitude CQT in normalised dB, sigmoid
                                output, L_rc + L_tr ("Magnitude Rc. + Tr.")
  :magnitude_transcription_only the same with L_tr only
  :skip_connections             learnable weighted skip connections
  :film                         FiLM layer before the decoder, no switch channel
  :guitarset_audio, :medleydb_audio, :fma_audio
                                + unlabelled audio: batch 16 = 8 labelled
                                items + 8 of the corpus's audio without its
                                labels ('guitarset/train', 'medleydb/all',
                                'fma/train'; set data.dataset_dirs.<corpus>)
  :quick                        CPU demonstration on synthetic notes (0.5-s
                                slices, batch 2, 60 steps, L_rc + L_tr, U-Net
                                skips; ~4 minutes on 2 cores); reports F1 and
                                SDR before and after training (2.65 -> 36.12 %,
                                0.35 -> 1.92 dB).
"""

from __future__ import annotations

import ml_collections

from configs import _variants

# Table 1 rows that add unlabelled corpora to every batch.
_UNLABELLED_AUDIO_ROWS = {
    'guitarset_audio': ('guitarset/train', 'GuitarSet, players 00-04'),
    'medleydb_audio': ('medleydb/all', 'MedleyDB'),
    'fma_audio': ('fma/train', 'FMA (small)'),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The Timbre-Trap paper configuration or the comma-separated variants of
  the docstring."""
  config = ml_collections.ConfigDict()
  config.seed = 2  # root seed (the reference's): init, data order
  config.system = 'timbre_trap'  # mpe_jax.objectives.timbre_trap

  # --- features (mpe_jax.features.cqt.CQTConfig)
  config.cqt = ml_collections.ConfigDict()
  config.cqt.sample_rate = 22050  # Hz
  config.cqt.n_octaves = 9  # octaves below Nyquist: fmin = 21.53 Hz
  config.cqt.bins_per_octave = 60  # 5 bins per semitone -> 540 bins
  config.cqt.block_seconds = 3.0  # slice length: 1,024 frames (2.93-ms hop)
  # 'complex': real/imaginary channels (Timbre-Trap); 'magnitude_db':
  # per-item normalised dB magnitude, one channel, sigmoid outputs (ablation).
  config.cqt.representation = 'complex'
  config.cqt.top_db = 80.0  # dB range of 'magnitude_db'

  # --- label grid of the data pipeline (labels arrive on the HCQT grid and
  # are mapped to the CQT grid inside the objective; no HCQT is computed)
  config.hcqt = ml_collections.ConfigDict()
  config.hcqt.sample_rate = 22050  # Hz (= cqt.sample_rate)
  config.hcqt.hop_length = 256  # samples between label frames
  config.hcqt.fmin = 27.5  # Hz, label bin 0
  config.hcqt.bins_per_octave = 60  # label bins per octave
  config.hcqt.n_bins = 440  # label bins (A0 .. ~C8)

  # --- model (mpe_jax.models.autoencoder)
  config.model = ml_collections.ConfigDict()
  config.model.variant = 'timbre_trap'  # name only; the keys below define it
  config.model.kind = 'autoencoder'  # mpe_jax.models.MODELS entry
  config.model.in_channels = 2  # real, imaginary (1 for 'magnitude_db')
  config.model.out_channels = 2  # real, imaginary (1 for 'magnitude_db')
  config.model.n_bins = 540  # = cqt.n_octaves * cqt.bins_per_octave
  config.model.channels = (4, 8, 16, 32, 64)  # model complexity 2
  config.model.latent_size = 128  # latent channels per frame
  config.model.norm = 'none'  # no LayerNorm in Timbre-Trap
  config.model.switch_channel = True  # constant mode channel on the latent
  config.model.film = False  # FiLM conditioning instead (ablation)
  config.model.skip_connections = False  # weighted U-Net skips (ablation)
  config.model.compute_dtype = 'float32'  # 'bfloat16' on accelerators
  config.model.conv_impl = 'auto'  # 'direct' on CPU, 'xla' elsewhere
  # Backward pass: 'blocks' recomputes each encoder/decoder block instead of
  # keeping its activations (same gradients, ~1/4 of the temporary memory,
  # +30 % FLOPs); 'auto' = 'blocks' on CPU, 'none' elsewhere. 'blocks' is
  # reverse-mode only: use 'none' for jax.jvp through the model. See
  # docs/scaling.md.
  config.model.remat = 'auto'

  # --- objectives (mpe_jax.objectives.timbre_trap)
  config.loss_weights = ml_collections.ConfigDict()
  config.loss_weights.reconstruction = 1.0  # L_rc(X, F(X, 1)), every item
  config.loss_weights.transcription = 1.0  # L_tr(Y, tanh|F(X, 0)|), labelled
  config.loss_weights.consistency = 1.0  # L_rc(Z, F(Z, 0)) + L_rc(Z, F(Z, 1))
  config.objectives = ml_collections.ConfigDict()
  # Sums of the gamma balancing tensor: 'batch' (paper code) or 'frame'
  # (later released code).
  config.objectives.gamma_scope = 'batch'
  # The released code lets gradients flow through the consistency target Z.
  config.objectives.stop_gradient_targets = False

  # --- optimisation
  config.optim = ml_collections.ConfigDict()
  config.optim.encoder_lr = 1e-3
  config.optim.decoder_lr = 1e-3
  config.optim.b1 = 0.9  # AdamW (PyTorch defaults)
  config.optim.b2 = 0.999
  config.optim.eps = 1e-8
  config.optim.weight_decay = 0.01
  config.optim.clip_norm = 10.0  # global gradient norm
  config.optim.schedule = 'cosine_warmup'
  config.optim.warmup_steps = 200  # 50 URMP epochs of 4 steps
  config.optim.plateau = ml_collections.ConfigDict()
  config.optim.plateau.enabled = True  # halve LRs when validation F1 stalls
  config.optim.plateau.metric = 'synthetic_mixtures/valid/f1'
  config.optim.plateau.mode = 'max'
  config.optim.plateau.factor = 0.5
  config.optim.plateau.patience = 8  # validations (500 URMP epochs)
  config.optim.plateau.threshold = 2e-3  # relative improvement
  config.optim.plateau.min_scale = 1e-3  # never below 1/1000 of the base LR

  # --- training loop
  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 20000  # 5000 URMP epochs
  config.train.batch_size = 8  # global
  config.train.log_every = 50  # steps between logged scalars
  config.train.eval_every = 250  # steps between validations
  config.train.checkpoint_every = 250  # steps between 'latest' checkpoints
  config.train.early_stop_patience = 0  # 0: no early stopping (reference)
  config.train.cpu_devices = 0  # CPU backend: 0 = one per core (configs/ssmpe.py)
  # Parameters to start a fresh run from (a workdir or checkpoint step dir);
  # '' = random initialisation. Ignored when resuming.
  config.train.init_checkpoint = ''

  # --- data (data_pipelines.pipeline)
  config.data = ml_collections.ConfigDict()
  config.data.train_source = 'synthetic'  # labelled synthetic notes
  config.data.data_dir = ''  # TFDS data_dir with prepared datasets
  # Raw corpus directories for '<corpus>/<split>' sets (docs/datasets.md).
  config.data.dataset_dirs = ml_collections.ConfigDict()
  for corpus in ('nsynth', 'urmp', 'bach10', 'su', 'trios', 'musicnet',
                 'guitarset', 'egmd', 'fma', 'maestro', 'fluidsynth'):
    config.data.dataset_dirs[corpus] = ''  # '' = absent
  # train_source='mixture': named sources, their batch shares and labels.
  config.data.mixture = ml_collections.ConfigDict()
  config.data.mixture.sources = ()
  config.data.mixture.proportions = ()
  config.data.mixture.use_labels = ()
  config.data.drum_source = ''  # Timbre-Trap uses no drum mixing
  config.data.excerpt_seconds = 9.0  # training excerpt (3 CQT slices)
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
  config.eval.max_frequency = 5000.0  # Hz; salience above is zeroed
  config.eval.validation_sets = ('synthetic_mixtures/valid',)
  config.eval.evaluation_sets = ('synthetic_mixtures/test',)
  config.eval.best_metric = 'synthetic_mixtures/valid/f1'
  config.eval.best_mode = 'max'
  config.eval.at_start = False  # also evaluate the untrained model

  _variants.apply(config, arg, 'configs/timbre_trap.py', VARIANTS,
                  exclusive=(tuple(_UNLABELLED_AUDIO_ROWS),))
  return config.lock()



def _quick(config: ml_collections.ConfigDict) -> None:
  """CPU demonstration (docs/timbre_trap.md, "Experiments")."""
  # 0.5-s slices and excerpts (128 frames), batch 2, 60 steps, no
  # consistency term (it costs half of a step and is ~1e-5 of the loss this
  # early); the test mixtures are scored before and after training.
  config.cqt.block_seconds = 0.5  # 128 frames per slice
  config.loss_weights.consistency = 0.0
  # U-Net skips (the paper's skip ablation): without them neither the
  # reconstruction nor the salience takes shape within a CPU demonstration.
  config.model.skip_connections = True
  config.data.excerpt_seconds = 0.5
  config.data.eval_track_seconds = 4.0
  config.data.eval_num_tracks = 4
  config.train.batch_size = 2
  config.train.num_steps = 60
  config.train.log_every = 10
  config.train.eval_every = 60  # one validation, at the end
  config.train.checkpoint_every = 30
  config.optim.warmup_steps = 10
  config.optim.plateau.patience = 2
  config.eval.at_start = True


def _no_consistency(config: ml_collections.ConfigDict) -> None:
  """Table 1 row L_rc + L_tr."""
  config.loss_weights.consistency = 0.0


def _transcription_only(config: ml_collections.ConfigDict) -> None:
  """Table 1 row L_tr."""
  config.loss_weights.consistency = 0.0
  config.loss_weights.reconstruction = 0.0


def _magnitude(config: ml_collections.ConfigDict) -> None:
  """Table 1 row "Magnitude Rc. + Tr.": magnitude CQT in normalised dB,
  sigmoid output, L_rc + L_tr."""
  config.cqt.representation = 'magnitude_db'
  config.model.in_channels = 1
  config.model.out_channels = 1
  config.loss_weights.consistency = 0.0


def _magnitude_transcription_only(config: ml_collections.ConfigDict) -> None:
  """Table 1 row: the magnitude row with L_tr only."""
  _magnitude(config)
  config.loss_weights.reconstruction = 0.0


def _skip_connections(config: ml_collections.ConfigDict) -> None:
  """Table 1 row: learnable weighted skip connections."""
  config.model.skip_connections = True


def _film(config: ml_collections.ConfigDict) -> None:
  """Table 1 row: a FiLM layer before the decoder, no switch channel."""
  config.model.film = True
  config.model.switch_channel = False


def _unlabelled_audio(source: str) -> _variants.Variant:
  """Table 1 row + unlabelled audio: 8 labelled items + 8 of ``source``."""
  def unlabelled_audio(config: ml_collections.ConfigDict) -> None:
    # Batch 16: the 8 labelled items of the other rows + 8 items of the
    # corpus's audio, without labels (reconstruction and consistency only).
    config.data.train_source = 'mixture'
    config.data.mixture.sources = ('synthetic/train', source)
    config.data.mixture.proportions = (8, 8)
    config.data.mixture.use_labels = (True, False)
    config.train.batch_size = 16
  return unlabelled_audio


VARIANTS: dict[str, _variants.Variant] = {
    'quick': _quick,
    'no_consistency': _no_consistency,
    'transcription_only': _transcription_only,
    'magnitude': _magnitude,
    'magnitude_transcription_only': _magnitude_transcription_only,
    'skip_connections': _skip_connections,
    'film': _film,
    **{row: _unlabelled_audio(source)
       for row, (source, _) in _UNLABELLED_AUDIO_ROWS.items()},
}
