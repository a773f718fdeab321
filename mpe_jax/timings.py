"""Where a command's wall time goes: named phases plus JAX's own tracing,
compilation and cache-loading time (``jax.monitoring`` events).

    timings = Timings()
    with timings.phase('decode'):
      ...
    timings.summary()  # {'imports': s, 'model_load': s, ...}

JAX's tracing and compilation happen inside whichever phase first calls a
program; ``summary`` moves that time out of the phase into ``trace`` and
``compile`` (``cache_load`` when the persistent cache supplied it), so the
phases add up to the wall time without counting anything twice.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

_TRACE = ('/jax/core/compile/jaxpr_trace_duration',
          '/jax/core/compile/jaxpr_to_mlir_module_duration')
_COMPILE = '/jax/core/compile/backend_compile_duration'
_CACHE = '/jax/compilation_cache/cache_retrieval_time_sec'


def process_age() -> float:
  """Seconds since this process started (Linux ``/proc``; 0 elsewhere)."""
  try:
    with open('/proc/self/stat', encoding='ascii') as f:
      fields = f.read().rsplit(')', 1)[1].split()
    start_ticks = int(fields[19])  # field 22 of stat, after pid and comm
    with open('/proc/uptime', encoding='ascii') as f:
      uptime = float(f.read().split()[0])
    return max(0.0, uptime - start_ticks / os.sysconf('SC_CLK_TCK'))
  except (OSError, ValueError, IndexError):
    return 0.0


class Timings:
  """Accumulated seconds per phase, and JAX's compile-time events."""

  def __init__(self):
    self.seconds: dict[str, float] = {}
    self._listening = False
    self._inside: list[str] = []
    # (kind, phase or '', start, end) of JAX's events; nested ones (a jit
    # traced inside another's trace) are dropped when the outer one ends.
    self._events: list[tuple[str, str, float, float]] = []
    self._lock = threading.Lock()

  def listen(self) -> None:
    """Starts counting JAX's tracing and compilation (imports jax)."""
    if self._listening:
      return
    from jax import monitoring  # pylint: disable=g-import-not-at-top
    monitoring.register_event_duration_secs_listener(self._on_duration)
    self._listening = True

  def _on_duration(self, event: str, duration: float, **kwargs) -> None:
    del kwargs
    key = ('trace' if event in _TRACE else 'compile' if event == _COMPILE
           else 'cache_load' if event == _CACHE else None)
    if key is None:
      return
    end = time.perf_counter()
    start = end - duration
    try:  # JAX may compile in another thread (the transcriber's worker)
      phase = self._inside[-1]
    except IndexError:
      phase = ''
    with self._lock:
      self._events = [e for e in self._events
                      if not (e[0] == key and start <= e[2] and e[3] <= end)]
      self._events.append((key, phase, start, end))

  def add(self, name: str, seconds: float) -> None:
    self.seconds[name] = self.seconds.get(name, 0.0) + seconds

  @contextlib.contextmanager
  def phase(self, name: str):
    """Adds the wall time of the block to phase ``name``."""
    self._inside.append(name)
    t0 = time.perf_counter()
    try:
      yield
    finally:
      self.add(name, time.perf_counter() - t0)
      self._inside.pop()

  def summary(self, programs: Any = None) -> dict[str, float]:
    """Phase seconds without the JAX time spent in them, then ``trace``,
    ``compile`` (XLA's own compilation) and ``cache_load`` (programs read
    from JAX's persistent cache, which JAX also counts as compile time), and
    the counts ``programs_compiled`` (XLA compilations) and
    ``programs_cached`` (programs loaded instead: from JAX's cache, and from
    ``programs``, a ``compile_cache.Programs`` store, when given)."""
    jax_time = {'trace': 0.0, 'compile': 0.0, 'cache_load': 0.0}
    inside: dict[str, float] = {}
    for key, phase, start, end in self._events:
      jax_time[key] += end - start
      if phase and key != 'cache_load':  # cache loads lie inside compiles
        inside[phase] = inside.get(phase, 0.0) + end - start
    jax_time['compile'] = max(0.0, jax_time['compile'] -
                              jax_time['cache_load'])
    n_compile = sum(1 for e in self._events if e[0] == 'compile')
    n_cached = sum(1 for e in self._events if e[0] == 'cache_load')
    out = {name: max(0.0, s - inside.get(name, 0.0))
           for name, s in self.seconds.items()}
    out.update(jax_time)
    out = {k: round(v, 3) for k, v in out.items()}
    out['programs_compiled'] = n_compile - n_cached
    out['programs_cached'] = n_cached + int(getattr(programs, 'loaded', 0))
    return out
