"""Validation curves of one or more runs, read from their TensorBoard logs.

  python -m mpe_jax.analysis.curves --workdirs runs/a runs/b --out fig.png \
      [--metrics=f1,recall,blank_rate] [--sets=urmp/valid,bach10/test] \
      [--csv=curves.csv]

Draws one panel per (metric, evaluation set): the metric over training steps,
one line per run, as in the degeneration figures of the ISMIR 2025 paper
(F1 and recall per dataset over training). Reads the ``val/<set>/<metric>``
scalars that training writes to ``WORKDIR/tensorboard``.

  python -m mpe_jax.analysis.curves --figure=omega --workdirs runs/a runs/b \
      --out omega.png [--csv=omega.csv]

draws MAJL's task weights per case over training (the MAJL paper's Fig. 5)
from the ``dwhs/omega{1,2}/case<c>`` and ``dwhs/count/case<c>`` scalars of
the majl systems: one column per case, omega_1 (solid) and omega_2 (dashed)
of each run on top, the number of samples of the case per logged step below.
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
flags.DEFINE_enum('figure', 'validation', ['validation', 'omega'],
                  "'validation': val/<set>/<metric> panels; 'omega': MAJL's "
                  'weights and counts per case (dwhs/... scalars).')

CASES = (1, 2, 3, 4)

Curves = dict[str, dict[str, list[tuple[int, float]]]]  # tag -> run -> pts


def read_scalars(workdir: str, prefix: str = 'val/'
                 ) -> dict[str, list[tuple[int, float]]]:
  """All scalars of a run whose tag starts with ``prefix``:
  ``{tag: [(step, value), ...]}``."""
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
    if tag.startswith(prefix):
      out[tag] = [(e.step, float(_tensor_value(e.tensor_proto)))
                  for e in acc.Tensors(tag)]
  for tag in tags.get('scalars', []):
    if tag.startswith(prefix):
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


def collect_omega(workdirs: Sequence[str], labels: Sequence[str]) -> Curves:
  """``{'omega1/case<c>' | 'omega2/case<c>' | 'count/case<c>': {run: pts}}``
  from the ``dwhs/...`` training scalars of MAJL runs."""
  curves: Curves = {}
  for workdir, label in zip(workdirs, labels):
    for tag, points in read_scalars(workdir, prefix='dwhs/').items():
      curves.setdefault(tag[len('dwhs/'):], {})[label] = points
  if not curves:
    raise ValueError(f'no dwhs/omega*/case* scalars found in {list(workdirs)} '
                     '(are they runs of a majl system?)')
  return curves


def draw_omega(curves: Curves, out: str) -> None:
  """Row 1: omega_1 (solid) and omega_2 (dashed) per case and run, a dotted
  line at 1; row 2: samples per case and logged step. Steps where a case has
  no sample (its logged mean is 0) are left out of row 1."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(2, len(CASES), squeeze=False, sharex=True,
                           figsize=(3.0 * len(CASES), 4.6))
  runs = sorted({label for r in curves.values() for label in r})
  colours = {label: f'C{i}' for i, label in enumerate(runs)}
  for j, case in enumerate(CASES):
    counts = curves.get(f'count/case{case}', {})
    ax = axes[0][j]
    for task, style in ((1, '-'), (2, '--')):
      for label, points in curves.get(f'omega{task}/case{case}', {}).items():
        present = dict(counts.get(label, []))
        kept = [(s, v) for s, v in points if present.get(s, 1.0) > 0]
        if kept:
          steps, values = zip(*kept)
          ax.plot(steps, values, style, color=colours[label], linewidth=1.2,
                  label=f'{label} omega{task}')
    ax.axhline(1.0, color='gray', linestyle=':', linewidth=0.8)
    ax.set_ylim(0.0, max(2.0, ax.get_ylim()[1]))  # omega in [0, omega_max]
    ax.set_title(f'case {case}', fontsize=9)
    ax.grid(alpha=0.3)
    for label, points in counts.items():
      steps, values = zip(*points)
      axes[1][j].plot(steps, values, color=colours[label], linewidth=1.0)
    axes[1][j].set_ylim(bottom=0.0)
    axes[1][j].set_xlabel('step')
    axes[1][j].grid(alpha=0.3)
  axes[0][0].set_ylabel('omega')
  axes[1][0].set_ylabel('samples')
  handles, names = [], []
  for ax in axes[0]:
    for h, n in zip(*ax.get_legend_handles_labels()):
      if n not in names:
        handles.append(h)
        names.append(n)
  if handles:
    fig.legend(handles, names, loc='lower center', ncol=min(4, len(names)),
               fontsize=8, frameon=False)
  fig.tight_layout(rect=(0, 0.08 if handles else 0, 1, 1))
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  fig.savefig(out, dpi=100)
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
    if FLAGS.figure == 'omega':
      curves = collect_omega(FLAGS.workdirs, labels)
    else:
      sets, curves = collect(FLAGS.workdirs, labels, FLAGS.metrics,
                             FLAGS.sets)
  except (FileNotFoundError, ValueError) as e:
    print(f'curves: error: {e}', file=sys.stderr)
    sys.exit(1)
  if FLAGS.figure == 'omega':
    draw_omega(curves, FLAGS.out)
  else:
    draw(sets, FLAGS.metrics, curves, FLAGS.out)
  if FLAGS.csv:
    write_csv(curves, FLAGS.csv)
  if FLAGS.figure == 'omega':
    print(f'wrote {FLAGS.out} (omega per case, {len(FLAGS.workdirs)} runs)')
  else:
    print(f'wrote {FLAGS.out} ({len(sets)} sets x {len(FLAGS.metrics)} '
          f'metrics, {len(FLAGS.workdirs)} runs)')


if __name__ == '__main__':
  app.run(main)
