"""Test set-up: 4 fake CPU devices and quiet TensorFlow, before JAX starts."""

import os

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=4')
if '--xla_force_host_platform_device_count' not in os.environ['XLA_FLAGS']:
  os.environ['XLA_FLAGS'] += ' --xla_force_host_platform_device_count=4'
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

# One persistent XLA cache per test session: the train step compiled by one
# test (or the resumed run of the same test) is reused, not recompiled.
import atexit  # pylint: disable=g-import-not-at-top
import shutil  # pylint: disable=g-import-not-at-top
import tempfile  # pylint: disable=g-import-not-at-top

if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  _CACHE = tempfile.mkdtemp(prefix='mpe_jax_xla_cache_')
  os.environ['JAX_COMPILATION_CACHE_DIR'] = _CACHE
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
