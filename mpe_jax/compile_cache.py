"""The transcriber's own cache: compiled inference programs and built front
ends, in a folder nothing else writes to.

Compiling the HCQT and the model takes several seconds per input shape on a
CPU, and every ``python -m mpe_jax.transcribe`` used to pay it again. The
programs are compiled ahead of time and their XLA executables kept on disk
(``Programs``); a later process deserializes them and calls them without
tracing or compiling anything. JAX's own persistent compilation cache is not
used and JAX's configuration is never changed, so training runs and a user's
own JAX programs (in the same process, with the Python API) neither write
into this folder nor read from it.

* folder: ``$MPE_JAX_COMPILE_CACHE`` if set (a path; ``0``, ``off``,
  ``false`` or ``no`` turn the cache off), else ``$XDG_CACHE_HOME/mpe_jax/
  transcribe`` (``~/.cache/mpe_jax/transcribe`` when ``XDG_CACHE_HOME`` is
  unset), then a sub-folder per JAX and jaxlib version
  (``jax-0.10.2-jaxlib-0.10.2``): another version's entries are never read;
* an entry is one file, written under a temporary name and renamed into
  place (a concurrent reader sees all of it or nothing), with a checksum; a
  missing, truncated, damaged or foreign file is skipped (the program is
  compiled and the entry written again), never fatal, and caching goes on;
* every entry's key holds the program (a hash of the model's config, the
  function's name, argument shapes and dtypes), the backend, the device
  kind, the CPU, the XLA flags and the versions;
* the folder is bounded (``MAX_BYTES``): after a write the least recently
  used entries (by modification time, refreshed on every read) go first.

Entries are pickles and executables, which run code when loaded: the folder
is the user's own (files are created readable by their owner only), and a
folder others can write to must not be used.

The front end (the HCQT filterbank) is kept beside the programs
(``cached_frontend``). A folder that cannot be created turns the cache off
with a warning; results are identical with and without the cache.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import pickle
import tempfile
import threading
from typing import Any, Callable

from absl import logging

ENV = 'MPE_JAX_COMPILE_CACHE'
MAX_BYTES = 1 * 2**30
_OFF = ('0', 'off', 'false', 'no', 'none', '')
FORMAT = 2  # bump when an entry's layout changes
_MAGIC = b'MPEJAXPROGRAM'  # every entry starts with it
PROGRAM_SUFFIX = '.xla'
_COMPILE_LOCK = threading.Lock()  # the worker thread compiles too


def _version(package: str) -> str:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return 'unknown'


def version_folder() -> str:
  """``jax-<version>-jaxlib-<version>``: the sub-folder of this install."""
  return f'jax-{_version("jax")}-jaxlib-{_version("jaxlib")}'


def default_dir() -> str:
  """``$XDG_CACHE_HOME/mpe_jax/transcribe`` (``~/.cache`` when unset)."""
  base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
      os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'mpe_jax', 'transcribe')


def training_dir() -> str:
  """JAX's persistent compilation cache folder for training runs
  (``python -m mpe_jax.main``): ``$XDG_CACHE_HOME/mpe_jax/train/<version>``,
  apart from the transcriber's."""
  base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
      os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'mpe_jax', 'train', version_folder())


def resolve_dir(enabled: bool = True) -> str | None:
  """The cache folder of this JAX version, or None when the cache is off."""
  if not enabled:
    return None
  value = os.environ.get(ENV)
  if value is not None:
    if value.strip().lower() in _OFF:
      return None
    base = os.path.expanduser(value)
  else:
    base = default_dir()
  return os.path.join(base, version_folder())


def enable(enabled: bool = True) -> str | None:
  """The cache folder (created), or None when off or not creatable (with a
  warning). Changes no JAX setting."""
  path = resolve_dir(enabled)
  if path is None:
    return None
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as error:
    logging.warning('compilation cache off: cannot create %s (%s)', path,
                    error.strerror or type(error).__name__)
    return None
  return path


# ------------------------------------------------------------- programs ---


def _machine() -> str:
  """What a compiled executable depends on beyond its program: backend,
  devices, the CPU model and features, XLA's flags."""
  import jax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  cpu = ''
  try:
    with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as f:
      for line in f:
        if line.startswith(('model name', 'flags', 'Features')):
          cpu += line
        elif not line.strip() and cpu:
          break  # the first processor is enough
  except OSError:
    import platform  # pylint: disable=g-import-not-at-top
    cpu = platform.processor() + platform.machine()
  return repr((jax.default_backend(), device.device_kind,
               getattr(device.client, 'platform_version', ''),
               jax.device_count(), os.environ.get('XLA_FLAGS', ''),
               hashlib.sha256(cpu.encode()).hexdigest()))


class Programs:
  """Compiled programs of one model configuration, kept on disk.

  ``wrap(name, fn)`` returns a function with ``fn``'s (positional, array)
  arguments and results. Its first call with a given argument structure,
  shapes and dtypes loads the executable from ``<directory>/programs/`` or,
  when there is none (or it cannot be read), compiles ``fn`` for them and
  writes it; later calls run the executable. ``directory=None`` wraps
  nothing (``fn`` is returned; JAX traces and compiles as usual).

  Attributes:
    loaded: programs read from disk.
    compiled: programs compiled here (and written, if the folder allows).
    skipped: entries found but unusable (damaged, foreign): compiled again.
  """

  def __init__(self, directory: str | None, identity: str, *,
               max_bytes: int = MAX_BYTES):
    self.directory = (None if directory is None
                      else os.path.join(directory, 'programs'))
    self.identity = identity
    self.max_bytes = int(max_bytes)
    self.loaded = self.compiled = self.skipped = 0
    self._machine: str | None = None

  def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (jit-able, positional array arguments) through the store."""
    if self.directory is None:
      return fn
    import jax  # pylint: disable=g-import-not-at-top
    calls: dict[tuple, Callable[..., Any]] = {}

    def call(*args):
      leaves, treedef = jax.tree.flatten(args)
      signature = tuple((tuple(getattr(x, 'shape', ())),
                         str(getattr(x, 'dtype', type(x).__name__)))
                        for x in leaves)
      run = calls.get((treedef, signature))
      if run is not None:
        return run(*leaves)
      # First call with this structure: load (or compile) and run it; an
      # entry that loads but cannot run is compiled again and replaced.
      run, loaded = self._program(name, fn, treedef, leaves, signature)
      try:
        out = run(*leaves)
      except jax.errors.JaxRuntimeError as error:
        if not loaded:
          raise
        logging.info('compilation cache: a %s entry failed to run (%s); '
                     'compiled again', name, error)
        self.loaded -= 1
        self.skipped += 1
        run = self._compile(name, fn, treedef, leaves, signature)
        out = run(*leaves)
      calls[(treedef, signature)] = run
      return out
    return call

  def _key(self, name: str, treedef, signature) -> str:
    if self._machine is None:
      self._machine = _machine()
    described = repr((FORMAT, self.identity, name, str(treedef),
                      list(signature), self._machine, _version('jax'),
                      _version('jaxlib')))
    return hashlib.sha256(described.encode()).hexdigest()[:40]

  def _path(self, name: str, treedef, signature) -> str:
    return os.path.join(self.directory, self._key(name, treedef, signature)
                        + PROGRAM_SUFFIX)

  def _program(self, name: str, fn, treedef, leaves, signature):
    """(executable, whether it was loaded from disk)."""
    loaded = self._load(self._path(name, treedef, signature))
    if loaded is not None:
      self.loaded += 1
      return loaded, True
    return self._compile(name, fn, treedef, leaves, signature), False

  def _compile(self, name: str, fn, treedef, leaves, signature):
    """Compiles ``fn`` for these shapes and writes the entry. JAX's own
    persistent cache is bypassed meanwhile (a user's
    ``JAX_COMPILATION_CACHE_DIR``, the test suite's): re-serialising an
    executable JAX itself loaded from its cache gave CPU entries that could
    not run in another process ('Function ... not found')."""
    import jax  # pylint: disable=g-import-not-at-top

    def flat(*flat_args):
      return fn(*jax.tree.unflatten(treedef, flat_args))

    specs = [jax.ShapeDtypeStruct(getattr(x, 'shape', ()),
                                  getattr(x, 'dtype', None)) for x in leaves]
    with _COMPILE_LOCK:
      before = jax.config.jax_enable_compilation_cache
      jax.config.update('jax_enable_compilation_cache', False)
      try:
        compiled = jax.jit(flat).lower(*specs).compile()
      finally:
        jax.config.update('jax_enable_compilation_cache', before)
    self.compiled += 1
    self._store(self._path(name, treedef, signature), compiled)
    return compiled

  def _load(self, path: str):
    """The executable in ``path``, or None (missing or unusable)."""
    import jax  # pylint: disable=g-import-not-at-top
    from jax.experimental import serialize_executable  # pylint: disable=g-import-not-at-top
    try:
      with open(path, 'rb') as f:
        blob = f.read()
    except OSError:
      return None
    try:
      head = len(_MAGIC) + 32
      if blob[:len(_MAGIC)] != _MAGIC or hashlib.sha256(
          blob[head:]).digest() != blob[len(_MAGIC):head]:
        raise ValueError('not an entry of this cache, or damaged')
      payload, in_tree, out_tree = pickle.loads(blob[head:])
      # Compiled for one device (the default one), as jax.jit does for
      # arguments on no device in particular.
      compiled = serialize_executable.deserialize_and_load(
          payload, in_tree, out_tree, execution_devices=jax.devices()[:1])
    except Exception as error:  # pylint: disable=broad-except
      self.skipped += 1
      logging.info('compilation cache: %s skipped (%s)', path,
                   type(error).__name__)
      return None
    try:
      os.utime(path)  # recently used: kept longest
    except OSError:
      pass
    return compiled

  def _store(self, path: str, compiled) -> None:
    """Writes ``compiled`` atomically, then bounds the folder; a folder
    that cannot be written is left as it is."""
    from jax.experimental import serialize_executable  # pylint: disable=g-import-not-at-top
    try:
      body = pickle.dumps(serialize_executable.serialize(compiled),
                          protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # pylint: disable=broad-except
      logging.info('compilation cache: cannot serialize (%s)', error)
      return
    try:
      os.makedirs(self.directory, exist_ok=True)
      with tempfile.NamedTemporaryFile(dir=self.directory, delete=False,
                                       suffix='.tmp') as f:
        f.write(_MAGIC + hashlib.sha256(body).digest() + body)
      os.replace(f.name, path)
    except OSError:
      return
    evict(self.directory, self.max_bytes)


def evict(directory: str, max_bytes: int) -> None:
  """Removes the least recently used entries of ``directory`` until its
  entries take at most ``max_bytes``. Files that vanish meanwhile (another
  process) and files that are not entries are passed over."""
  entries = []
  try:
    names = os.listdir(directory)
  except OSError:
    return
  for name in names:
    if not name.endswith(PROGRAM_SUFFIX):
      continue
    try:
      stat = os.stat(os.path.join(directory, name))
    except OSError:
      continue
    entries.append((stat.st_mtime, stat.st_size, name))
  total = sum(size for _, size, _ in entries)
  for _, size, name in sorted(entries):
    if total <= max_bytes:
      break
    try:
      os.remove(os.path.join(directory, name))
    except OSError:
      pass
    total -= size


# ------------------------------------------------------------ front ends ---

FRONTEND_FORMAT = 1  # bump when a front end's pytree layout changes


def cached_frontend(system, config, directory: str | None):
  """``system.make_frontend(config)``, kept in ``directory`` (a pickle of
  the pytree with numpy leaves, named by a hash of the system and its
  config) so later runs skip building it (the HCQT filterbank: about 2 s
  of numpy, 55 MB). ``directory`` None: built every time. A cache file that
  cannot be read or written is rebuilt or skipped silently."""
  import json  # pylint: disable=g-import-not-at-top

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
  except Exception:  # pylint: disable=broad-except
    pass  # missing, truncated or foreign: built again
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
