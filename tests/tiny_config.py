"""The tiny training config shared by the transcription, evaluation, fault and
notebook tests (also a config file: ``--config=tests/tiny_config.py:STEPS``).

The SS-MPE model and HCQT at full size (so the train step is the one
``test_train`` compiles), 0.5-s excerpts, batch 4, a checkpoint every step, no
validation, and a final evaluation on one 1-s synthetic mixture.
"""

from configs import ssmpe


def get_config(arg: str | None = None):
  """``arg``: number of training steps (default 2)."""
  config = ssmpe.get_config('quick')
  with config.unlocked():
    config.data.excerpt_seconds = 0.5
    config.data.eval_track_seconds = 1.0
    config.data.eval_num_tracks = 1
    config.train.num_steps = int(arg) if arg else 2
    config.train.batch_size = 4  # one item per fake device
    config.train.log_every = 1
    config.train.eval_every = 1000  # no validation (keeps the run short)
    config.train.checkpoint_every = 1
    config.optim.plateau.enabled = False
    config.eval.validation_sets = ()
    config.eval.evaluation_sets = ('synthetic_mixtures/test',)
    config.eval.at_start = False
  return config
