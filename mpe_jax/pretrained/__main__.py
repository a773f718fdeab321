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

from mpe_jax import cli

USAGE = """Export a run's checkpoint as a shipped model, or check one.

Usage: python -m mpe_jax.pretrained --export=RUN --name=NAME
           [--calibrate_on=SET | --threshold=T]
       python -m mpe_jax.pretrained --check=NAME
"""


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top

  fv = flags.FlagValues()
  flags.DEFINE_string('export', '', 'A run (workdir or step dir).',
                      flag_values=fv)
  flags.DEFINE_string('name', '', 'Name of the shipped model.',
                      flag_values=fv)
  flags.DEFINE_enum('prefer', 'best', ('best', 'latest'),
                    'Which checkpoint of a workdir.', flag_values=fv)
  flags.DEFINE_string('check', '', 'Load and verify a shipped model.',
                      flag_values=fv)
  flags.DEFINE_string(
      'calibrate_on', '', 'Evaluation set on which to choose the peak '
      'threshold (a validation set).', flag_values=fv)
  flags.DEFINE_list(
      'thresholds', [], 'Thresholds of the calibration sweep (default: '
      '0.05-0.70 in steps of 0.05).', flag_values=fv)
  flags.DEFINE_list(
      'continue_thresholds', [str(x) for x in (0.15, 0.2, 0.25, 0.3)],
      'Continuation thresholds (temporal hysteresis) the calibration also '
      'tries under each threshold; empty: the threshold alone.',
      flag_values=fv)
  flags.DEFINE_string(
      'root', '', 'Folder to export into (default: the package\'s '
      'mpe_jax/pretrained).', flag_values=fv)
  flags.DEFINE_float(
      'threshold', None, 'Peak threshold to ship (default: the run\'s, or '
      'the calibrated one).', flag_values=fv)
  flags.DEFINE_bool('verbose', False, 'Tracebacks and library logs.',
                    flag_values=fv)
  return fv


def _calibrated_threshold(workdir: str, prefer: str, set_name: str,
                          thresholds: Sequence[float],
                          lows: Sequence[float]) -> tuple[float, float]:
  """(threshold, continuation threshold) of the best mean F1 on
  ``set_name`` (prints the sweep; continuation 0 = none)."""
  from data_pipelines import pipeline  # pylint: disable=g-import-not-at-top
  from mpe_jax import inference  # pylint: disable=g-import-not-at-top
  from mpe_jax.evaluation import calibration  # pylint: disable=g-import-not-at-top
  pipeline.check_selection_set(set_name)  # before loading anything
  predictor = inference.load_predictor(workdir, prefer=prefer)
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


def run(argv: Sequence[str]) -> int:
  """The command line; returns the exit status (0 or 2)."""
  fv = _define_flags()

  def body() -> int:
    rest = cli.parse(fv, argv, USAGE)
    if rest:
      raise cli.UsageError(f'unexpected arguments {rest}')
    if not fv.check and not (fv.export and fv.name):
      raise cli.UsageError('give --export=RUN --name=NAME or --check=NAME')
    with cli.quiet_logging(fv.verbose):
      return command()

  def command() -> int:
    from mpe_jax import pretrained  # pylint: disable=g-import-not-at-top
    if fv.check:
      pretrained.load(fv.check)
      directory = pretrained.model_dir(fv.check)
    else:
      threshold, low = fv.threshold, None
      if threshold is None and fv.calibrate_on:
        threshold, low = _calibrated_threshold(
            fv.export, fv.prefer, fv.calibrate_on,
            [float(t) for t in fv.thresholds],
            [float(t) for t in fv.continue_thresholds])
      directory = pretrained.export(fv.export, fv.name, prefer=fv.prefer,
                                    root=fv.root or pretrained.ROOT,
                                    threshold=threshold,
                                    continue_threshold=low)
    npz = os.path.join(directory, 'params.npz')
    print(f'{directory}: params.npz {os.path.getsize(npz) / 1e6:.2f} MB, '
          f'sha256 {pretrained.sha256_of(npz)}')
    return cli.OK

  return cli.run_command('mpe_jax.pretrained', body,
                         lambda: bool(fv['verbose'].value))


def main() -> None:
  sys.exit(run(sys.argv))


if __name__ == '__main__':
  main()
