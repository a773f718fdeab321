"""Wall-time measurement shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def best_and_median(fn: Callable[[], object], repeats: int
                    ) -> tuple[float, float]:
  """(best, median) wall time in s over ``repeats`` calls after one warm-up."""
  fn()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return min(times), statistics.median(times)
