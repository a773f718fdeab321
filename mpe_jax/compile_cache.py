"""Persistent caches for the inference commands: compiled XLA programs and
built front ends.

Compiling the HCQT and the model for one input shape takes several seconds
on a CPU, and every ``python -m mpe_jax.transcribe`` used to pay it again.
``enable()`` points JAX's persistent compilation cache at a folder of the
user's cache directory, so a second invocation loads the compiled programs
instead of compiling them:

* folder: ``$MPE_JAX_COMPILE_CACHE`` if set (a path; ``0``, ``off``,
  ``false`` or ``no`` turn the cache off), else ``$XDG_CACHE_HOME/mpe_jax/
  xla`` (``~/.cache/mpe_jax/xla`` when ``XDG_CACHE_HOME`` is unset);
* a compilation cache the user configured for JAX
  (``JAX_COMPILATION_CACHE_DIR`` or ``jax.config``) keeps the compiled
  programs and is left alone (front ends and exported programs still go to
  the folder above);
* every program is cached, however fast it compiled;
* the folder is bounded (``MAX_BYTES``, least recently used entries go
  first) and guarded by a file lock, so two processes sharing it read and
  write whole entries only.

The front end (the HCQT filterbank) is kept beside the compiled programs
(``cached_frontend``). A folder that cannot be created turns the cache off
with a warning; nothing else changes (results are identical with and
without the cache).
"""

from __future__ import annotations

import os

from absl import logging

ENV = 'MPE_JAX_COMPILE_CACHE'
MAX_BYTES = 2 * 2**30
_OFF = ('0', 'off', 'false', 'no', 'none', '')


def default_dir() -> str:
  """``$XDG_CACHE_HOME/mpe_jax/xla`` (``~/.cache`` when unset)."""
  base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
      os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'mpe_jax', 'xla')


def resolve_dir(enabled: bool = True) -> str | None:
  """The cache folder to use, or None when the cache is off."""
  if not enabled:
    return None
  value = os.environ.get(ENV)
  if value is not None:
    return None if value.strip().lower() in _OFF else os.path.expanduser(
        value)
  return default_dir()


def enable(enabled: bool = True) -> str | None:
  """Turns the persistent caches on (see the module docstring); returns the
  folder for the front ends and exported programs, or None when off. Call
  before the first compilation."""
  import jax  # pylint: disable=g-import-not-at-top

  path = resolve_dir(enabled)
  if path is None:
    return None
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as error:
    logging.warning('compilation cache off: cannot create %s (%s)', path,
                    error.strerror or type(error).__name__)
    return None
  if jax.config.jax_compilation_cache_dir:
    return path  # the user's own JAX cache keeps the compiled programs
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  # A size bound turns on JAX's file lock around every read and write.
  jax.config.update('jax_compilation_cache_max_size', MAX_BYTES)
  return path


FRONTEND_FORMAT = 1  # bump when a front end's pytree layout changes


def cached_frontend(system, config, directory: str | None):
  """``system.make_frontend(config)``, kept in ``directory`` (a pickle of
  the pytree with numpy leaves, named by a hash of the system and its
  config) so later runs skip building it (the HCQT filterbank: about 2 s
  of numpy, 55 MB). ``directory`` None: built every time. A cache file that
  cannot be read or written is rebuilt or skipped silently."""
  import hashlib  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  import pickle  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top

  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  if directory is None:
    return system.make_frontend(config)
  described = json.dumps({'format': FRONTEND_FORMAT, 'system': config.system,
                          'jax': jax.__version__,
                          'config': config.to_dict()}, sort_keys=True,
                         default=str)
  key = hashlib.sha256(described.encode()).hexdigest()[:24]
  path = os.path.join(directory, 'frontends', f'{key}.pkl')
  try:
    with open(path, 'rb') as f:
      host = pickle.load(f)
    return jax.tree.map(jax.device_put, host)
  except (OSError, EOFError, pickle.UnpicklingError, AttributeError,
          ValueError, TypeError):
    pass
  frontend = system.make_frontend(config)
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    host = jax.tree.map(np.asarray, frontend)
    with tempfile.NamedTemporaryFile(dir=os.path.dirname(path), delete=False,
                                     suffix='.tmp') as f:
      pickle.dump(host, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(f.name, path)  # atomic: a reader sees all of it or nothing
  except OSError:
    pass
  return frontend
