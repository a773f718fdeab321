"""The only module that talks to Orbax.

Layout under ``WORKDIR/checkpoints``: ``latest/<step>`` (the newest
``keep`` periodic/final/preemption saves; the older one is the fallback when
the newest cannot be read) and ``best/<step>`` (the single best checkpoint by
the configured validation metric). Each checkpoint holds the train state and
the run's config (JSON), so evaluation and transcription need only a path.

Resume order (``train_and_evaluate``): the newest readable ``latest`` step in
the workdir, else the parameters of ``config.train.init_checkpoint`` (fine-
tuning), else a fresh initialisation.
"""

from __future__ import annotations

import json
import os
from typing import Any

import ml_collections
import orbax.checkpoint as ocp
from absl import logging


class CheckpointError(RuntimeError):
  """A checkpoint directory is missing, unreadable or from another config."""


def _manager(directory: str, keep: int, name: str) -> ocp.CheckpointManager:
  # Multi-host saves synchronise through barriers named after the step; the
  # prefix keeps the 'latest' and 'best' saves of one step apart.
  options = ocp.CheckpointManagerOptions(
      max_to_keep=keep, create=True, enable_async_checkpointing=True,
      cleanup_tmp_directories=True,
      multiprocessing_options=ocp.options.MultiprocessingOptions(
          barrier_sync_key_prefix=name))
  return ocp.CheckpointManager(os.path.abspath(directory), options=options,
                               item_names=('state', 'config'))


class Checkpointer:
  """Periodic ("latest") and best-metric checkpoints of one run."""

  def __init__(self, workdir: str, *, keep: int = 2):
    root = os.path.join(workdir, 'checkpoints')
    self.latest = _manager(os.path.join(root, 'latest'), keep, 'latest')
    self.best = _manager(os.path.join(root, 'best'), 1, 'best')

  @staticmethod
  def _args(state: Any, config: ml_collections.ConfigDict):
    return ocp.args.Composite(state=ocp.args.StandardSave(state),
                              config=ocp.args.JsonSave(config_to_dict(config)))

  def save_latest(self, step: int, state: Any,
                  config: ml_collections.ConfigDict) -> None:
    if step in self.latest.all_steps():
      return
    self.latest.save(step, args=self._args(state, config), force=True)

  def save_best(self, step: int, state: Any,
                config: ml_collections.ConfigDict) -> None:
    if step in self.best.all_steps():
      return
    self.best.save(step, args=self._args(state, config), force=True)

  def latest_step(self) -> int | None:
    return self.latest.latest_step()

  def restore_latest(self, abstract_state: Any) -> tuple[Any, int] | None:
    """Newest readable checkpoint (falls back to older ones with a warning).

    Newer steps that cannot be read are moved to
    ``checkpoints/unreadable/latest-<step>`` so that the resumed run writes
    those steps again. Returns ``None`` when there is no checkpoint.

    Raises:
      CheckpointError: checkpoints exist but none of them can be restored
        (e.g. the config changed); nothing is moved or overwritten.
    """
    restored = _restore_newest(self.latest, abstract_state)
    if restored is None and self.latest.all_steps():
      raise CheckpointError(
          f'{self.latest.directory} has checkpoints (steps '
          f'{sorted(self.latest.all_steps())}) but none can be restored with '
          'this config; restore the config of that run or use a new '
          '--workdir.')
    return restored

  def restore_best(self, abstract_state: Any) -> tuple[Any, int] | None:
    return _restore_newest(self.best, abstract_state)

  def wait(self) -> None:
    self.latest.wait_until_finished()
    self.best.wait_until_finished()

  def close(self) -> None:
    self.latest.close()
    self.best.close()


def _restore_newest(manager: ocp.CheckpointManager, abstract_state: Any
                    ) -> tuple[Any, int] | None:
  manager.reload()
  unreadable = []
  for step in sorted(manager.all_steps(), reverse=True):
    try:
      restored = manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state)))
    except Exception as e:  # pylint: disable=broad-except
      logging.warning('Checkpoint %s/%d cannot be restored (%s: %s); trying '
                      'an older one.', manager.directory, step,
                      type(e).__name__, (str(e).splitlines() or [''])[0][:200])
      unreadable.append(step)
      continue
    if unreadable:
      _set_aside(manager, unreadable)
    return restored['state'], int(step)
  return None


def _set_aside(manager: ocp.CheckpointManager, steps: list[int]) -> None:
  """Moves unreadable step directories out of the manager's sight (kept for
  inspection under ``<checkpoints>/unreadable``)."""
  root = os.path.dirname(str(manager.directory))
  kind = os.path.basename(str(manager.directory))
  target = os.path.join(root, 'unreadable')
  os.makedirs(target, exist_ok=True)
  for step in steps:
    source = os.path.join(str(manager.directory), str(step))
    dest = os.path.join(target, f'{kind}-{step}')
    suffix = 1
    while os.path.exists(dest):
      dest = os.path.join(target, f'{kind}-{step}.{suffix}')
      suffix += 1
    os.replace(source, dest)
    logging.warning('Moved unreadable checkpoint %s to %s; resuming from an '
                    'older step.', source, dest)
  manager.reload()


def config_to_dict(config: ml_collections.ConfigDict) -> dict:
  """JSON-able dict of a config (tuples become lists)."""
  return json.loads(config.to_json_best_effort())


def read_checkpoint_config(step_dir: str) -> dict:
  """The config JSON stored with a checkpoint step directory."""
  path = os.path.join(step_dir, 'config', 'metadata')
  if not os.path.exists(path):
    raise CheckpointError(f'{step_dir} is not an mpe_jax checkpoint '
                          f'(no config/metadata inside).')
  with open(path) as f:
    return json.load(f)


def find_checkpoint(path: str, prefer: str = 'best') -> str:
  """Resolves a workdir, a checkpoints dir or a step dir to one step dir.

  For a workdir, ``prefer`` ('best' or 'latest') picks the subdirectory;
  within it the newest step is used.
  """
  path = os.path.abspath(path)
  if not os.path.isdir(path):
    raise CheckpointError(f'checkpoint path {path} does not exist.')
  if os.path.isdir(os.path.join(path, 'state')):
    return path
  for candidate in (os.path.join(path, 'checkpoints', prefer),
                    os.path.join(path, 'checkpoints', 'latest'),
                    os.path.join(path, prefer), os.path.join(path, 'latest'),
                    path):
    if os.path.isdir(candidate):
      steps = sorted((int(d) for d in os.listdir(candidate) if d.isdigit()),
                     reverse=True)
      steps = [s for s in steps
               if os.path.isdir(os.path.join(candidate, str(s), 'state'))]
      if steps:
        return os.path.join(candidate, str(steps[0]))
  raise CheckpointError(f'no mpe_jax checkpoint found under {path}.')


def restore_params_from(step_dir: str, abstract_state: Any) -> Any:
  """Restores a train-state pytree from one step directory."""
  with ocp.CheckpointManager(os.path.dirname(step_dir),
                             item_names=('state', 'config')) as mgr:
    try:
      restored = mgr.restore(int(os.path.basename(step_dir)),
                             args=ocp.args.Composite(
                                 state=ocp.args.StandardRestore(
                                     abstract_state)))
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointError(
          f'cannot restore {step_dir}: {type(e).__name__}: '
          f'{str(e).splitlines()[0][:300]}') from e
  return restored['state']

