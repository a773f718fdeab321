"""Models shipped inside the package, and how one is made from a run.

A shipped model is a folder ``mpe_jax/pretrained/<name>/`` holding

* ``params.npz``: every parameter array, keyed by its path in the model's
  parameter dict (``'encoder/blocks/0/conv/kernel'``...), float32;
* ``config.json``: the config it was trained with (the run's own);
* ``params.sha256``: the SHA-256 of ``params.npz`` (the model card quotes it);
* ``MODEL_CARD.md``: data recipe, steps, compute, scores, weaknesses.

``load(name)`` checks the hash and the shapes against the config and
returns ``(config, params)``; ``inference.load_predictor()`` with no
argument and ``python -m mpe_jax.transcribe`` without ``--checkpoint`` use
``DEFAULT``. Make one from a training run (its best checkpoint):

  python -m mpe_jax.pretrained --export=runs/pretrained --name=gm_joint_v1
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np

from mpe_jax import checkpointing
from mpe_jax.models.skeleton import config_from_dict, model_skeleton

DEFAULT = 'gm_joint_v2'
ROOT = os.path.dirname(os.path.abspath(__file__))
FILES = ('params.npz', 'config.json', 'params.sha256', 'MODEL_CARD.md')


class PretrainedError(checkpointing.CheckpointError):
  """A shipped model is missing, corrupt or does not fit its config."""


def model_dir(name: str = DEFAULT) -> str:
  """The folder of shipped model ``name``."""
  return os.path.join(ROOT, name)


def available() -> list[str]:
  """Names of the shipped models (folders holding params.npz)."""
  return sorted(d for d in os.listdir(ROOT)
                if os.path.isfile(os.path.join(ROOT, d, 'params.npz')))


def is_model_dir(path: str) -> bool:
  """Whether ``path`` is (or was meant to be) a shipped-model folder: it
  holds params.npz or params.sha256 (``load`` names what else is missing)."""
  return any(os.path.isfile(os.path.join(path, f))
             for f in ('params.npz', 'params.sha256'))


def model_folder(spec: str) -> str | None:
  """The shipped-model folder ``spec`` names: a shipped model's name (that is
  not also a path) or a folder ``is_model_dir`` accepts; None for anything
  else (a training run's workdir or checkpoint)."""
  spec = os.fspath(spec)
  if not os.path.exists(spec) and spec in available():
    return model_dir(spec)
  return spec if is_model_dir(spec) else None


def sha256_of(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def flatten(params: dict, prefix: str = '') -> dict[str, np.ndarray]:
  """A nested parameter dict -> {'a/b/c': array}."""
  out = {}
  for key, value in params.items():
    path = f'{prefix}{key}'
    if isinstance(value, dict):
      out.update(flatten(value, path + '/'))
    else:
      out[path] = np.asarray(value)
  return out


def _unflatten_like(template: Any, arrays: dict[str, np.ndarray],
                    where: str) -> Any:
  """``template``'s nested dict with every leaf taken from ``arrays``."""
  flat = flatten(jax.tree.map(lambda a: np.zeros(0), template))
  missing = sorted(set(flat) - set(arrays))
  extra = sorted(set(arrays) - set(flat))
  if missing or extra:
    raise PretrainedError(
        f'{where}: the parameters do not fit the model of its config.json '
        f'(missing {missing[:2]}, unexpected {extra[:2]}).')

  def build(node, prefix):
    if isinstance(node, dict):
      return {k: build(v, f'{prefix}{k}/') for k, v in node.items()}
    key = prefix[:-1]
    array = arrays[key]
    if array.shape != tuple(node.shape):
      raise PretrainedError(f'{where}: parameter {key} has shape '
                            f'{array.shape}, its config needs {node.shape}.')
    return array.astype(node.dtype)
  return build(template, '')


def load(name_or_dir: str = DEFAULT
         ) -> tuple[ml_collections.ConfigDict, dict]:
  """(config, params) of a shipped model (a name or a folder path).

  Raises:
    PretrainedError: a missing or corrupt file, a hash that does not match,
      or parameters that do not fit the config (one line naming the file).
  """
  directory = (name_or_dir if os.path.isdir(name_or_dir)
               else model_dir(name_or_dir))
  for file in FILES[:3]:
    if not os.path.isfile(os.path.join(directory, file)):
      known = ', '.join(available()) or 'none'
      raise PretrainedError(
          f'Shipped model {name_or_dir!r} is incomplete: '
          f'{os.path.join(directory, file)} is missing (shipped models: '
          f'{known}; reinstall with pip install -e .).')
  npz = os.path.join(directory, 'params.npz')
  with open(os.path.join(directory, 'params.sha256')) as f:
    want = (f.read().split() or [''])[0]
  got = sha256_of(npz)
  if got != want:
    raise PretrainedError(f'{npz} is corrupt: its SHA-256 is {got[:12]}..., '
                          f'params.sha256 says {want[:12]}... (reinstall '
                          'mpe_jax or re-export the model).')
  try:
    with open(os.path.join(directory, 'config.json')) as f:
      config = config_from_dict(json.load(f))
  except (OSError, ValueError) as error:
    raise PretrainedError(f'{directory}/config.json is unreadable: '
                          f'{" ".join(str(error).split())[:200]}') from error
  try:
    with np.load(npz, allow_pickle=False) as data:
      arrays = {k: data[k] for k in data.files}
  except (OSError, ValueError) as error:
    raise PretrainedError(f'{npz} is unreadable: '
                          f'{" ".join(str(error).split())[:200]}') from error
  template = model_skeleton(config.model).params
  params = _unflatten_like(template, arrays, npz)
  bad = [k for k, v in arrays.items() if not np.all(np.isfinite(v))]
  if bad:
    raise PretrainedError(f'{npz} holds non-finite parameters ({bad[0]}).')
  return config, params


def export(checkpoint: str, name: str, *, prefer: str = 'best',
           root: str = ROOT, threshold: float | None = None,
           continue_threshold: float | None = None) -> str:
  """Writes ``<root>/<name>/`` (params.npz, config.json, params.sha256)
  from a run's checkpoint; returns the folder. ``threshold`` replaces the
  run's ``config.eval.threshold`` (the peak threshold chosen on a validation
  set, ``evaluation.calibration``); ``continue_threshold`` the
  continuation threshold of its hysteresis (0: none). The model card is
  written by hand (it quotes the hash printed here)."""
  from mpe_jax import train_state  # pylint: disable=g-import-not-at-top
  config, params, _ = train_state.restore_run(checkpoint, prefer)
  if threshold is not None:
    if not 0.0 < threshold < 1.0:
      raise PretrainedError(f'threshold must lie in (0, 1), got {threshold}.')
    config.eval.threshold = float(threshold)
  if continue_threshold is not None:
    if continue_threshold and not 0.0 < continue_threshold < (
        config.eval.threshold):
      raise PretrainedError(f'the continuation threshold must lie in (0, '
                            f'{config.eval.threshold}), got '
                            f'{continue_threshold}.')
    with config.unlocked():
      config.eval.continue_threshold = float(continue_threshold)
  directory = os.path.join(root, name)
  os.makedirs(directory, exist_ok=True)
  arrays = flatten(jax.device_get(params))
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **{k: v.astype(np.float32)
                                 for k, v in sorted(arrays.items())})
  npz = os.path.join(directory, 'params.npz')
  with open(npz, 'wb') as f:
    f.write(buffer.getvalue())
  with open(os.path.join(directory, 'config.json'), 'w') as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True) + '\n')
  with open(os.path.join(directory, 'params.sha256'), 'w') as f:
    f.write(f'{sha256_of(npz)}  params.npz\n')
  return directory
