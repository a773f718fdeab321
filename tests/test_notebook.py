"""The quickstart notebook's code cells run, with tiny settings."""

import os
import shutil

import nbformat
import pytest

import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, 'notebooks', 'quickstart.ipynb')


def _code_cells():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(nb)
  return [c for c in nb.cells if c.cell_type == 'code']


def test_one_parameters_cell_sets_every_size():
  cells = _code_cells()
  params = [c for c in cells if 'parameters' in c.metadata.get('tags', [])]
  assert len(params) == 1
  names = {}
  exec(params[0].source, names)  # pylint: disable=exec-used
  assert {'CONFIG_FILE', 'CONFIG_ARG', 'TRAIN_STEPS', 'WORKDIR',
          'EXAMPLE_SECONDS', 'EVAL_SET', 'OUTPUT_DIR'} <= set(names)
  assert names['CONFIG_ARG'] == 'quick' and names['TRAIN_STEPS'] == 150


@pytest.mark.slow
def test_notebook_code_cells_run(tmp_path, monkeypatch, tiny_trained_run):
  """Every code cell, in order, in one namespace, with the parameters cell
  replaced by the tiny test configuration. WORKDIR starts as a copy of the
  session's finished tiny run, so the training cell resumes it at its last
  step (training from scratch and resuming are covered by test_train and
  test_faults) and then runs its final evaluation."""
  monkeypatch.chdir(ROOT)
  monkeypatch.setenv('MPLBACKEND', 'Agg')
  workdir = tmp_path / 'run'
  shutil.copytree(tiny_trained_run, workdir)
  os.remove(workdir / 'eval.json')
  tiny = (f"CONFIG_FILE = 'tests/tiny_config.py'\n"
          f"CONFIG_ARG = '2'\n"
          f"TRAIN_STEPS = 2\n"
          f"WORKDIR = {str(workdir)!r}\n"
          f"EXAMPLE_SECONDS = 1.0\n"
          f"EVAL_SET = 'synthetic_mixtures/test'\n"
          f"OUTPUT_DIR = {str(tmp_path / 'out')!r}\n")
  namespace = {'__name__': '__main__'}
  for cell in _code_cells():
    source = tiny if 'parameters' in cell.metadata.get('tags', []) else (
        cell.source)
    code = compile(source, 'quickstart.ipynb', 'exec')
    exec(code, namespace)  # pylint: disable=exec-used
  assert os.path.exists(workdir / 'eval.json')
  assert namespace['results']['final']['sets']['synthetic_mixtures/test']
  result = namespace['result']
  assert namespace['example'].audio.max() > 0
  n_bins = tiny_config.get_config().hcqt.n_bins
  assert result.salience.shape == (n_bins, 87)  # 1 s at 22,050 Hz, hop 256
  assert sorted(os.listdir(tmp_path / 'out')) == [
      'example.mid', 'example.multipitch.txt', 'example.notes.csv',
      'example.png', 'example.wav']
  report = namespace['report']
  assert report.failures == [] and set(report.mean) >= {
      'precision', 'recall', 'accuracy', 'f1'}
  # The notebook's numbers are the run's own final evaluation.
  want = namespace['results']['final']['sets']['synthetic_mixtures/test']
  assert report.mean['f1'] == pytest.approx(want['f1'], abs=1e-5)
