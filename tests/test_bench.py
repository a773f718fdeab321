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
