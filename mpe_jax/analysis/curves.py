"""Validation curves of one or more runs, read from their TensorBoard logs.

  python -m mpe_jax.analysis.curves --workdirs runs/a runs/b --out fig.png \
      [--metrics=f1,recall,blank_rate] [--sets=urmp/valid,bach10/test] \
      [--csv=curves.csv]

Draws one panel per (metric, evaluation set): the metric over training steps,
one line per run, as in the degeneration figures of the ISMIR 2025 paper
(F1 and recall per dataset over training). Reads the ``val/<set>/<metric>``
scalars that training writes to ``WORKDIR/tensorboard``.
"""

from __future__ import annotations

import csv
import os
import sys
from typing import Sequence

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_list('workdirs', None, 'Run directories (each with tensorboard/).')
flags.DEFINE_string('out', None, 'Output figure (.png or .pdf).')
flags.DEFINE_list('metrics', ['f1', 'recall'], 'Metrics to draw.')
flags.DEFINE_list('sets', None, 'Evaluation sets to draw (default: all '
                  'logged sets).')
flags.DEFINE_list('labels', None, 'Legend labels (default: workdir names).')
flags.DEFINE_string('csv', None, 'Optional CSV with every plotted point.')

Curves = dict[str, dict[str, list[tuple[int, float]]]]  # tag -> run -> pts


def read_scalars(workdir: str) -> dict[str, list[tuple[int, float]]]:
  """All ``val/...`` scalars of a run: ``{tag: [(step, value), ...]}``."""
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  logdir = os.path.join(workdir, 'tensorboard')
  if not os.path.isdir(logdir):
    raise FileNotFoundError(f'{workdir} has no tensorboard/ directory '
                            '(is it an mpe_jax workdir?)')
  acc = event_accumulator.EventAccumulator(
      logdir, size_guidance={event_accumulator.TENSORS: 0,
                             event_accumulator.SCALARS: 0})
  acc.Reload()
  out: dict[str, list[tuple[int, float]]] = {}
  tags = acc.Tags()
  for tag in tags.get('tensors', []):  # tf.summary (TF2) writes tensors
    if tag.startswith('val/'):
      out[tag] = [(e.step, float(_tensor_value(e.tensor_proto)))
                  for e in acc.Tensors(tag)]
  for tag in tags.get('scalars', []):
    if tag.startswith('val/'):
      out[tag] = [(e.step, float(e.value)) for e in acc.Scalars(tag)]
  # A resumed run may log a step twice: keep the last value of each step.
  return {t: sorted(dict(pts).items()) for t, pts in out.items()}


def _tensor_value(proto) -> float:
  from tensorboard.util import tensor_util  # pylint: disable=g-import-not-at-top
  return float(tensor_util.make_ndarray(proto))


def collect(workdirs: Sequence[str], labels: Sequence[str], metrics: Sequence[str],
            sets: Sequence[str] | None) -> tuple[list[str], Curves]:
  """Curves per ``<set>/<metric>`` for each run; returns (sets, curves)."""
  curves: Curves = {}
  found_sets: list[str] = []
  for workdir, label in zip(workdirs, labels):
    for tag, points in read_scalars(workdir).items():
      name = tag[len('val/'):]
      set_name, _, metric = name.rpartition('/')
      if metric not in metrics or (sets and set_name not in sets):
        continue
      if set_name not in found_sets:
        found_sets.append(set_name)
      curves.setdefault(name, {})[label] = points
  if not curves:
    raise ValueError(f'no val/<set>/{{{",".join(metrics)}}} scalars found in '
                     f'{list(workdirs)}')
  order = list(sets) if sets else sorted(found_sets)
  return [s for s in order if s in found_sets], curves


def draw(sets: Sequence[str], metrics: Sequence[str], curves: Curves,
         out: str) -> None:
  """One panel per (metric row, set column)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(len(metrics), len(sets), squeeze=False,
                           figsize=(3.2 * len(sets), 2.6 * len(metrics)),
                           sharex=True)
  for i, metric in enumerate(metrics):
    for j, set_name in enumerate(sets):
      ax = axes[i][j]
      for label, points in curves.get(f'{set_name}/{metric}', {}).items():
        steps, values = zip(*points)
        ax.plot(steps, values, label=label, linewidth=1.2)
      if i == 0:
        ax.set_title(set_name, fontsize=9)
      if j == 0:
        ax.set_ylabel(metric)
      if i == len(metrics) - 1:
        ax.set_xlabel('step')
      ax.grid(alpha=0.3)
  handles, names = axes[0][0].get_legend_handles_labels()
  if handles:
    fig.legend(handles, names, loc='lower center', ncol=min(4, len(names)),
               fontsize=8, frameon=False)
  fig.tight_layout(rect=(0, 0.06 if handles else 0, 1, 1))
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  fig.savefig(out, dpi=130)
  plt.close(fig)


def write_csv(curves: Curves, path: str) -> None:
  with open(path, 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['run', 'set', 'metric', 'step', 'value'])
    for name, runs in sorted(curves.items()):
      set_name, _, metric = name.rpartition('/')
      for label, points in runs.items():
        for step, value in points:
          w.writerow([label, set_name, metric, step, value])


def main(argv):
  del argv
  if not FLAGS.workdirs or not FLAGS.out:
    raise app.UsageError('--workdirs and --out are required')
  labels = FLAGS.labels or [os.path.basename(os.path.normpath(w))
                            for w in FLAGS.workdirs]
  if len(labels) != len(FLAGS.workdirs):
    raise app.UsageError('--labels needs one label per workdir')
  try:
    sets, curves = collect(FLAGS.workdirs, labels, FLAGS.metrics, FLAGS.sets)
  except (FileNotFoundError, ValueError) as e:
    print(f'curves: error: {e}', file=sys.stderr)
    sys.exit(1)
  draw(sets, FLAGS.metrics, curves, FLAGS.out)
  if FLAGS.csv:
    write_csv(curves, FLAGS.csv)
  print(f'wrote {FLAGS.out} ({len(sets)} sets x {len(FLAGS.metrics)} '
        f'metrics, {len(FLAGS.workdirs)} runs)')


if __name__ == '__main__':
  app.run(main)
