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
  # A resumed run starts from what was recorded at its step.
  resumed = cpu_budget.CpuClock(str(tmp_path), budget_hours=spent / 3600,
                                resumed_at=7)
  assert resumed.carried == pytest.approx(saved['cpu_seconds'])
  assert resumed.reached()
  assert not cpu_budget.CpuClock(str(tmp_path), budget_hours=1.0,
                                 resumed_at=7).reached()
  # A fresh run in the same folder starts from zero.
  fresh = cpu_budget.CpuClock(str(tmp_path), budget_hours=spent / 3600)
  assert fresh.carried == 0.0 and not fresh.reached()


def test_resume_from_an_older_checkpoint_carries_its_own_time(tmp_path):
  """A save in flight when the run died: the newest readable checkpoint is
  older than the newest record."""
  clock = cpu_budget.CpuClock(str(tmp_path))
  for step in range(100, 1300, 100):
    clock.record(step, spent=float(step))
  saved = json.load(open(os.path.join(tmp_path, cpu_budget.FILENAME)))
  assert len(saved['history']) == cpu_budget.HISTORY
  assert cpu_budget.CpuClock(str(tmp_path), resumed_at=1000).carried == 1000
  assert cpu_budget.CpuClock(str(tmp_path), resumed_at=1050).carried == 1000
  # Older than every record kept: the oldest kept, an upper bound.
  assert cpu_budget.CpuClock(str(tmp_path), resumed_at=200).carried == 300
  with open(os.path.join(tmp_path, 'old.json'), 'w') as f:  # newest only
    json.dump({'step': 900, 'cpu_seconds': 950.0}, f)
  os.replace(os.path.join(tmp_path, 'old.json'),
             os.path.join(tmp_path, cpu_budget.FILENAME))
  assert cpu_budget.CpuClock(str(tmp_path), resumed_at=900).carried == 950
  for step in range(100, 1300, 100):
    clock.record(step, spent=float(step))
  resumed = cpu_budget.CpuClock(str(tmp_path), resumed_at=1000)
  resumed.record(1100, spent=1111.0)  # the redone step replaces the lost one
  assert cpu_budget.CpuClock(str(tmp_path),
                             resumed_at=1100).carried == 1111.0


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
    cpu_budget.CpuClock(str(tmp_path), resumed_at=3)
  assert '\n' not in str(error.value)


def test_the_study_recipes_differ_only_where_the_study_says():
  from configs import pretrained_v2  # pylint: disable=g-import-not-at-top
  compact, thin, supervised, converge = (
      pretrained_v2.get_config(name).to_dict() for name in (
          'budget_compact', 'budget_thin', 'budget_thin_supervised',
          'budget_thin_converge'))
  for recipe in (compact, thin, supervised):  # the same budget, no early stop
    assert recipe['train']['cpu_budget_hours'] == pretrained_v2.BUDGET_HOURS
    assert recipe['train']['early_stop_patience'] == 0
  assert thin['model']['residual_dilations'] == pretrained_v2.PRUNED['thin']
  assert thin['loss_weights']['timbre'] > 0
  assert supervised['loss_weights']['timbre'] == 0
  assert supervised['loss_weights']['supervised'] > 0
  # The continuation is budget_thin with the budget lifted and an early stop.
  assert converge['train']['cpu_budget_hours'] == 0
  assert converge['train']['early_stop_patience'] == (
      pretrained_v2.CONVERGE_PATIENCE)
  for section in set(thin) - {'train'}:
    assert converge[section] == thin[section], section
  rest = lambda train: {k: v for k, v in train.items()
                        if k not in ('cpu_budget_hours', 'early_stop_patience')}
  assert rest(converge['train']) == rest(thin['train'])
