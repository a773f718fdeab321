"""The CPU-hour clock of training budgets: carried across resumes."""

import json
import os

import pytest

from mpe_jax import cpu_budget


def _burn(seconds: float) -> None:
  import time  # pylint: disable=g-import-not-at-top
  end = time.process_time() + seconds
  while time.process_time() < end:
    pass


def test_clock_counts_this_process_and_carries_over(tmp_path):
  clock = cpu_budget.CpuClock(str(tmp_path), budget_hours=0.0)
  assert clock.carried == 0.0 and not clock.reached()  # 0: no budget
  _burn(0.05)
  spent = clock.spent()
  assert spent >= 0.05
  clock.record(7)
  saved = json.load(open(os.path.join(tmp_path, cpu_budget.FILENAME)))
  assert saved['step'] == 7 and saved['cpu_seconds'] >= 0.05
  # A resumed run starts from what was recorded.
  resumed = cpu_budget.CpuClock(str(tmp_path), budget_hours=spent / 3600)
  assert resumed.carried == pytest.approx(saved['cpu_seconds'])
  assert resumed.reached()
  assert not cpu_budget.CpuClock(str(tmp_path), budget_hours=1.0).reached()
  # A fresh run in the same folder starts from zero.
  fresh = cpu_budget.CpuClock(str(tmp_path), budget_hours=spent / 3600,
                              resumed=False)
  assert fresh.carried == 0.0 and not fresh.reached()


def test_paused_blocks_are_left_out(tmp_path):
  clock = cpu_budget.CpuClock(str(tmp_path))
  before = clock.spent()
  with clock.paused():
    _burn(0.2)
  assert clock.spent() - before < 0.1
  _burn(0.05)
  assert clock.spent() - before >= 0.05


def test_bad_budget_and_unreadable_record_are_one_line(tmp_path):
  with pytest.raises(ValueError, match='cpu_budget_hours must be >= 0'):
    cpu_budget.CpuClock(str(tmp_path), budget_hours=-1.0)
  with open(os.path.join(tmp_path, cpu_budget.FILENAME), 'w') as f:
    f.write('{"step": 3')
  with pytest.raises(ValueError, match='unreadable.*delete it') as error:
    cpu_budget.CpuClock(str(tmp_path))
  assert '\n' not in str(error.value)
