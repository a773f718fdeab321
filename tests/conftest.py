"""Test set-up: 4 fake CPU devices and quiet TensorFlow, before JAX starts."""

import os

# XLA flags of the tests and of the processes they start (which inherit this
# environment), each unless XLA_FLAGS already sets it:
# - 4 fake CPU devices;
# - no LLVM optimisation passes in XLA's CPU backend: the suite is
#   compile-bound and runs few steps, and the train steps compile about a
#   third faster (then run slower, which the few steps here do not notice).
_TEST_XLA_FLAGS = {'--xla_force_host_platform_device_count': '4',
                   '--xla_backend_optimization_level': '0'}
for _flag, _value in _TEST_XLA_FLAGS.items():
  if _flag not in os.environ.get('XLA_FLAGS', ''):
    os.environ['XLA_FLAGS'] = (
        os.environ.get('XLA_FLAGS', '') + f' {_flag}={_value}').strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

# A persistent XLA cache shared by the test workers (and kept between runs):
# a train step compiled by one test, or by the resumed run of the same test,
# is loaded instead of recompiled.
import tempfile  # pylint: disable=g-import-not-at-top

os.environ.setdefault('JAX_COMPILATION_CACHE_DIR',
                      os.path.join(tempfile.gettempdir(),
                                   'mpe_jax_test_xla_cache'))
# The transcription command's front-end and exported-program cache
# (mpe_jax.compile_cache) in the same place, not in the user's ~/.cache.
os.environ.setdefault('MPE_JAX_COMPILE_CACHE',
                      os.path.join(tempfile.gettempdir(),
                                   'mpe_jax_test_inference_cache'))


# --- A trained-ish checkpoint shared by the transcription, evaluation, fault
# and notebook tests: trained once per test session (pytest-xdist workers
# share it through a file lock), never modified by the tests (copy it first).

import contextlib  # pylint: disable=g-import-not-at-top,g-bad-import-order
import fcntl  # pylint: disable=g-import-not-at-top,g-bad-import-order

import pytest  # pylint: disable=g-import-not-at-top,g-bad-import-order

TRAINED_STEPS = 2


@contextlib.contextmanager
def file_lock(path):
  """An exclusive lock on ``path`` shared by pytest-xdist workers."""
  with open(path, 'w') as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope='session')
def tiny_trained_run(request, tmp_path_factory):
  """Workdir of a finished 2-step run of ``tests/tiny_config.py``."""
  root = tmp_path_factory.getbasetemp()
  if hasattr(request.config, 'workerinput'):  # xdist: shared by all workers
    root = root.parent
  workdir = root / 'trained_run'
  with file_lock(str(root / 'trained_run.lock')):
    if not (workdir / 'eval.json').exists():
      import tiny_config  # pylint: disable=g-import-not-at-top
      from mpe_jax import train  # pylint: disable=g-import-not-at-top
      train.train_and_evaluate(tiny_config.get_config(str(TRAINED_STEPS)),
                               str(workdir))
  return workdir


@pytest.fixture(scope='session')
def tiny_predictor(tiny_trained_run):
  """The trained run loaded for inference, with short (2-s) chunks."""
  from mpe_jax import inference  # pylint: disable=g-import-not-at-top
  return inference.load_predictor(str(tiny_trained_run), chunk_seconds=2.0,
                                  batch_size=2)


@pytest.fixture(scope='session')
def fluidsynth():
  """Skips the requesting test, with the apt command as the reason, when
  FluidSynth or its default General-MIDI soundfont is not installed."""
  from data_pipelines.generated import fluidsynth_render as fs  # pylint: disable=g-import-not-at-top
  try:
    fs.find_fluidsynth()
    fs.check_soundfont(fs.SOUNDFONT)
  except fs.FluidSynthError as error:  # names the apt command
    pytest.skip(f'needs FluidSynth: {error}')
