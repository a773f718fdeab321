"""Training and evaluation: ``train_and_evaluate(config, workdir)``.

One train-state pytree (parameters, optimizer state, step, PRNG key, plateau
bookkeeping) is created already sharded over the ``data`` mesh, donated to a
jit-compiled step that composes every enabled objective, checkpointed by
``checkpointing.py`` and restored on restart. Host work (data reading,
mir_eval, files) stays outside jit.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import time
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import optax
from absl import logging
from flax import nnx

from mpe_jax import checkpointing, cpu_budget, parallel, schedules, systems
from mpe_jax.bucketing import BUCKETS_PER_OCTAVE, BucketedSalience
# The evaluation loop lives in evaluation_loop; its names stay importable
# from here.
from mpe_jax.evaluation_loop import evaluate_tracks
from mpe_jax.evaluation_loop import host_scalars
from mpe_jax.evaluation_loop import print_table
from mpe_jax.evaluation_loop import validation_losses
from mpe_jax.metric_writers import MetricWriter
from mpe_jax.models import build_model, count_params, transfer
from mpe_jax import teacher as teacher_lib
from mpe_jax import train_state as train_state_lib
# The train state and its optimizer live in train_state; their names stay
# importable from here.
from mpe_jax.train_state import PRNG_IMPL
from mpe_jax.train_state import TrainState
from mpe_jax.train_state import build_optimizer
from mpe_jax.train_state import init_train_state


# Mixed precision: convolutions compute in this dtype; parameters, optimizer
# state, features and losses stay float32.
COMPUTE_DTYPES = ('float32', 'bfloat16')


class TrainingDiverged(FloatingPointError):
  """The loss became NaN/Inf; the last good checkpoint is kept."""


# ----------------------------------------------------------------- set-up ---


def validate_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for inconsistent settings (before anything is built)."""
  systems.get_system(config).validate(config)
  systems.check_model_kind(config)
  if (float(config.loss_weights.get('distill', 0.0))
      and not config.get('teacher', {}).get('checkpoint')):
    raise ValueError('config.loss_weights.distill is set but '
                     'config.teacher.checkpoint is empty: name the model to '
                     'distil from.')
  for name in ('num_steps', 'batch_size', 'log_every', 'eval_every',
               'checkpoint_every'):
    if int(config.train[name]) <= 0:
      raise ValueError(f'config.train.{name} must be > 0, '
                       f'got {config.train[name]}.')
  if int(config.eval.get('length_buckets', 0)) < 0:
    raise ValueError('config.eval.length_buckets must be >= 0 (0: compile '
                     'each evaluation track length).')
  if config.eval.best_mode not in ('min', 'max'):
    raise ValueError("config.eval.best_mode must be 'min' or 'max'.")
  if config.optim.plateau.mode not in ('min', 'max'):
    raise ValueError("config.optim.plateau.mode must be 'min' or 'max'.")
  if config.data.excerpt_seconds <= 0:
    raise ValueError('config.data.excerpt_seconds must be > 0.')
  parallel.check_cpu_devices(int(config.train.get('cpu_devices', 0)))
  cpu_budget.check_budget(float(config.train.get('cpu_budget_hours', 0.0)))
  if config.model.compute_dtype not in COMPUTE_DTYPES:
    raise ValueError(f'config.model.compute_dtype must be one of '
                     f'{COMPUTE_DTYPES}, got {config.model.compute_dtype!r}.')


# ------------------------------------------------------------------ steps ---


def loss_metrics(total: jax.Array, parts: Mapping[str, jax.Array]
                 ) -> dict[str, jax.Array]:
  """Names of what ``System.compute_losses`` returns, for logging.

  A part whose name has no '/' is a loss term, logged as ``loss/<name>``; a
  name with a '/' (e.g. ``dwhs/omega1/case3``) is a statistic the system
  reports next to its losses, logged under that name as is. Statistics never
  enter ``total`` (the system sums only its loss terms).
  """
  metrics = {'loss/total': total}
  metrics.update({(k if '/' in k else f'loss/{k}'): v
                  for k, v in parts.items()})
  return metrics


def make_train_step(graphdef: nnx.GraphDef, frontend: Any,
                    tx: optax.GradientTransformation,
                    scheds: Mapping[str, optax.Schedule],
                    config: ml_collections.ConfigDict,
                    teacher: teacher_lib.Teacher | None = None):
  """``(state, batch) -> (state, metrics)``, a pure function (not yet jitted).

  ``teacher`` (``teacher.load_teacher``): its salience of the clean audio
  joins the batch as ``teacher`` (its parameters are constants of the step).
  """
  compute = systems.get_system(config).compute_losses
  t_params = None if teacher is None else teacher.params

  def loss_fn(params, batch, key):
    model = nnx.merge(graphdef, params)
    batch = teacher_lib.with_targets(teacher, t_params, batch)
    return compute(model, batch, key, frontend, config)

  def train_step(state: TrainState, batch: Mapping[str, jax.Array]):
    key = jax.random.fold_in(
        jax.random.wrap_key_data(state.rng, impl=PRNG_IMPL), state.step)
    (total, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, batch, key)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    updates = jax.tree.map(lambda u: u * state.lr_scale, updates)
    params = optax.apply_updates(state.params, updates)
    metrics = loss_metrics(total, parts)
    metrics['norm/grad'] = optax.global_norm(grads)
    metrics['norm/update'] = optax.global_norm(updates)
    metrics['norm/param'] = optax.global_norm(params)
    for name, sched in scheds.items():
      metrics[f'lr/{name}'] = sched(state.step) * state.lr_scale
    new_state = state.replace(step=state.step + 1, params=params,
                              opt_state=opt_state)
    return new_state, metrics

  return train_step


def make_eval_loss(graphdef: nnx.GraphDef, frontend: Any,
                   config: ml_collections.ConfigDict,
                   teacher: teacher_lib.Teacher | None = None):
  """``(params, batch, key) -> metrics``: validation losses, no update."""
  compute = systems.get_system(config).compute_losses
  t_params = None if teacher is None else teacher.params

  def eval_loss(params, batch, key):
    batch = teacher_lib.with_targets(teacher, t_params, batch)
    total, parts = compute(nnx.merge(graphdef, params), batch, key,
                           frontend, config)
    return loss_metrics(total, parts)

  return eval_loss


# ------------------------------------------------------------------- loop ---


def _progress(total: int, initial: int):
  if jax.process_index() != 0:
    return contextlib.nullcontext(None)
  from tqdm import auto as tqdm  # pylint: disable=g-import-not-at-top
  return tqdm.tqdm(total=total, initial=initial, unit='step',
                   dynamic_ncols=True, desc='train')


class DispatchWindow:
  """Keeps the host at most ``ahead`` steps in front of the device.

  Steps are dispatched asynchronously; without a bound the host queues every
  step up to the next logging sync (``train.log_every``, 50 by default), and
  the progress bar and its ETA jump in bursts of dispatched, not finished,
  steps. ``push`` takes a step's outputs and waits for those of the step
  ``ahead`` before it, so the device always has work queued and the bar
  counts at most ``ahead`` steps that have not finished. Nothing is copied
  to the host.
  """

  def __init__(self, ahead: int = 2):
    if ahead < 1:
      raise ValueError(f'ahead must be >= 1, got {ahead}')
    self.ahead = ahead
    self._pending: collections.deque = collections.deque()

  def push(self, outputs: Any) -> None:
    self._pending.append(outputs)
    while len(self._pending) > self.ahead:
      jax.block_until_ready(self._pending.popleft())

  def __len__(self) -> int:
    return len(self._pending)


def _check_finite(step: int, scalars: Mapping[str, float],
                  last_good: int | None) -> None:
  bad = [k for k, v in scalars.items() if not math.isfinite(v)]
  if bad:
    raise TrainingDiverged(
        f'non-finite {", ".join(sorted(bad))} at step {step}; the last good '
        f'checkpoint is step {last_good} (under WORKDIR/checkpoints/latest).')


@contextlib.contextmanager
def _finish_saves_on_error(ckpt: checkpointing.Checkpointer):
  """On an exception (e.g. ``TrainingDiverged``), lets the asynchronous save
  of the last good step finish before the error propagates."""
  try:
    yield
  except BaseException:
    ckpt.wait()
    raise


def cpu_allocator_hint(backend: str, local_batch: int, ld_preload: str
                       ) -> str | None:
  """A one-line suggestion to preload a caching allocator, or None.

  On CPU, glibc maps every buffer above 32 MiB afresh and the kernel zeroes
  its pages at each step: 42 % of the CPU time of SS-MPE's step at 20 items
  per process, no measurable time at 4 (docs/scaling.md, "The memory
  allocator on CPU"). The hint starts at 8 items, between the two.
  """
  caching = ('tcmalloc', 'jemalloc', 'mimalloc')
  if backend != 'cpu' or local_batch < 8 or any(
      name in ld_preload for name in caching):
    return None
  return (f'CPU training at {local_batch} items per process with the C '
          f'library\'s allocator: preloading tcmalloc (LD_PRELOAD=/usr/lib/'
          f'x86_64-linux-gnu/libtcmalloc_minimal.so.4, Debian package '
          f'libtcmalloc-minimal4) made the SS-MPE batch-20 step 1.8x faster '
          f'(docs/scaling.md).')


def _start_state(config: ml_collections.ConfigDict,
                 tx: optax.GradientTransformation, mesh: jax.sharding.Mesh,
                 ckpt: checkpointing.Checkpointer) -> TrainState:
  """The run's state, replicated over ``mesh``: the newest readable
  checkpoint of the run; else fresh, with the parameters of
  ``config.train.init_checkpoint`` when set (a shipped model's name or
  folder, a model with fewer residual blocks taking the matching ones, or a
  run's checkpoint); else a random initialisation."""
  abstract_state = train_state_lib.abstract_state(
      config, parallel.replicated(mesh))
  restored = ckpt.restore_latest(abstract_state)
  if restored is not None:
    logging.info('Resuming from %s at step %d.', ckpt.latest.directory,
                 restored[1])
    return restored[0]
  # Eager init (one small program per parameter shape) compiles much faster
  # on CPU than one jitted init; then replicate over the mesh.
  state = parallel.replicate(init_train_state(config, tx)[1], mesh)
  init = config.train.init_checkpoint
  if not init:
    return state
  from mpe_jax import pretrained  # pylint: disable=g-import-not-at-top
  folder = pretrained.model_folder(init)
  if folder is not None:
    # A shipped model's folder (its params.npz, checked by its hash).
    init = folder
    source, params = pretrained.load(init)
    if transfer.differs(source.model, config.model):
      params = transfer.carried_params(params, source.model,
                                       jax.device_get(state.params),
                                       config.model)
      logging.info('Kept the residual blocks %s of %s (it has %s).',
                   config.model.residual_dilations, init,
                   source.model.get('residual_dilations') or 'all')
    state = state.replace(params=parallel.replicate(params, mesh))
    step_dir = init
  else:
    step_dir = checkpointing.find_checkpoint(init)
    loaded = checkpointing.restore_params_from(step_dir, abstract_state)
    state = state.replace(params=loaded.params)
  logging.info('Initialised parameters from %s.', step_dir)
  return state


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str
                       ) -> dict[str, Any]:
  """Trains ``config`` in ``workdir`` (resuming if possible), then evaluates.

  Resume order: the newest readable checkpoint in ``WORKDIR/checkpoints/
  latest``; else the parameters of ``config.train.init_checkpoint`` (with a
  fresh optimizer, step 0); else a random initialisation.

  Returns the content written to ``WORKDIR/eval.json``.
  """
  from data_pipelines import pipeline  # pylint: disable=g-import-not-at-top

  validate_config(config)
  os.makedirs(workdir, exist_ok=True)
  mesh = parallel.make_mesh()
  local_batch = parallel.per_process_batch_size(config.train.batch_size, mesh)
  system = systems.get_system(config)
  frontend = system.make_frontend(config)
  tx, scheds = build_optimizer(config)

  graphdef = nnx.graphdef(nnx.eval_shape(
      lambda: build_model(config.model, jax.random.key(0, impl=PRNG_IMPL))))
  ckpt = checkpointing.Checkpointer(workdir)
  state = _start_state(config, tx, mesh, ckpt)
  start = int(state.step)
  logging.info('Model %s: %d parameters; global batch %d (%d per process, '
               '%d devices).', config.model.variant,
               count_params(state.params), config.train.batch_size,
               local_batch, mesh.devices.size)
  hint = cpu_allocator_hint(jax.default_backend(), local_batch,
                            os.environ.get('LD_PRELOAD', ''))
  if hint:
    logging.info(hint)
  if jax.process_index() == 0:
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      f.write(config.to_json_best_effort(indent=2))

  teacher = teacher_lib.load_teacher(config)
  if teacher is not None:
    logging.info('Distilling from %s (loss_weights.distill = %g).',
                 teacher.source, config.loss_weights.distill)
  train_step = parallel.jit_train_step(
      make_train_step(graphdef, frontend, tx, scheds, config, teacher), mesh)
  # Validation and evaluation run replicated over eval_mesh: the whole mesh,
  # or one device where several CPU devices share the cores
  # (parallel.evaluation_mesh); eval_params puts the parameters there.
  eval_mesh = parallel.evaluation_mesh(mesh)
  eval_loss = parallel.jit_eval_step(
      make_eval_loss(graphdef, frontend, config, teacher), eval_mesh)

  continue_threshold = float(config.eval.get('continue_threshold', 0.0))

  def eval_params(params):
    return (params if eval_mesh is mesh
            else jax.device_put(params, parallel.replicated(eval_mesh)))
  # Evaluation: whole-track salience from one compiled program per length
  # bucket instead of one per track length (bucketing.BucketedSalience).
  predict = BucketedSalience(
      config, system=system, frontend=frontend,
      per_octave=config.eval.get('length_buckets',
                                 BUCKETS_PER_OCTAVE))
  track_metrics = (system.make_track_metrics(graphdef, frontend, config)
                   if system.make_track_metrics is not None else None)
  track_evaluator = (
      system.make_track_evaluator(graphdef, frontend, config)
      if system.make_track_evaluator is not None else None)
  writer = MetricWriter(workdir)

  # --- validation sets are loaded once and kept (they are validated every
  # eval_every steps); evaluation sets are loaded one at a time at the end.
  val_tracks = {name: pipeline.eval_tracks(config, name)
                for name in config.eval.validation_sets}
  n_excerpt = int(round(config.data.excerpt_seconds *
                        config.hcqt.sample_rate))
  val_key = jax.random.key(config.seed + 1, impl=PRNG_IMPL)

  def validate(step: int, params) -> dict[str, float]:
    params = eval_params(params)
    out = {}
    for name, tracks in val_tracks.items():
      losses = validation_losses(eval_loss, params, tracks, n_excerpt,
                                 local_batch, val_key, config)
      out.update({f'{name}/{k}': v for k, v in losses.items()})
      means, _ = evaluate_tracks(predict, params, tracks, system, frontend,
                                 config.eval.threshold, track_metrics,
                                 track_evaluator, low=continue_threshold)
      out.update({f'{name}/{k}': v for k, v in means.items()})
    # Every process validates (the programs span all devices); process 0's
    # numbers drive the collective decisions that follow (best/plateau/stop).
    out = parallel.broadcast_from_first(out)
    writer.write(step, {f'val/{k}': v for k, v in out.items()})
    return out

  results: dict[str, Any] = {}

  def final_evaluation(params, title: str) -> dict[str, Any]:
    params = eval_params(params)
    means, tracks = {}, {}
    for name in config.eval.evaluation_sets:
      set_tracks = val_tracks.get(name) or pipeline.eval_tracks(config, name)
      means[name], tracks[name] = evaluate_tracks(
          predict, params, set_tracks, system, frontend, config.eval.threshold,
          track_metrics, track_evaluator, low=continue_threshold)
      del set_tracks
    print_table(title, means, system.summary)
    return {'sets': means, 'tracks': tracks}

  if config.eval.at_start and start == 0:
    results['initial'] = final_evaluation(state.params, 'Before training')

  # --- the loop.
  last_good = ckpt.latest_step()
  stopped_early = False
  clock = cpu_budget.CpuClock(
      workdir, float(config.train.get('cpu_budget_hours', 0.0)),
      resumed_at=start)
  budget_spent = clock.reached()
  if budget_spent:
    logging.info('The CPU budget (%.2f h) was spent before step %d.',
                 clock.budget_seconds / 3600, start)
  elif clock.budget_seconds:
    logging.info('CPU budget: %.3f of %.2f CPU-hours spent before step %d.',
                 clock.spent() / 3600, clock.budget_seconds / 3600, start)
  batches = pipeline.train_batches(config, start_step=start,
                                   process_index=jax.process_index(),
                                   process_count=jax.process_count())
  t0, steps_timed = time.perf_counter(), 0
  window = DispatchWindow(ahead=2)
  with parallel.PreemptionWatch() as preempt, _progress(
      config.train.num_steps, start) as bar, _finish_saves_on_error(ckpt):
    step = start
    while step < config.train.num_steps and not budget_spent:
      batch = parallel.to_global(next(batches), mesh)
      state, metrics = train_step(state, batch)
      window.push(metrics)
      step += 1
      steps_timed += 1
      preempted = preempt.reached(step)  # the same step on every process
      if bar is not None:
        bar.update(1)
      if step % config.train.log_every == 0 or step == config.train.num_steps:
        scalars = host_scalars(metrics)
        _check_finite(step, scalars, last_good)
        dt = time.perf_counter() - t0
        scalars['perf/steps_per_sec'] = steps_timed / dt
        scalars['perf/examples_per_sec'] = (steps_timed *
                                            config.train.batch_size / dt)
        t0, steps_timed = time.perf_counter(), 0
        # Process 0's clock decides, so every process stops at one step.
        cpu = parallel.broadcast_from_first({'cpu': clock.spent()})['cpu']
        scalars['perf/cpu_hours'] = cpu / 3600
        budget_spent = clock.reached(cpu)
        writer.write(step, scalars)
        if bar is not None:
          bar.set_postfix(loss=f'{scalars["loss/total"]:.4g}')
      if step % config.train.eval_every == 0 or budget_spent:
        with clock.paused():  # validation is not charged to the budget
          val = validate(step, state.params)
        state, improved, stop = _after_validation(config, state, val)
        state = parallel.replicate(state, mesh)  # host-updated scalars
        if improved:
          ckpt.save_best(step, state, config)
        stopped_early = stop
      if (step % config.train.checkpoint_every == 0 or preempted
          or stopped_early or budget_spent
          or step == config.train.num_steps):
        # Every metric, norm/param included: a finite loss can still come
        # with parameters an overflowing update made non-finite.
        _check_finite(step, host_scalars(metrics), last_good)
        ckpt.save_latest(step, state, config)
        if jax.process_index() == 0:
          clock.record(step)
        last_good = step
      if preempted:
        ckpt.wait()
        logging.warning('Stopped at step %d after SIGTERM; rerun the same '
                        'command to resume.', step)
        batches.close()
        writer.close()
        ckpt.close()
        return {'preempted_at_step': step}
      if stopped_early:
        logging.info('Early stop at step %d: %s did not improve for %d '
                     'validations.', step, config.eval.best_metric,
                     config.train.early_stop_patience)
        break
      if budget_spent:
        logging.info('CPU budget spent at step %d: %.3f of %.2f CPU-hours.',
                     step, clock.spent() / 3600, clock.budget_seconds / 3600)
        break
  batches.close()
  ckpt.wait()

  # --- final evaluation with the best checkpoint (or the last state).
  best = ckpt.restore_best(train_state_lib.abstract_state(
      config, parallel.replicated(mesh)))
  params = best[0].params if best is not None else state.params
  results['checkpoint'] = ('best step %d' % best[1] if best is not None
                           else 'last step %d' % int(state.step))
  results['final'] = final_evaluation(
      params, f'Evaluation ({results["checkpoint"]})')
  if jax.process_index() == 0:
    with open(os.path.join(workdir, 'eval.json'), 'w') as f:
      json.dump(results, f, indent=2)
  writer.close()
  ckpt.close()
  return results


def _after_validation(config, state: TrainState, val: Mapping[str, float]
                      ) -> tuple[TrainState, bool, bool]:
  """Plateau LR rule and best-metric bookkeeping (host side)."""
  p = config.optim.plateau
  if p.enabled:
    if p.metric not in val:
      raise KeyError(f'config.optim.plateau.metric {p.metric!r} is not '
                     f'computed; available: {sorted(val)}')
    new = schedules.plateau_update(
        schedules.Plateau(float(state.plateau_best), int(state.plateau_bad),
                          float(state.lr_scale)),
        val[p.metric], mode=p.mode, factor=p.factor, patience=p.patience,
        threshold=p.threshold, min_scale=p.min_scale)
    if new.scale != float(state.lr_scale):
      logging.info('Plateau: learning rates scaled to %.4g.', new.scale)
    state = state.replace(
        plateau_best=jnp.asarray(new.best, jnp.float32),
        plateau_bad=jnp.asarray(new.num_bad, jnp.int32),
        lr_scale=jnp.asarray(new.scale, jnp.float32))
  metric = config.eval.best_metric
  if metric not in val:
    raise KeyError(f'config.eval.best_metric {metric!r} is not computed; '
                   f'available: {sorted(val)}')
  value, best = val[metric], float(state.best_value)
  improved = (value < best) if config.eval.best_mode == 'min' else (
      value > best)
  if improved:
    state = state.replace(best_value=jnp.asarray(value, jnp.float32),
                          best_age=jnp.zeros((), jnp.int32))
  else:
    state = state.replace(best_age=state.best_age + 1)
  patience = config.train.early_stop_patience
  stop = patience > 0 and int(state.best_age) >= patience
  return state, improved, stop
