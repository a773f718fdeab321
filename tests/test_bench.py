"""The benchmark scripts stay runnable: they compile, and the accelerator
script's shell is valid and refuses a wheel folder without wheels."""

import pathlib
import py_compile
import subprocess

import pytest

BENCH = pathlib.Path(__file__).resolve().parent.parent / 'bench'


@pytest.mark.parametrize('script', sorted(p.name for p in BENCH.glob('*.py')))
def test_bench_script_compiles(script, tmp_path):
  py_compile.compile(str(BENCH / script), cfile=str(tmp_path / 'out.pyc'),
                     doraise=True)


def test_accelerator_script_syntax_and_empty_wheel_folder(tmp_path):
  script = BENCH / 'accelerator.sh'
  subprocess.run(['bash', '-n', str(script)], check=True)
  out = subprocess.run(['bash', str(script), str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
  assert out.returncode == 2
  assert out.stderr.strip() == f'error: no .whl files in {tmp_path}'


def _accuracy_module():
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location('bench_accuracy',
                                                BENCH / 'accuracy.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_accuracy_helpers_turn_notes_into_frames_and_score_notes():
  import numpy as np  # pylint: disable=g-import-not-at-top
  accuracy = _accuracy_module()
  times, freqs = accuracy.notes_to_grid([(0.0, 0.05, 69), (0.03, 0.04, 81)],
                                        0.1)
  np.testing.assert_allclose(times, np.arange(11) * 0.01)
  assert [len(f) for f in freqs] == [1, 1, 1, 2, 1, 0, 0, 0, 0, 0, 0]
  np.testing.assert_allclose(freqs[3], [440.0, 880.0])
  reference = (np.array([[0.0, 0.5], [0.5, 1.0]]), np.array([440.0, 494.0]))
  perfect = accuracy.score_notes(reference, [(0.0, 0.5, 69), (0.5, 1.0, 71)])
  assert perfect == {'note_f1': 1.0, 'note_offset_f1': 1.0}
  # Onset 30 ms late: still a hit; ended at half length: onset-only hit.
  late = accuracy.score_notes(reference, [(0.03, 0.25, 69)])
  assert abs(late['note_f1'] - 2 / 3) < 1e-9 and late['note_offset_f1'] == 0
  # A repeated note merged into one long note loses the second onset.
  merged = accuracy.score_notes(
      (np.array([[0.0, 0.5], [0.5, 1.0]]), np.array([440.0, 440.0])),
      [(0.0, 1.0, 69)])
  assert abs(merged['note_f1'] - 2 / 3) < 1e-9
  assert accuracy.score_notes(reference, []) == {'note_f1': 0.0,
                                                 'note_offset_f1': 0.0}


def test_accuracy_reference_grid_samples_the_annotation_every_10_ms():
  import numpy as np  # pylint: disable=g-import-not-at-top
  from data_pipelines import corpus  # pylint: disable=g-import-not-at-top
  accuracy = _accuracy_module()
  record = corpus.Record('x', np.zeros(2205, np.float32), 22050, corpus.Notes(
      np.array([0.02]), np.array([0.05]), np.array([440.0])))
  times, freqs = accuracy.reference_grid(record)
  np.testing.assert_allclose(times, np.arange(11) * 0.01)
  assert [len(f) for f in freqs] == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]


def test_accuracy_reads_realsamples_sets_only_with_their_folder():
  accuracy = _accuracy_module()
  with pytest.raises(SystemExit, match='--realsamples_dir'):
    accuracy.open_set('realsamples/valid', None)
