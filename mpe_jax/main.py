"""Entry point: ``python -m mpe_jax.main --config=configs/ssmpe.py --workdir=DIR``.

Intentionally short: flags, logging, devices, then ``train_and_evaluate``.
Multi-host runs add ``--distributed`` (TPU pods and SLURM are detected; other
clusters and local multi-process runs also pass ``--coordinator_address``,
``--num_processes`` and ``--process_id``); see docs/scaling.md.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Compiled programs are cached across runs (the train step takes ~20 s to
# compile on a laptop CPU), in JAX's persistent cache, in a folder of the
# training runs' own per JAX version (the transcriber keeps its programs
# elsewhere: mpe_jax.compile_cache).
from mpe_jax import compile_cache  # pylint: disable=g-import-not-at-top

os.environ.setdefault('JAX_COMPILATION_CACHE_DIR',
                      compile_cache.training_dir())

from absl import app, flags, logging  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags  # pylint: disable=g-import-not-at-top

from mpe_jax import cli  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Directory for checkpoints, logs and '
                    'results (created; an existing run there is resumed).')
flags.DEFINE_bool('verbose', False, 'Show full tracebacks on errors.')
flags.DEFINE_bool('distributed', False, 'Start the JAX distributed runtime '
                  '(one process per host, or per GPU on SLURM) before any '
                  'JAX computation.')
flags.DEFINE_string('coordinator_address', None, 'With --distributed: '
                    'HOST:PORT of process 0 (not needed on TPU VMs / SLURM).')
flags.DEFINE_integer('num_processes', None, 'With --distributed: number of '
                     'processes (not needed on TPU VMs / SLURM).')
flags.DEFINE_integer('process_id', None, 'With --distributed: index of this '
                     'process (not needed on TPU VMs / SLURM).')
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
  from mpe_jax import parallel  # pylint: disable=g-import-not-at-top
  if not _set_cpu_devices(parallel) or not _start_devices(parallel):
    sys.exit(1)
  if jax.process_index() != 0:  # only process 0 logs progress
    logging.set_verbosity(logging.WARNING)
  from mpe_jax import checkpointing, train  # pylint: disable=g-import-not-at-top
  logging.info('JAX devices: %s (process %d of %d)', jax.devices(),
               jax.process_index(), jax.process_count())
  try:
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except (ValueError, KeyError, FileNotFoundError, OSError,
          train.TrainingDiverged, checkpointing.CheckpointError) as e:
    if FLAGS.verbose:
      raise
    print(f'mpe_jax: error: {type(e).__name__}: {" ".join(str(e).split())}',
          file=sys.stderr)
    sys.exit(1)


def _set_cpu_devices(parallel) -> bool:
  """One CPU device per core (``config.train.cpu_devices``), before JAX
  starts; not for ``--distributed`` runs, whose launchers choose. False after
  a config error."""
  if FLAGS.distributed:
    return True
  train_cfg = FLAGS.config.train
  try:
    count = parallel.cpu_device_count(int(train_cfg.batch_size),
                                      parallel.available_cpus(),
                                      int(train_cfg.get('cpu_devices', 0)))
  except ValueError as e:
    print(f'mpe_jax: error: {e}', file=sys.stderr)
    return False
  parallel.set_cpu_devices(count)
  return True


def _start_devices(parallel) -> bool:
  """``--distributed``: starts the runtime first; False after a usage error."""
  explicit = [f'--{name}' for name in ('coordinator_address', 'num_processes',
                                       'process_id')
              if FLAGS[name].value is not None]
  if not FLAGS.distributed:
    if explicit:
      verb = 'needs' if len(explicit) == 1 else 'need'
      print(f'mpe_jax: error: {", ".join(explicit)} {verb} --distributed.',
            file=sys.stderr)
      return False
    return True
  try:
    parallel.initialize_distributed(
        coordinator_address=FLAGS.coordinator_address,
        num_processes=FLAGS.num_processes, process_id=FLAGS.process_id)
  except ValueError as e:
    if FLAGS.verbose:
      raise
    print(f'mpe_jax: error: {e}', file=sys.stderr)
    return False
  return True


if __name__ == '__main__':
  # Config-key typos (--config.train.batch_sise=4) fail here, in one line
  # listing the valid keys, before TensorFlow or JAX is imported.
  app.run(main, flags_parser=cli.config_flags_parser(FLAGS))
