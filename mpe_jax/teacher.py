"""A frozen trained model whose salience is a training target (distillation).

With ``config.teacher.checkpoint`` set (a shipped model's name, an exported
model's folder, or a training run's workdir / checkpoint) and
``config.loss_weights.distill > 0``, the train step adds the teacher's
salience of each clean excerpt to the batch as ``teacher [B, K, T]`` and the
'distill' term (``objectives/salience.py``) pulls the student's clean logits
towards it (BCE with soft targets; Hinton et al., 2015, "Distilling the
Knowledge in a Neural Network"). The teacher may be any architecture of an
HCQT-salience system with the student's HCQT: a larger, slower model
transfers what it learned to a smaller, faster one.

The teacher's parameters are arguments of the jitted step (never updated,
never checkpointed with the run); its forward pass is outside the gradient.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import ml_collections
from flax import nnx

from mpe_jax import systems, train_state
from mpe_jax.models.skeleton import model_skeleton


@dataclasses.dataclass(frozen=True)
class Teacher:
  """A frozen model: ``salience(params, audio [B, N]) -> [B, K, T]`` in
  [0, 1], with its parameters (host arrays) and where they came from."""
  salience: Callable[[Any, jax.Array], jax.Array]
  params: Any
  source: str


def _load(checkpoint: str) -> tuple[ml_collections.ConfigDict, Any, str]:
  # Deferred: the shipped-model loader sits above training.
  from mpe_jax import pretrained  # pylint: disable=g-import-not-at-top
  folder = pretrained.model_folder(checkpoint)
  if folder is not None:
    config, params = pretrained.load(folder)
    return config, params, folder
  return train_state.restore_run(checkpoint, prefer='best')


def check_compatible(student: ml_collections.ConfigDict,
                     teacher: ml_collections.ConfigDict, source: str) -> None:
  """One-line error unless the teacher is an HCQT-salience model whose HCQT
  (and so whose salience grid) is the student's."""
  if teacher.get('system', 'salience') not in ('salience', 'majl_salience'):
    raise ValueError(f'config.teacher.checkpoint {source!r} is a '
                     f'{teacher.system!r} model; distillation needs an '
                     'HCQT-salience model.')
  mine, theirs = student.hcqt.to_dict(), teacher.hcqt.to_dict()
  differ = sorted(k for k in set(mine) | set(theirs)
                  if mine.get(k) != theirs.get(k))
  if differ:
    raise ValueError(f'config.teacher.checkpoint {source!r} has another HCQT '
                     f'({", ".join(differ)} differ): its salience is not on '
                     "the student's grid.")


def load_teacher(config: ml_collections.ConfigDict) -> Teacher | None:
  """The teacher of ``config`` (None when ``config.teacher.checkpoint`` is
  empty or the 'distill' weight is 0).

  Raises:
    ValueError: a 'distill' weight without a teacher, or a teacher whose
      system or HCQT does not fit (one line).
    mpe_jax.checkpointing.CheckpointError: an unreadable teacher
      checkpoint.
  """
  source = str(config.get('teacher', {}).get('checkpoint', '') or '')
  weight = float(config.loss_weights.get('distill', 0.0))
  if not source:
    if weight:
      raise ValueError('config.loss_weights.distill is set but '
                       'config.teacher.checkpoint is empty: name the model '
                       'to distil from.')
    return None
  if not weight:
    return None
  t_config, params, where = _load(source)
  check_compatible(config, t_config, source)
  system = systems.get_system(t_config)
  frontend = system.make_frontend(t_config)
  graphdef = model_skeleton(t_config.model).graphdef

  def salience(p, audio):
    return jax.lax.stop_gradient(system.salience(
        nnx.merge(graphdef, p), audio, frontend, t_config))

  return Teacher(salience=salience, params=params, source=where)


def with_targets(teacher: Teacher | None, teacher_params: Any,
                 batch: Mapping[str, jax.Array]) -> Mapping[str, jax.Array]:
  """``batch`` plus ``teacher [B, K, T]`` (unchanged without a teacher)."""
  if teacher is None:
    return batch
  return {**batch, 'teacher': teacher.salience(teacher_params,
                                               batch['audio'])}
