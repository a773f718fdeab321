"""Entry point: ``python -m mpe_jax.main --config=configs/ssmpe.py --workdir=DIR``.

Intentionally short: flags, logging, devices, then ``train_and_evaluate``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Compiled programs are cached across runs (the train step takes ~20 s to
# compile on a laptop CPU).
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR',
                      os.path.join(os.path.expanduser('~'), '.cache',
                                   'mpe_jax', 'xla'))

from absl import app, flags, logging  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags  # pylint: disable=g-import-not-at-top

from mpe_jax import cli  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Directory for checkpoints, logs and '
                    'results (created; an existing run there is resumed).')
flags.DEFINE_string('init_checkpoint', None, 'Optional checkpoint (workdir or '
                    'step dir) whose parameters initialise a fresh run.')
flags.DEFINE_bool('verbose', False, 'Show full tracebacks on errors.')
config_flags.DEFINE_config_file('config', None, 'Training configuration file '
                                '(e.g. configs/ssmpe.py or '
                                'configs/ssmpe.py:quick).', lock_config=True)
flags.mark_flags_as_required(['config', 'workdir'])


class _QuietLibraries:
  """absl-logging filter: INFO records from checkpoint/IO libraries are noise."""

  NOISY = ('orbax', 'tensorstore', 'etils', 'jax/_src')

  def filter(self, record) -> bool:
    if record.levelno > 20:  # WARNING and above always pass
      return True
    return not any(n in record.pathname for n in self.NOISY)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.get_absl_handler().addFilter(_QuietLibraries())
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.set_visible_devices([], 'GPU')  # TF reads data; JAX owns GPUs.
  import jax  # pylint: disable=g-import-not-at-top
  from mpe_jax import checkpointing, train  # pylint: disable=g-import-not-at-top
  logging.info('JAX devices: %s (process %d of %d)', jax.devices(),
               jax.process_index(), jax.process_count())
  try:
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir,
                             init_checkpoint=FLAGS.init_checkpoint)
  except (ValueError, KeyError, FileNotFoundError, OSError,
          train.TrainingDiverged, checkpointing.CheckpointError) as e:
    if FLAGS.verbose:
      raise
    print(f'mpe_jax: error: {type(e).__name__}: {" ".join(str(e).split())}',
          file=sys.stderr)
    sys.exit(1)


if __name__ == '__main__':
  # Config-key typos (--config.train.batch_sise=4) fail here, in one line
  # listing the valid keys, before TensorFlow or JAX is imported.
  app.run(main, flags_parser=cli.config_flags_parser(FLAGS))
