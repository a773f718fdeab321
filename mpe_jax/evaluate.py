"""Score a checkpoint, or any method's predictions, on an evaluation set.

    python -m mpe_jax.evaluate --checkpoint=runs/quick \\
        --dataset=synthetic_mixtures/test [--data_dir=...] [--output_dir=...]
    python -m mpe_jax.evaluate --pred_dir=preds/ --dataset=NAME \\
        --config=configs/ssmpe.py

``--dataset`` names a set of ``data_pipelines.eval_sets.EVAL_SETS``. With
``--checkpoint`` each track is transcribed (chunked inference, as
``mpe_jax.transcribe`` does; the tracks are scored as the loaders deliver them,
exactly like validation during training) and scored with mir_eval at the
checkpoint's ``config.eval.threshold``. With ``--pred_dir`` the estimates are
read from ``<pred_dir>/<track name>.multipitch.txt`` (the mir_eval multi-pitch
format ``mpe_jax.transcribe`` writes), so any method can be scored the same
way; the dataset's settings come from ``--checkpoint`` if given, else from
``--config``.

Per-track and mean precision, recall, accuracy and F1 (plus mir_eval's error
rates) are printed and written to ``<output_dir>/<dataset>.json`` and ``.csv``
(``/`` in the set name becomes ``_``). A track that fails (unreadable, missing
prediction) is reported and left out of the mean; the exit status is then 1.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import sys
import traceback
from typing import Any, Sequence

import numpy as np

from mpe_jax import cli
from mpe_jax import outputs as outputs_lib
from mpe_jax.evaluation import multipitch
from mpe_jax.evaluation import peaks

USAGE = """Score a checkpoint or predictions on an evaluation set.

Usage: python -m mpe_jax.evaluate --checkpoint=DIR --dataset=NAME
       python -m mpe_jax.evaluate --pred_dir=DIR --dataset=NAME
           (--config=configs/ssmpe.py | --checkpoint=DIR)
"""
SUMMARY = ('precision', 'recall', 'accuracy', 'f1')


@dataclasses.dataclass
class Report:
  """Scores of one evaluation.

  Attributes:
    dataset: the set name.
    source: checkpoint step dir or prediction folder.
    threshold: the peak threshold (checkpoint mode).
    mean: mean of each score over the scored tracks.
    tracks: per-track scores, each with its ``name``.
    failures: ``{'name', 'error'}`` of tracks that could not be scored.
  """
  dataset: str
  source: str
  threshold: float | None
  mean: dict[str, float]
  tracks: list[dict[str, Any]]
  failures: list[dict[str, str]]

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def _score(track, est_times, est_freqs) -> dict[str, Any]:
  scores = multipitch.evaluate_multipitch(track.ref_times, track.ref_freqs,
                                          est_times, est_freqs)
  return {'name': track.name, **scores}


def _finish(dataset: str, source: str, threshold: float | None,
            tracks: list[dict[str, Any]], failures: list[dict[str, str]]
            ) -> Report:
  numeric = [{k: v for k, v in t.items() if k != 'name'} for t in tracks]
  return Report(dataset, source, threshold, multipitch.mean_scores(numeric),
                tracks, failures)


def evaluate_predictor(predictor, tracks: Sequence, dataset: str, *,
                       threshold: float | None = None,
                       prediction_dir: str | None = None,
                       verbose: bool = False) -> Report:
  """Transcribes and scores ``tracks`` (``data_pipelines.tracks.Track``).

  Args:
    predictor: an ``inference.Predictor``.
    tracks: the evaluation tracks.
    dataset: the set name (for the report).
    threshold: peak threshold (default: the checkpoint's
      ``config.eval.threshold``).
    prediction_dir: also write each track's ``<name>.multipitch.txt`` there.
    verbose: print tracebacks of failed tracks.
  """

  thr, low = peaks.decoding(predictor.config.eval, threshold)
  scored, failures = [], []
  for track in tracks:
    try:
      sal = predictor.salience(np.asarray(track.audio, np.float32))
      est = multipitch.salience_to_multipitch(sal, predictor.bin_frequencies,
                                              thr, low)
      times = predictor.frame_times(sal.shape[-1])
      scored.append(_score(track, times, est))
      if prediction_dir:
        path = os.path.join(prediction_dir,
                            track.name + outputs_lib.SUFFIXES['txt'])
        out = outputs_lib.AtomicFile(path)
        out.file.write(''.join(outputs_lib.format_multipitch_line(t, f)
                               for t, f in zip(times, est)))
        out.commit()
    except Exception as e:  # pylint: disable=broad-except
      if verbose:
        traceback.print_exc()
      failures.append({'name': track.name, 'error': cli.one_line(e)})
  return _finish(dataset, predictor.step_dir, thr, scored, failures)


def evaluate_predictions(pred_dir: str, tracks: Sequence, dataset: str
                         ) -> Report:
  """Scores ``<pred_dir>/<track.name>.multipitch.txt`` against ``tracks``."""
  if not os.path.isdir(pred_dir):
    raise FileNotFoundError(f'prediction folder {pred_dir} does not exist.')
  scored, failures = [], []
  for track in tracks:
    path = os.path.join(pred_dir, track.name + outputs_lib.SUFFIXES['txt'])
    if not os.path.exists(path):
      failures.append({'name': track.name,
                       'error': f'no prediction file {path}'})
      continue
    try:
      times, freqs = outputs_lib.read_multipitch(path)
      if len(times) == 0:
        raise ValueError('no frames')
      scored.append(_score(track, times, freqs))
    except Exception as e:  # pylint: disable=broad-except
      failures.append({'name': track.name,
                       'error': f'{path}: {cli.one_line(e)}'})
  return _finish(dataset, os.path.abspath(pred_dir), None, scored, failures)


def format_table(report: Report) -> str:
  """Per-track and mean P / R / Acc / F1 in percent."""
  width = min(48, max([len(t['name']) for t in report.tracks] + [12])) + 2
  lines = [f'{report.dataset} ({report.source})',
           f'{"track":<{width}}' + ''.join(f'{h:>8}' for h in
                                           ('P', 'R', 'Acc', 'F1'))]
  for t in report.tracks:
    lines.append(f'{t["name"][-width + 2:]:<{width}}' + ''.join(
        f'{100 * t[k]:8.2f}' for k in SUMMARY))
  if report.mean:
    lines.append(f'{"mean (%d tracks)" % len(report.tracks):<{width}}' +
                 ''.join(f'{100 * report.mean[k]:8.2f}' for k in SUMMARY))
  for f in report.failures:
    lines.append(f'FAILED {f["name"]}: {f["error"]}')
  return '\n'.join(lines)


def write_report(report: Report, output_dir: str) -> list[str]:
  """Writes ``<dataset>.json`` and ``<dataset>.csv``; returns the paths."""
  os.makedirs(output_dir, exist_ok=True)
  slug = report.dataset.replace('/', '_').replace(os.sep, '_')
  base = os.path.join(output_dir, slug)
  out = outputs_lib.AtomicFile(base + '.json')
  json.dump(report.to_json(), out.file, indent=2)
  paths = [out.commit()]
  keys = list(SUMMARY) + sorted(
      {k for t in report.tracks for k in t} - set(SUMMARY) - {'name'})
  buf = io.StringIO()
  writer = csv.writer(buf)
  writer.writerow(['track'] + keys)
  for t in report.tracks:
    writer.writerow([t['name']] + [f'{t[k]:.6f}' for k in keys])
  if report.mean:
    writer.writerow(['mean'] + [f'{report.mean[k]:.6f}' for k in keys])
  out = outputs_lib.AtomicFile(base + '.csv')
  out.file.write(buf.getvalue())
  paths.append(out.commit())
  return paths


# -------------------------------------------------------------------- CLI ---


def _define_flags(argv: Sequence[str]):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top

  fv = flags.FlagValues()
  flags.DEFINE_string('checkpoint', None, 'Checkpoint to transcribe with (a '
                      'workdir, its checkpoints/ folder or a step folder).',
                      flag_values=fv)
  flags.DEFINE_enum('prefer', 'best', ['best', 'latest'], 'In a workdir, use '
                    'the best or the latest checkpoint.', flag_values=fv)
  flags.DEFINE_string('pred_dir', None, 'Score the <track>.multipitch.txt '
                      'files in this folder instead of a checkpoint.',
                      flag_values=fv)
  flags.DEFINE_string('dataset', None, 'Evaluation set name (see '
                      'data_pipelines.eval_sets.EVAL_SETS).', flag_values=fv)
  flags.DEFINE_string('data_dir', None, 'Overrides config.data.data_dir '
                      '(where prepared datasets live).', flag_values=fv)
  flags.DEFINE_string('dataset_dir', None, 'The folder of --dataset\'s '
                      'corpus (overrides config.data.dataset_dirs.<corpus>, '
                      'e.g. the sample libraries of realsamples/valid).',
                      flag_values=fv)
  flags.DEFINE_string('output_dir', 'evaluation', 'Folder for '
                      '<dataset>.json/.csv (created).', flag_values=fv)
  flags.DEFINE_string('write_predictions', None, 'Checkpoint mode: also '
                      'write <track>.multipitch.txt files to this folder.',
                      flag_values=fv)
  flags.DEFINE_float('threshold', None, 'Peak threshold (default: the '
                     "checkpoint's config.eval.threshold).", flag_values=fv)
  flags.DEFINE_float('chunk_seconds', 20.0, 'Audio per model call.',
                     flag_values=fv)
  flags.DEFINE_integer('batch_size', 4, 'Chunks per model call.',
                       flag_values=fv)
  flags.DEFINE_bool('verbose', False, 'Tracebacks and library logs.',
                    flag_values=fv)
  config_flags.DEFINE_config_file(
      'config', None, 'With --pred_dir and no --checkpoint: the config whose '
      'data settings define the dataset (e.g. configs/ssmpe.py).',
      flag_values=fv, lock_config=False, sys_argv=list(argv))
  return fv


def run(argv: Sequence[str]) -> int:
  """The command line; returns the exit status (0, 1 or 2)."""
  fv = _define_flags(argv)

  def body() -> int:
    typo = cli.unknown_override(argv)
    if typo:
      raise cli.UsageError(typo)
    rest = cli.parse(fv, argv, USAGE)
    with cli.quiet_logging(fv.verbose):
      return command(rest)

  def command(rest: list[str]) -> int:
    if rest:
      raise cli.UsageError(f'unexpected arguments {rest}')
    cli.require(fv, 'dataset')
    if not fv.checkpoint and not fv.pred_dir:
      raise cli.UsageError('give --checkpoint or --pred_dir')
    if fv.pred_dir and not fv.checkpoint and fv.config is None:
      raise cli.UsageError('with --pred_dir, give --config (e.g. '
                           'configs/ssmpe.py) or --checkpoint for the '
                           "dataset's settings")
    if fv.pred_dir and not os.path.isdir(fv.pred_dir):
      raise FileNotFoundError(f'prediction folder {fv.pred_dir} does not '
                              'exist.')
    predictor = None
    if fv.checkpoint:
      from mpe_jax import inference  # pylint: disable=g-import-not-at-top
      predictor = inference.load_predictor(
          fv.checkpoint, prefer=fv.prefer, chunk_seconds=fv.chunk_seconds,
          batch_size=fv.batch_size)
      config = predictor.config
    else:
      config = fv.config
    if fv.data_dir is not None or fv.dataset_dir is not None:
      config = config.copy_and_resolve_references()
      with config.unlocked():
        if fv.data_dir is not None:
          config.data.data_dir = fv.data_dir
        if fv.dataset_dir is not None:
          config.data.dataset_dirs[fv.dataset.split('/')[0]] = fv.dataset_dir
    from data_pipelines import eval_sets  # pylint: disable=g-import-not-at-top
    tracks = eval_sets.eval_tracks(config, fv.dataset)
    if fv.pred_dir:
      report = evaluate_predictions(fv.pred_dir, tracks, fv.dataset)
    else:
      report = evaluate_predictor(predictor, tracks, fv.dataset,
                                  threshold=fv.threshold,
                                  prediction_dir=fv.write_predictions,
                                  verbose=fv.verbose)
    print(format_table(report))
    paths = write_report(report, fv.output_dir)
    print('wrote ' + ', '.join(paths))
    if report.failures:
      print(f'{len(report.failures)} of {len(tracks)} track(s) failed.',
            file=sys.stderr)
      return cli.FAILURES
    return cli.OK

  return cli.run_command('mpe_jax.evaluate', body,
                         lambda: bool(fv['verbose'].value))


def main() -> None:
  sys.exit(run(sys.argv))


if __name__ == '__main__':
  main()
