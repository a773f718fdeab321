"""Learning-rate schedules and the plateau rule (pure functions)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import optax


def cosine_warmup(base_lr: float, warmup_steps: int) -> optax.Schedule:
  """``lr(t) = base * (1 - (1 + cos(pi * c / (n + 1))) / 2)``, ``c = 1 + min(t, n)``.

  The reference's warmup: already non-zero at step 0, exactly ``base`` from
  step ``n`` on. ``warmup_steps = 0`` gives a constant ``base``.
  """
  n = int(warmup_steps)
  if n <= 0:
    return optax.constant_schedule(base_lr)

  def schedule(step):
    c = 1.0 + jnp.minimum(step, n)
    # 1 - (1 + cos(a)) / 2 == sin(a / 2) ** 2, without float32 cancellation.
    return base_lr * jnp.square(jnp.sin(0.5 * jnp.pi * c / (n + 1)))

  return schedule


def step_decay(base_lr: float, decay_rate: float,
               decay_steps: int) -> optax.Schedule:
  """``lr(t) = base * decay_rate ** floor(t / decay_steps)``.

  MAJL's schedule: Adam at 1e-3, multiplied by 0.98 every 10 epochs
  (``decay_steps`` = 10 epochs of steps).
  """
  if int(decay_steps) <= 0 or not 0.0 < float(decay_rate) <= 1.0:
    raise ValueError(f'step_decay needs decay_steps > 0 and decay_rate in '
                     f'(0, 1], got {decay_steps} and {decay_rate}')
  return optax.exponential_decay(base_lr, int(decay_steps), float(decay_rate),
                                 staircase=True)


SCHEDULES = ('constant', 'cosine_warmup', 'step_decay')


def make_schedule(base_lr: float, optim_cfg) -> optax.Schedule:
  """The schedule named by ``optim_cfg.schedule`` (one of ``SCHEDULES``;
  'step_decay' reads ``optim_cfg.decay_rate`` and ``decay_steps``)."""
  if optim_cfg.schedule == 'constant':
    return optax.constant_schedule(base_lr)
  if optim_cfg.schedule == 'cosine_warmup':
    return cosine_warmup(base_lr, optim_cfg.warmup_steps)
  if optim_cfg.schedule == 'step_decay':
    return step_decay(base_lr, optim_cfg.decay_rate, optim_cfg.decay_steps)
  raise ValueError(f'config.optim.schedule must be one of {SCHEDULES}, got '
                   f'{optim_cfg.schedule!r}')


@dataclasses.dataclass(frozen=True)
class Plateau:
  """State of the reduce-on-plateau rule: best value, bad checks, LR scale."""
  best: float
  num_bad: int
  scale: float


def plateau_init(mode: str) -> Plateau:
  return Plateau(best=float('inf') if mode == 'min' else float('-inf'),
                 num_bad=0, scale=1.0)


def is_improvement(value: float, best: float, *, mode: str,
                   threshold: float) -> bool:
  """Relative improvement test, as PyTorch's ``threshold_mode='rel'``."""
  if mode == 'min':
    return value < best * (1.0 - threshold)
  return value > best * (1.0 + threshold)


def plateau_update(state: Plateau, value: float, *, mode: str, factor: float,
                   patience: int, threshold: float, min_scale: float
                   ) -> Plateau:
  """After ``patience`` checks without improvement, multiply the scale by
  ``factor`` (never below ``min_scale``) and reset the count."""
  if is_improvement(value, state.best, mode=mode, threshold=threshold):
    return Plateau(best=value, num_bad=0, scale=state.scale)
  num_bad = state.num_bad + 1
  if num_bad > patience:
    return Plateau(best=state.best, num_bad=0,
                   scale=max(state.scale * factor, min_scale))
  return Plateau(best=state.best, num_bad=num_bad, scale=state.scale)
