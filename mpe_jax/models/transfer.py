"""Parameters of a trained autoencoder carried into a pruned one.

A model whose ``model.residual_dilations`` keeps a subset of another's
residual blocks (same channels, bins and norms) starts from that model's
weights: every parameter outside the residual blocks is copied as is, and
the residual block of dilation d at a level is copied from the block of
dilation d at the same level. The blocks left out are residual (``x +
f(x)``), so the pruned network computes a perturbation of the source's
function and fine-tunes from there rather than from scratch.
"""

from __future__ import annotations

import re
from typing import Any

import ml_collections
import numpy as np

from mpe_jax.models.autoencoder import residual_dilations

_RES = re.compile(r'^(encoder|decoder)/blocks/(\d+)/res/(\d+)/(.+)$')


def source_key(key: str, source: ml_collections.ConfigDict,
               target: ml_collections.ConfigDict) -> str:
  """The source parameter path that ``key`` of the target model copies."""
  match = _RES.match(key)
  if not match:
    return key
  part, block, index, rest = match.groups()
  src, dst = residual_dilations(source), residual_dilations(target)
  level = int(block) if part == 'encoder' else len(dst) - 1 - int(block)
  dilation = dst[level][int(index)]
  if dilation not in src[level]:
    raise ValueError(
        f'{key}: the source model has no residual block of dilation '
        f'{dilation} at level {level} (it has {src[level]}).')
  return f'{part}/blocks/{block}/res/{src[level].index(dilation)}/{rest}'


def differs(source: ml_collections.ConfigDict,
            target: ml_collections.ConfigDict) -> bool:
  """Whether two autoencoder configs keep different residual blocks (the
  case ``carried_params`` handles; other models never differ here)."""
  if 'channels' not in source or 'channels' not in target:
    return False
  return residual_dilations(source) != residual_dilations(target)


def carry(source_arrays: dict[str, np.ndarray],
          source: ml_collections.ConfigDict,
          target_shapes: dict[str, tuple[int, ...]],
          target: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """Flat target parameters (``'encoder/blocks/0/...'`` -> array) taken
  from the flat ``source_arrays`` of model config ``source``.

  Raises:
    ValueError: a target parameter has no source, or its shape differs
      (a different width, bin count or norm: not a pruned copy).
  """
  out = {}
  for key, shape in target_shapes.items():
    src_key = source_key(key, source, target)
    if src_key not in source_arrays:
      raise ValueError(f'{key}: the source model has no parameter {src_key}.')
    array = np.asarray(source_arrays[src_key])
    if array.shape != tuple(shape):
      raise ValueError(f'{key}: shape {tuple(shape)} in the target model, '
                       f'{array.shape} in the source ({src_key}).')
    out[key] = array
  return out


def _flatten(tree: Any, prefix: str = '') -> dict[str, Any]:
  """Nested dicts -> {'a/b/c': leaf}."""
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flatten(value, f'{prefix}{key}/'))
    else:
      out[f'{prefix}{key}'] = value
  return out


def carried_params(source_params: Any, source: ml_collections.ConfigDict,
                   target_params: Any, target: ml_collections.ConfigDict
                   ) -> Any:
  """``target_params``'s nested dict filled from ``source_params`` (nested
  dicts of arrays, as ``pretrained.load`` returns them)."""
  flat_target = _flatten(target_params)
  arrays = carry(_flatten(source_params), source,
                 {k: v.shape for k, v in flat_target.items()}, target)

  def build(node, prefix):
    if isinstance(node, dict):
      return {k: build(v, f'{prefix}{k}/') for k, v in node.items()}
    return arrays[prefix[:-1]].astype(np.asarray(node).dtype)
  return build(target_params, '')
