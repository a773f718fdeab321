"""Training budgets in CPU-hours: the CPU time a run has spent, across resumes.

A run's cost on a CPU is its process CPU time (every thread: XLA's, tf.data's,
the host's), not its wall time, which depends on what else shares the cores.
Validation is not training: time spent inside ``paused()`` is left out, so
that recipes with cheaper steps (more steps, hence more validations, in the
same budget) are not charged for how often they are watched.
``CpuClock`` adds this process's CPU time to what earlier processes of the same
run had spent up to the step it resumes from (``WORKDIR/cpu_time.json``, written
at each 'latest' checkpoint, the last ``HISTORY`` of them kept: an asynchronous
save in flight when a run is killed may leave an older checkpoint as the
newest readable one), so that a budget (``config.train.cpu_budget_hours``)
means the same after a resume. Work after that checkpoint is redone and
counted again.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Iterator

FILENAME = 'cpu_time.json'
HISTORY = 10  # recorded checkpoints kept


def check_budget(budget_hours: float) -> None:
  """One line for a negative ``config.train.cpu_budget_hours``."""
  if budget_hours < 0:
    raise ValueError('config.train.cpu_budget_hours must be >= 0 (0: no '
                     f'budget), got {budget_hours}.')


class CpuClock:
  """CPU seconds spent by the run in ``workdir`` (this process and earlier)."""

  def __init__(self, workdir: str, budget_hours: float = 0.0, *,
               resumed_at: int = 0):
    """``resumed_at``: the step the run continues from (0: a fresh run, where
    the record of an earlier run in ``workdir`` is ignored and replaced)."""
    check_budget(budget_hours)
    self.path = os.path.join(workdir, FILENAME)
    self.budget_seconds = float(budget_hours) * 3600.0
    self.history: dict[int, float] = {}
    if resumed_at > 0 and os.path.exists(self.path):
      try:
        with open(self.path) as f:
          saved = json.load(f)
        # Records written before 'history' held the newest step alone.
        history = saved.get('history') or {saved['step']: saved['cpu_seconds']}
        self.history = {int(k): float(v) for k, v in history.items()}
      except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f'{self.path} is unreadable ({e!r}); delete it to '
                         'count CPU time from zero.') from e
    # What was spent up to the checkpoint resumed from (or the nearest
    # recorded one before it; if none is older, the oldest kept: an upper
    # bound).
    before = [k for k in self.history if k <= resumed_at]
    self.carried = (self.history[max(before)] if before else
                    self.history[min(self.history)] if self.history else 0.0)
    self.history = {k: v for k, v in self.history.items() if k <= resumed_at}
    self._start = time.process_time()
    self._left_out = 0.0

  def spent(self) -> float:
    """CPU seconds spent so far (carried + this process, pauses left out)."""
    return self.carried + time.process_time() - self._start - self._left_out

  @contextlib.contextmanager
  def paused(self) -> Iterator[None]:
    """Leaves the CPU time of the block out of the count."""
    start = time.process_time()
    try:
      yield
    finally:
      self._left_out += time.process_time() - start

  def reached(self, spent: float | None = None) -> bool:
    """Whether the budget (if any) is spent."""
    spent = self.spent() if spent is None else spent
    return self.budget_seconds > 0 and spent >= self.budget_seconds

  def record(self, step: int, spent: float | None = None) -> None:
    """Writes the CPU time spent up to ``step`` (atomically)."""
    spent = self.spent() if spent is None else spent
    self.history[int(step)] = spent
    for old in sorted(self.history)[:-HISTORY]:
      del self.history[old]
    tmp = self.path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump({'step': int(step), 'cpu_seconds': spent,
                 'history': {str(k): v for k, v in self.history.items()}}, f)
    os.replace(tmp, self.path)
