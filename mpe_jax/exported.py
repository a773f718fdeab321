"""Inference programs saved as serialized ``jax.export`` artefacts, so that a
later process runs them without tracing the model or the front end.

Tracing the HCQT and the autoencoder takes about 2 s per input shape on a
CPU, every process. ``Programs(directory, identity).wrap(name, fn)`` returns
a function with ``fn``'s arguments and results; on its first call with a
given argument structure and shapes it looks for
``<directory>/exports/<key>.jaxexport`` (key: a hash of ``identity`` -- the
model's config --, ``name``, the argument tree, shapes and dtypes, the
backend and the JAX version):

* found: the artefact is deserialized and called (``jax.export.Exported.
  call``), which only wraps the stored StableHLO; the persistent compilation
  cache then supplies the executable;
* missing or unreadable: ``fn`` is exported for those shapes (one trace, as
  without the cache), written atomically (a temporary file renamed, so a
  concurrent reader sees all of it or nothing), and called.

Weights are arguments, not constants: one artefact serves every checkpoint
of the same architecture. ``directory=None`` wraps nothing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any, Callable

import jax

FORMAT = 1


class Programs:
  """Serialized programs of one model configuration (module docstring)."""

  def __init__(self, directory: str | None, identity: str):
    self.directory = (None if directory is None
                      else os.path.join(directory, 'exports'))
    self.identity = identity
    self.loaded = 0  # programs read from disk
    self.exported = 0  # programs traced and written

  def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (jit-able, positional array arguments) through the store."""
    if self.directory is None:
      return fn
    calls: dict[tuple, Callable[..., Any]] = {}

    def call(*args):
      leaves, treedef = jax.tree.flatten(args)
      signature = tuple((tuple(getattr(x, 'shape', ())),
                         str(getattr(x, 'dtype', type(x).__name__)))
                        for x in leaves)
      run = calls.get((treedef, signature))
      if run is None:  # first call with this structure: find or export it
        key = hashlib.sha256(repr((
            FORMAT, self.identity, name, str(treedef), list(signature),
            jax.default_backend(), jax.__version__)).encode()).hexdigest()[:32]
        run = calls[(treedef, signature)] = self._program(key, fn, treedef,
                                                          leaves)
      return run(*leaves)
    return call

  def _program(self, key: str, fn, treedef, leaves):
    path = os.path.join(self.directory, f'{key}.jaxexport')
    try:
      with open(path, 'rb') as f:
        exported = jax.export.deserialize(bytearray(f.read()))
      self.loaded += 1
      return exported.call
    except Exception:  # pylint: disable=broad-except
      pass  # missing or damaged (any decoding error): export it again

    def flat(*flat_args):
      return fn(*jax.tree.unflatten(treedef, flat_args))

    specs = [jax.ShapeDtypeStruct(getattr(x, 'shape', ()),
                                  getattr(x, 'dtype', None)) for x in leaves]
    exported = jax.export.export(jax.jit(flat))(*specs)
    try:
      os.makedirs(self.directory, exist_ok=True)
      with tempfile.NamedTemporaryFile(dir=self.directory, delete=False,
                                       suffix='.tmp') as f:
        f.write(exported.serialize())
      os.replace(f.name, path)
      self.exported += 1
    except OSError:
      pass  # a read-only cache: run without storing
    return exported.call
