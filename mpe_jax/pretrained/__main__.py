r"""Exports a training run's checkpoint as a shipped model.

  python -m mpe_jax.pretrained --export=runs/pretrained --name=gm_joint_v1 \
      --calibrate_on=gm_renders/valid

writes ``mpe_jax/pretrained/<name>/`` (params.npz, config.json,
params.sha256) from the run's best checkpoint and prints the hash for the
model card. ``--calibrate_on=SET`` first scores the checkpoint on the
evaluation set SET (a validation set; test and evaluation-only sets are
refused) at peak thresholds 0.05-0.70, alone and with each continuation
threshold of ``--continue_thresholds`` below them (temporal hysteresis),
prints the mean F1 of each, and stores the best pair as the shipped
``config.eval.threshold`` and ``config.eval.continue_threshold``;
``--threshold`` sets the threshold by hand (no hysteresis). ``--check=<name>``
loads a shipped model and prints its hash.
"""

from __future__ import annotations

from collections.abc import Sequence
import os
import sys

from absl import app
from absl import flags

_EXPORT = flags.DEFINE_string('export', '', 'A run (workdir or step dir).')
_NAME = flags.DEFINE_string('name', '', 'Name of the shipped model.')
_PREFER = flags.DEFINE_enum('prefer', 'best', ('best', 'latest'),
                            'Which checkpoint of a workdir.')
_CHECK = flags.DEFINE_string('check', '', 'Load and verify a shipped model.')
_CALIBRATE_ON = flags.DEFINE_string(
    'calibrate_on', '', 'Evaluation set on which to choose the peak threshold '
    '(a validation set).')
_THRESHOLDS = flags.DEFINE_list(
    'thresholds', [], 'Thresholds of the calibration sweep (default: '
    '0.05-0.70 in steps of 0.05).')
_LOWS = flags.DEFINE_list(
    'continue_thresholds', [str(x) for x in (0.15, 0.2, 0.25, 0.3)],
    'Continuation thresholds (temporal hysteresis) the calibration also '
    'tries under each threshold; empty: the threshold alone.')
_ROOT = flags.DEFINE_string(
    'root', '', 'Folder to export into (default: the package\'s '
    'mpe_jax/pretrained).')
_THRESHOLD = flags.DEFINE_float(
    'threshold', None, 'Peak threshold to ship (default: the run\'s, or the '
    'calibrated one).')


def _calibrated_threshold(run: str, prefer: str, set_name: str,
                          thresholds: Sequence[float],
                          lows: Sequence[float]) -> tuple[float, float]:
  """(threshold, continuation threshold) of the best mean F1 on
  ``set_name`` (prints the sweep; continuation 0 = none)."""
  from data_pipelines import pipeline  # pylint: disable=g-import-not-at-top
  from mpe_jax import inference  # pylint: disable=g-import-not-at-top
  from mpe_jax.evaluation import calibration  # pylint: disable=g-import-not-at-top
  pipeline.check_selection_set(set_name)  # before loading anything
  predictor = inference.load_predictor(run, prefer=prefer)
  scores = calibration.sweep(predictor,
                             pipeline.eval_tracks(predictor.config, set_name),
                             thresholds or calibration.DEFAULT_GRID,
                             lows=lows)
  if not lows:
    scores = {(t, 0.0): f1 for t, f1 in scores.items()}
  chosen = calibration.best(scores)
  for (threshold, low), f1 in scores.items():
    mark = '  <- chosen' if (threshold, low) == chosen else ''
    cont = f' continue {low:.2f}' if low else ''
    print(f'{set_name} threshold {threshold:.2f}{cont}: F1 {100 * f1:.2f}'
          f'{mark}')
  return chosen


def main(argv: Sequence[str]) -> None:
  del argv
  from mpe_jax import checkpointing  # pylint: disable=g-import-not-at-top
  from mpe_jax import pretrained  # pylint: disable=g-import-not-at-top
  try:
    if _CHECK.value:
      pretrained.load(_CHECK.value)
      directory = pretrained.model_dir(_CHECK.value)
    elif _EXPORT.value and _NAME.value:
      threshold, low = _THRESHOLD.value, None
      if threshold is None and _CALIBRATE_ON.value:
        threshold, low = _calibrated_threshold(
            _EXPORT.value, _PREFER.value, _CALIBRATE_ON.value,
            [float(t) for t in _THRESHOLDS.value],
            [float(t) for t in _LOWS.value])
      directory = pretrained.export(_EXPORT.value, _NAME.value,
                                    prefer=_PREFER.value,
                                    root=_ROOT.value or pretrained.ROOT,
                                    threshold=threshold,
                                    continue_threshold=low)
    else:
      sys.exit('Usage: python -m mpe_jax.pretrained --export=RUN --name=NAME '
               '| --check=NAME')
  except (pretrained.PretrainedError, checkpointing.CheckpointError,
          ValueError) as error:
    sys.exit(f'Error: {" ".join(str(error).split())}')
  npz = os.path.join(directory, 'params.npz')
  print(f'{directory}: params.npz {os.path.getsize(npz) / 1e6:.2f} MB, '
        f'sha256 {pretrained.sha256_of(npz)}')


if __name__ == '__main__':
  app.run(main)
