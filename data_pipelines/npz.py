"""Reading ``.npz`` archives from tf.data's parallel map threads.

``np.load`` parses each ``.npy`` header with ``ast.literal_eval``. On CPython
3.11, two threads in the AST constructor at once can fail with 'SystemError:
AST constructor recursion depth mismatch' (python/cpython gh-106905); it
killed a training run whose tf.data threads decoded the chunks of three
sources. Archives are therefore read one at a time, every array in full
inside the lock (an archive of one chunk or track takes microseconds to
milliseconds).
"""

from __future__ import annotations

import threading
from typing import IO

import numpy as np

_LOCK = threading.Lock()


def read_arrays(source: str | IO[bytes]) -> dict[str, np.ndarray]:
  """Every array of the ``.npz`` at ``source`` (a path or a binary file),
  by name; pickled objects are refused."""
  with _LOCK, np.load(source, allow_pickle=False) as archive:
    return {name: archive[name] for name in archive.files}
