"""Learning-rate schedules and the plateau rule."""

import math

import pytest

from mpe_jax import schedules


def test_cosine_warmup_reference_values():
  f = schedules.cosine_warmup(5e-4, 400)
  expect = lambda t: 5e-4 * (1 - 0.5 * (1 + math.cos(
      math.pi * (1 + min(t, 400)) / 401)))
  for t in (0, 1, 399, 400, 1000):
    assert float(f(t)) == pytest.approx(expect(t), rel=1e-5)
  assert float(f(0)) > 0
  assert float(f(400)) == pytest.approx(5e-4)
  assert float(f(399)) < 5e-4


def test_plateau_halves_after_patience():
  s = schedules.plateau_init('min')
  kw = dict(mode='min', factor=0.5, patience=2, threshold=0.01,
            min_scale=0.1)
  s = schedules.plateau_update(s, 1.0, **kw)
  assert (s.best, s.num_bad, s.scale) == (1.0, 0, 1.0)
  s = schedules.plateau_update(s, 0.995, **kw)  # < 1 % better: not counted
  s = schedules.plateau_update(s, 0.999, **kw)
  assert s.num_bad == 2 and s.scale == 1.0
  s = schedules.plateau_update(s, 1.2, **kw)
  assert s.scale == 0.5 and s.num_bad == 0
  for _ in range(20):
    s = schedules.plateau_update(s, 5.0, **kw)
  assert s.scale == 0.1  # floored
  up = schedules.plateau_update(schedules.plateau_init('max'), 0.3,
                                **{**kw, 'mode': 'max'})
  assert up.best == 0.3
