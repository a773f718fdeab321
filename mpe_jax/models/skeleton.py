"""What inference needs of a model besides its weights, from its config.

``model_skeleton(config.model)`` builds the model once abstractly
(``nnx.eval_shape``: no weights are initialised) and keeps its graph, the
parameters' shapes and its time receptive field; ``config_from_dict`` turns
a stored config (a run's ``config.json``, a shipped model's) back into a
ConfigDict. Used by the trainer's evaluation, inference and the shipped-model
loader alike.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import jax
import ml_collections
from flax import nnx

from mpe_jax.models import build_model


def config_from_dict(values: dict) -> ml_collections.ConfigDict:
  """A locked ConfigDict from a checkpoint's stored config (lists -> tuples)."""
  def convert(v):
    if isinstance(v, dict):
      return ml_collections.ConfigDict({k: convert(x) for k, x in v.items()})
    if isinstance(v, list):
      return tuple(convert(x) for x in v)
    return v
  return convert(values).lock()


def time_receptive_field(model: nnx.Module) -> int:
  """Frames on each side of a frame that can influence its output.

  The sum over every convolution of ``(kernel_t - 1) // 2 * dilation_t``
  (time is axis 0 of the ``[frame, bin]`` kernels): exact for a chain of
  convolutions with residual additions, an upper bound when branches run in
  parallel. Only valid for models without time-global operations (attention,
  pooling over time), like the Timbre-Trap autoencoder family.
  """
  total = 0
  for _, node in nnx.iter_graph(model):
    if isinstance(node, (nnx.Conv, nnx.ConvTranspose)):
      k = int(node.kernel_size[0])
      dil = node.kernel_dilation
      d = int(dil if isinstance(dil, int) else (dil or (1,))[0])
      total += (k - 1) // 2 * d
  return total


@dataclasses.dataclass(frozen=True)
class Skeleton:
  """What inference needs of a model besides its weights: the graph to
  merge parameters into, the parameters' shapes and dtypes (a pure dict of
  ``jax.ShapeDtypeStruct``), and the time receptive field (frames)."""
  graphdef: nnx.GraphDef
  params: Any
  receptive_field: int


def model_skeleton(model_config: ml_collections.ConfigDict) -> Skeleton:
  """The ``Skeleton`` of ``config.model``, from one abstract construction
  (``nnx.eval_shape``: no weights are initialised), memoised per config."""
  return _skeleton(json.dumps(model_config.to_dict(), sort_keys=True,
                              default=str))


@functools.lru_cache(maxsize=4)
def _skeleton(model_json: str) -> Skeleton:
  model_config = config_from_dict(json.loads(model_json))
  model = nnx.eval_shape(
      lambda: build_model(model_config, jax.random.key(0, impl='rbg')))
  graphdef, state = nnx.split(model)
  return Skeleton(graphdef, nnx.to_pure_dict(state),
                  time_receptive_field(model))
