"""A tiny SS-MPE configuration for the scale-out tests (fast to compile).

Usable as ``--config=tests/scaling_config.py`` by subprocesses and imported by
the in-process tests. Two harmonics, 36 bins of one semitone, a one-block
autoencoder and 0.25-s excerpts: every objective and the whole training loop
run, on shapes small enough for a CPU test.
"""

from configs import ssmpe


def get_config():
  """The tiny configuration (locked)."""
  config = ssmpe.get_config('quick')
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
    config.data.excerpt_seconds = 0.25
    config.data.eval_track_seconds = 0.5
    config.data.eval_num_tracks = 2
    config.data.num_parallel_calls = 1
    config.train.num_steps = 3
    config.train.batch_size = 4
    config.train.log_every = 1
    config.train.eval_every = 2
    config.train.checkpoint_every = 1
    config.eval.at_start = False
    config.eval.validation_sets = ('synthetic_mixtures/valid',)
    config.eval.evaluation_sets = ('synthetic_mixtures/test',)
    config.eval.best_metric = 'synthetic_mixtures/valid/f1'
    config.eval.best_mode = 'max'
    config.optim.plateau.metric = 'synthetic_mixtures/valid/loss/total'
  return config
