"""The peak threshold chosen on a validation set, and its export with a run.

``sweep`` is checked against hand-computed F1 on a made-up salience; the
export writes the chosen threshold into the shipped config, and the
command line calibrates on an evaluation set (the tiny trained run).
"""

import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

from data_pipelines import eval_sets

from data_pipelines import tracks as tracks_lib
from mpe_jax import pretrained
from mpe_jax.evaluation import calibration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FREQS = np.array([100.0, 200.0, 300.0, 400.0, 500.0])
TIMES = np.arange(4) * 0.01


class _FixedSalience:
  """A predictor whose salience is the same made-up map for every track."""

  def __init__(self, salience):
    self._salience = np.asarray(salience, np.float32)
    self.bin_frequencies = FREQS

  def salience(self, audio):
    del audio
    return self._salience

  def frame_times(self, n_frames):
    return TIMES[:n_frames]


def _track(ref):
  return tracks_lib.Track('t', np.zeros(100, np.float32), TIMES,
                          [np.asarray(f, np.float64) for f in ref])


def test_sweep_scores_each_threshold_by_hand():
  # Two true pitches (200, 400 Hz) in every frame: a strong peak and a weak
  # one; 100 Hz at 0.3 is no peak (its neighbour 200 Hz is higher).
  salience = np.zeros((5, 4))
  salience[1] = 0.9   # 200 Hz, a peak (neighbours 0.3 and 0)
  salience[3] = 0.25  # 400 Hz, a peak
  salience[0] = 0.3   # 100 Hz: below 200's 0.9, so not a strict maximum
  predictor = _FixedSalience(salience)
  track = _track([[200.0, 400.0]] * 4)
  scores = calibration.sweep(predictor, [track], (0.2, 0.5))
  # 0.2: both peaks -> P = R = 1. 0.5: 200 Hz only -> P = 1, R = 0.5.
  assert scores[0.2] == pytest.approx(1.0, abs=1e-6)
  assert scores[0.5] == pytest.approx(2 * 0.5 / 1.5, abs=1e-6)
  assert calibration.best(scores) == 0.2


def test_best_takes_the_lower_threshold_on_a_tie():
  assert calibration.best({0.3: 0.5, 0.1: 0.5, 0.6: 0.4}) == 0.1


def test_sweep_refuses_bad_thresholds_and_empty_sets():
  predictor = _FixedSalience(np.zeros((5, 4)))
  with pytest.raises(ValueError, match='at least one track'):
    calibration.sweep(predictor, [])
  with pytest.raises(ValueError, match=r'in \(0, 1\)'):
    calibration.sweep(predictor, [_track([[]] * 4)], (0.5, 1.5))


def test_export_stores_the_threshold(tiny_trained_run, tmp_path):
  directory = pretrained.export(str(tiny_trained_run), 'tiny', root=tmp_path,
                                threshold=0.35)
  config, params = pretrained.load(directory)
  assert config.eval.threshold == pytest.approx(0.35)
  assert pretrained.flatten(params)
  with pytest.raises(pretrained.PretrainedError, match=r'in \(0, 1\)'):
    pretrained.export(str(tiny_trained_run), 'bad', root=tmp_path,
                      threshold=1.5)


def test_cli_calibrates_on_a_validation_set(tiny_trained_run, tmp_path):
  set_name = 'synthetic_mixtures/valid'
  done = subprocess.run(
      [sys.executable, '-m', 'mpe_jax.pretrained',
       f'--export={tiny_trained_run}', '--name=tiny', f'--root={tmp_path}',
       f'--calibrate_on={set_name}', '--thresholds=0.1,0.3,0.5',
       '--continue_thresholds=0.2'],
      cwd=ROOT, capture_output=True, text=True, check=False)
  assert done.returncode == 0, done.stderr[-2000:]
  rows = [line for line in done.stdout.splitlines() if ' threshold ' in line]
  # 0.1 alone; 0.3 and 0.5 alone and continued down to 0.2.
  assert len(rows) == 5 and sum('<- chosen' in r for r in rows) == 1, rows
  assert sum(' continue 0.20:' in r for r in rows) == 2, rows
  chosen = next(r for r in rows if '<- chosen' in r).split()
  config, _ = pretrained.load(os.path.join(tmp_path, 'tiny'))
  assert config.eval.threshold == pytest.approx(float(chosen[2].rstrip(':')))
  low = float(chosen[4].rstrip(':')) if chosen[3] == 'continue' else 0.0
  assert config.eval.continue_threshold == pytest.approx(low)
  assert 'sha256' in done.stdout.splitlines()[-1]


def test_cli_bad_calibration_set_is_one_line(tiny_trained_run, tmp_path):
  done = subprocess.run(
      [sys.executable, '-m', 'mpe_jax.pretrained',
       f'--export={tiny_trained_run}', '--name=tiny', f'--root={tmp_path}',
       '--calibrate_on=no_such/set'],
      cwd=ROOT, capture_output=True, text=True, check=False)
  err = done.stderr.strip().splitlines()
  assert done.returncode == 2 and err[-1].startswith(
      'mpe_jax.pretrained: error: ValueError: Unknown evaluation set'), err
  assert not os.path.exists(os.path.join(tmp_path, 'tiny'))


@pytest.mark.parametrize('set_name', ['gm_renders/chorales', 'gm_renders/test',
                                      'gm_renders/expressive_test',
                                      'bach10/test', 'urmp/all'])
def test_cli_refuses_to_calibrate_on_evaluation_sets(tiny_trained_run,
                                                     tmp_path, set_name):
  done = subprocess.run(
      [sys.executable, '-m', 'mpe_jax.pretrained',
       f'--export={tiny_trained_run}', '--name=tiny', f'--root={tmp_path}',
       f'--calibrate_on={set_name}'],
      cwd=ROOT, capture_output=True, text=True, check=False)
  err = done.stderr.strip().splitlines()
  assert done.returncode == 2 and err[-1].startswith(
      f'mpe_jax.pretrained: error: ValueError: {set_name} is an evaluation '
      'set: nothing is chosen on it.'), err
  assert not os.path.exists(os.path.join(tmp_path, 'tiny'))


def test_cli_unknown_model_is_one_line(tmp_path, capsys):
  command = importlib.import_module('mpe_jax.pretrained.__main__')
  code = command.run(['mpe_jax.pretrained',
                      f'--check={tmp_path / "no_such_model"}'])
  out, err = capsys.readouterr()
  assert code == 2 and not out, err
  assert err.count('\n') == 1 and err.startswith(
      'mpe_jax.pretrained: error: PretrainedError: Shipped model '), err


def test_validation_sets_may_select():
  for name in ('gm_renders/valid', 'gm_renders/expressive_valid',
               'urmp/valid', 'synthetic_mixtures/valid', 'guitarset/train'):
    eval_sets.check_selection_set(name)
