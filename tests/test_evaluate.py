"""``mpe_jax.evaluate``: checkpoint and prediction-folder scoring."""

import csv
import json
import os

import numpy as np
import pytest

from data_pipelines import pipeline
from mpe_jax import evaluate, outputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, 'tests', 'tiny_config.py')
SET = 'synthetic_mixtures/test'
KEYS = ('precision', 'recall', 'accuracy', 'f1')


def _run(capsys, *args):
  code = evaluate.run(['mpe_jax.evaluate', *args])
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def test_checkpoint_scores_match_the_training_evaluation(
    tmp_path, capsys, tiny_trained_run):
  """The same numbers as the run's own final evaluation (train.py's
  evaluate_tracks), through chunked inference; predictions written with
  --write_predictions score the same through --pred_dir."""
  code, out, err = _run(capsys, f'--checkpoint={tiny_trained_run}',
                        f'--dataset={SET}', f'--output_dir={tmp_path}',
                        f'--write_predictions={tmp_path / "preds"}')
  assert code == 0, err
  report = json.load(open(tmp_path / 'synthetic_mixtures_test.json'))
  trained = json.load(open(tiny_trained_run / 'eval.json'))
  want = trained['final']['sets'][SET]
  for k in KEYS:
    assert report['mean'][k] == pytest.approx(want[k], abs=1e-5), k
  assert report['failures'] == [] and len(report['tracks']) == 1
  name = report['tracks'][0]['name']
  assert name in out and 'mean (1 tracks)' in out
  rows = list(csv.reader(open(tmp_path / 'synthetic_mixtures_test.csv')))
  assert rows[0][:5] == ['track', *KEYS]
  assert [r[0] for r in rows[1:]] == [name, 'mean']
  assert float(rows[2][4]) == pytest.approx(report['mean']['f1'], abs=1e-6)

  code, _, err = _run(capsys, f'--pred_dir={tmp_path / "preds"}',
                      f'--config={TINY}', f'--dataset={SET}',
                      f'--output_dir={tmp_path / "again"}')
  assert code == 0, err
  again = json.load(open(tmp_path / 'again' / 'synthetic_mixtures_test.json'))
  for k in KEYS:
    assert again['mean'][k] == pytest.approx(report['mean'][k], abs=1e-6)


def _tiny_tracks(n):
  import tiny_config  # pylint: disable=g-import-not-at-top
  config = tiny_config.get_config()
  with config.unlocked():
    config.data.eval_num_tracks = n
  return pipeline.eval_tracks(config, SET)


def _write(path, times, freqs):
  with open(path, 'w') as f:
    f.write(''.join(outputs.format_multipitch_line(t, fr)
                    for t, fr in zip(times, freqs)))


def test_pred_dir_scores_any_method_and_reports_missing_files(tmp_path,
                                                              capsys):
  tracks = _tiny_tracks(3)
  preds = tmp_path / 'preds'
  preds.mkdir()
  perfect, silent, _ = tracks  # the third has no prediction file
  _write(preds / f'{perfect.name}.multipitch.txt', perfect.ref_times,
         perfect.ref_freqs)
  _write(preds / f'{silent.name}.multipitch.txt', silent.ref_times,
         [np.zeros(0)] * len(silent.ref_times))
  code, out, err = _run(capsys, f'--pred_dir={preds}', f'--config={TINY}',
                        '--config.data.eval_num_tracks=3', f'--dataset={SET}',
                        f'--output_dir={tmp_path}')
  assert code == 1
  report = json.load(open(tmp_path / 'synthetic_mixtures_test.json'))
  scores = {t['name']: t for t in report['tracks']}
  assert [scores[perfect.name][k] for k in KEYS] == pytest.approx(
      [1.0, 1.0, 1.0, 1.0])
  assert scores[silent.name]['recall'] == 0.0
  assert scores[silent.name]['blank_rate'] == 1.0
  assert report['mean']['recall'] == pytest.approx(0.5)
  assert report['failures'] == [{
      'name': tracks[2].name,
      'error': f'no prediction file {preds}/{tracks[2].name}.multipitch.txt'}]
  assert f'FAILED {tracks[2].name}: no prediction file' in out
  assert '1 of 3 track(s) failed.' in err


@pytest.mark.parametrize('args,fragment', [
    (['--dataset=no_such_set', '--pred_dir=.', f'--config={TINY}'],
     "Unknown evaluation set 'no_such_set'; known sets: "),
    ([f'--dataset={SET}', '--pred_dir=/no/such/dir', f'--config={TINY}'],
     'prediction folder /no/such/dir does not exist'),
    ([f'--dataset={SET}', '--pred_dir=.'], 'give --config'),
    ([f'--dataset={SET}'], 'give --checkpoint or --pred_dir'),
    (['--pred_dir=.'], '--dataset is required'),
    ([f'--dataset={SET}', '--pred_dir=.', f'--config={TINY}',
      '--config.data.eval_num_trakcs=2'],
     'unknown config key --config.data.eval_num_trakcs; valid keys of '
     'config.data: data_dir, dataset_dirs, drum_source, eval_num_tracks,'),
])
def test_user_errors_are_one_line(tmp_path, capsys, args, fragment):
  code, _, err = _run(capsys, *args, f'--output_dir={tmp_path}')
  assert code == 2
  assert err.count('\n') == 1 and fragment in err, err
