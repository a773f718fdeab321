"""The curves command reads TensorBoard logs written by training."""

import csv
import os
import subprocess
import sys

import pytest

from mpe_jax.analysis import curves
from mpe_jax.metric_writers import MetricWriter


def _fake_run(path, f1s):
  w = MetricWriter(str(path))
  for step, f1 in f1s:
    w.write(step, {'val/urmp/valid/f1': f1, 'val/urmp/valid/recall': f1 / 2,
                   'val/bach10/test/f1': 1 - f1, 'loss/total': 3.0})
  w.close()


def test_reads_scalars_and_draws(tmp_path):
  _fake_run(tmp_path / 'a', [(250, 0.5), (500, 0.6)])
  _fake_run(tmp_path / 'b', [(250, 0.4), (500, 0.1)])
  scalars = curves.read_scalars(str(tmp_path / 'a'))
  assert scalars['val/urmp/valid/f1'] == [(250, 0.5), (500, pytest.approx(0.6))]
  assert 'loss/total' not in scalars
  sets, got = curves.collect([str(tmp_path / 'a'), str(tmp_path / 'b')],
                             ['a', 'b'], ['f1', 'recall'], None)
  assert sets == ['bach10/test', 'urmp/valid']
  assert got['urmp/valid/recall']['b'][1] == (500, pytest.approx(0.05))
  out = tmp_path / 'fig.png'
  cmd = [sys.executable, '-m', 'mpe_jax.analysis.curves',
         f'--workdirs={tmp_path / "a"},{tmp_path / "b"}', f'--out={out}',
         f'--csv={tmp_path / "c.csv"}']
  subprocess.run(cmd, check=True, capture_output=True,
                 env={**os.environ, 'CUDA_VISIBLE_DEVICES': ''})
  assert out.stat().st_size > 5000
  rows = list(csv.DictReader(open(tmp_path / 'c.csv')))
  assert len(rows) == 2 * 2 * 2 + 2 * 2  # f1 on 2 sets + recall on 1, 2 runs


def test_missing_workdir_is_one_line(tmp_path):
  with pytest.raises(FileNotFoundError, match='no tensorboard'):
    curves.read_scalars(str(tmp_path))
