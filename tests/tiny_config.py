"""Tiny SS-MPE configurations for the tests, fast to compile; also config
files: ``--config=tests/tiny_config.py[:ARG]``.

Both have the same shapes (``set_tiny_shapes``, also used by other short
runs): two harmonics, 36 bins of one semitone from 110 Hz, a one-block
autoencoder. Every objective and the whole training loop run.

``ARG`` = a number of training steps (default 2): the run shared by the
transcription, evaluation, fault, notebook and pseudo-label tests. 0.5-s
excerpts, batch 4, a checkpoint every step, no validation, and a final
evaluation on one 1-s synthetic mixture.

``ARG`` = ``scaling``: the scale-out tests (sharding, two processes,
preemption), the resume test and the length-bucket test. 0.25-s excerpts, 3
steps, validation every 2 steps on two 0.5-s mixtures, one tf.data thread.
"""

from configs import ssmpe


def set_tiny_shapes(config) -> None:
  """The HCQT, model and augmentation sizes above, on any HCQT config."""
  with config.unlocked():
    config.hcqt.fmin = 110.0
    config.hcqt.bins_per_octave = 12
    config.hcqt.n_bins = 36
    config.hcqt.harmonics = (1, 2)
    config.model.in_channels = 2
    config.model.n_bins = 36
    config.model.channels = (2, 4)
    config.model.latent_size = 4
    config.augment.eq.max_std_bins = 12.0
    config.augment.geometric.max_freq_shift = 6
    config.augment.geometric.max_time_shift = 4


def get_config(arg: str | None = None):
  """``arg``: a number of steps (default 2), or ``'scaling'`` (locked)."""
  config = ssmpe.get_config('quick')
  set_tiny_shapes(config)
  with config.unlocked():
    config.train.batch_size = 4  # one item per fake device
    config.train.log_every = 1
    config.train.checkpoint_every = 1
    config.eval.at_start = False
    config.eval.evaluation_sets = ('synthetic_mixtures/test',)
    if arg == 'scaling':
      config.data.excerpt_seconds = 0.25
      config.data.eval_track_seconds = 0.5
      config.data.eval_num_tracks = 2
      config.data.num_parallel_calls = 1
      config.train.num_steps = 3
      config.train.eval_every = 2
      config.eval.validation_sets = ('synthetic_mixtures/valid',)
      config.eval.best_metric = 'synthetic_mixtures/valid/f1'
      config.eval.best_mode = 'max'
      config.optim.plateau.metric = 'synthetic_mixtures/valid/loss/total'
    else:
      config.data.excerpt_seconds = 0.5
      config.data.eval_track_seconds = 1.0
      config.data.eval_num_tracks = 1
      config.train.num_steps = int(arg) if arg else 2
      config.train.eval_every = 1000  # no validation (keeps the run short)
      config.optim.plateau.enabled = False
      config.eval.validation_sets = ()
  return config
