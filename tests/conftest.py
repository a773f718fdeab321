"""Test set-up: 4 fake CPU devices and quiet TensorFlow, before JAX starts."""

import os

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=4')
if '--xla_force_host_platform_device_count' not in os.environ['XLA_FLAGS']:
  os.environ['XLA_FLAGS'] += ' --xla_force_host_platform_device_count=4'
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

# A persistent XLA cache shared by the test workers (and kept between runs):
# a train step compiled by one test, or by the resumed run of the same test,
# is loaded instead of recompiled.
import tempfile  # pylint: disable=g-import-not-at-top

os.environ.setdefault('JAX_COMPILATION_CACHE_DIR',
                      os.path.join(tempfile.gettempdir(),
                                   'mpe_jax_test_xla_cache'))
