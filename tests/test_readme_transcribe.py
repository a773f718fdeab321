"""The README's transcription line, run verbatim as a new user runs it.

A copy of the checkout, a brand-new virtual environment (no system
site-packages; pip reads its usual cache) and a fresh home folder: the line
``pip install -e . && python -m mpe_jax.transcribe --output_dir=out
my_recording.wav`` is taken from README.md and run by bash, twice, with the
default flags and the default cache folder. The second run must compile no
program; TensorFlow must be neither installed nor imported. The second test
first trains (the README's main job, on the tiny test config) in the same
home folder, as a user who follows the README does.

The processes are watched without changing the command: a
``sitecustomize`` module on PYTHONPATH counts JAX's compilations
(``jax.monitoring``) and lists the TensorFlow modules loaded, one JSON line
per process.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_OBSERVER = r'''
import atexit, importlib.util, json, os, sys
_OUT = os.environ.get('MPE_JAX_TEST_OBSERVE')
if _OUT:
  _counts = {'compiles': 0, 'cache_hits': 0}
  if importlib.util.find_spec('jax') is not None:
    from jax import monitoring

    def _on(event, duration, **kwargs):
      if event == '/jax/core/compile/backend_compile_duration':
        _counts['compiles'] += 1
      elif event == '/jax/compilation_cache/cache_retrieval_time_sec':
        _counts['cache_hits'] += 1

    monitoring.register_event_duration_secs_listener(_on)

  def _write():
    loaded = sorted(m for m in sys.modules if m.split('.')[0] in (
        'tensorflow', 'tensorflow_datasets', 'array_record', 'tensorboard'))
    with open(_OUT, 'a') as f:
      f.write(json.dumps(dict(_counts, argv=sys.argv, tensorflow=loaded))
              + '\n')

  atexit.register(_write)
'''


def readme_transcription_line() -> str:
  """The command of the README's "Transcribe a recording" section."""
  with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
    text = f.read()
  section = text[text.index('## Transcribe a recording in one command'):]
  block = re.search(r'```bash\n(.*?)\n```', section, re.S).group(1)
  lines = [l for l in block.splitlines() if 'mpe_jax.transcribe' in l]
  assert len(lines) == 1, block
  return lines[0].strip()


def _copy_checkout(dest: str) -> None:
  """The checkout's files (tracked and new, not ignored), as a clone has."""
  listed = subprocess.run(
      ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
      cwd=ROOT, capture_output=True, check=True).stdout.decode().split('\0')
  for name in filter(None, listed):
    source = os.path.join(ROOT, name)
    if not os.path.isfile(source):
      continue  # removed in the work tree
    target = os.path.join(dest, name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(source, target)


@pytest.fixture(scope='module')
def fresh_install(tmp_path_factory):
  """(checkout copy, venv bin folder, observer folder)."""
  base = tmp_path_factory.mktemp('fresh')
  checkout = base / 'checkout'
  _copy_checkout(str(checkout))
  subprocess.run([sys.executable, '-m', 'venv', str(base / 'venv')],
                 check=True)
  observer = base / 'observer'
  observer.mkdir()
  (observer / 'sitecustomize.py').write_text(_OBSERVER)
  return checkout, base / 'venv' / 'bin', observer


def _user_env(venv_bin, observer, home, log) -> dict:
  """A new user's environment: the venv first on PATH, a fresh home, no
  cache settings, no test-suite XLA flags; pip keeps its own cache."""
  env = {k: v for k, v in os.environ.items()
         if k not in ('PYTHONPATH', 'VIRTUAL_ENV', 'XLA_FLAGS',
                      'JAX_COMPILATION_CACHE_DIR', 'MPE_JAX_COMPILE_CACHE',
                      'XDG_CACHE_HOME', 'PYTHONHOME')}
  env['PIP_CACHE_DIR'] = os.environ.get('PIP_CACHE_DIR') or os.path.join(
      os.path.expanduser('~'), '.cache', 'pip')
  env.update(PATH=f'{venv_bin}{os.pathsep}{env.get("PATH", "")}',
             HOME=str(home), VIRTUAL_ENV=str(venv_bin.parent),
             PYTHONPATH=str(observer), MPE_JAX_TEST_OBSERVE=str(log),
             PIP_DISABLE_PIP_VERSION_CHECK='1')
  return env


def _run_line(checkout, env) -> None:
  done = subprocess.run(['bash', '-c', readme_transcription_line()],
                        cwd=checkout, env=env, capture_output=True,
                        text=True, timeout=900, check=False)
  assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
  assert 'Transcribed 1 of 1 input(s).' in done.stdout, done.stdout[-2000:]


def _transcriber_records(log) -> list[dict]:
  with open(log) as f:
    records = [json.loads(line) for line in f if line.strip()]
  # ``python -m mpe_jax.transcribe`` runs with the module's path as argv[0].
  return [r for r in records
          if r['argv'][0].endswith(os.path.join('mpe_jax', 'transcribe.py'))]


def _recording(path) -> None:
  rate = 44100  # not the model's rate: resampled, as most recordings are
  t = np.arange(4 * rate) / rate
  audio = sum(0.2 * np.sin(2 * np.pi * f * t) * np.exp(-0.5 * t)
              for f in (196.0, 246.94, 293.66))
  sf.write(path, np.stack([audio, 0.8 * audio], axis=1).astype(np.float32),
           rate)


def _check_twice(checkout, venv_bin, observer, home, log) -> None:
  """Runs the README line twice; checks outputs, compiles and TensorFlow."""
  shutil.rmtree(checkout / 'out', ignore_errors=True)
  _recording(str(checkout / 'my_recording.wav'))
  env = _user_env(venv_bin, observer, home, log)
  _run_line(checkout, env)
  for suffix in ('.mid', '.notes.csv', '.multipitch.txt', '.png'):
    path = checkout / 'out' / ('my_recording' + suffix)
    assert path.stat().st_size > 0, path
  rows = (checkout / 'out' / 'my_recording.notes.csv').read_text().splitlines()
  assert rows[0].startswith('start_time_s,end_time_s,pitch_midi,velocity')
  assert {int(r.split(',')[2]) for r in rows[1:]} & {55, 59, 62}, rows
  _run_line(checkout, env)
  first, second = _transcriber_records(log)[-2:]
  assert first['compiles'] > 0, first  # the observer sees compilations
  assert second['compiles'] == 0, second
  assert not first['tensorflow'] and not second['tensorflow'], first
  found = subprocess.run(
      [str(venv_bin / 'python'), '-c',
       'import importlib.util as u; print(u.find_spec("tensorflow"))'],
      env=env, capture_output=True, text=True, check=True).stdout.strip()
  assert found == 'None', f'TensorFlow installed: {found}'


@pytest.mark.slow
def test_readme_transcription_line_on_a_fresh_machine(fresh_install,
                                                      tmp_path):
  checkout, venv_bin, observer = fresh_install
  _check_twice(checkout, venv_bin, observer, tmp_path / 'home',
               tmp_path / 'observed.jsonl')
  # The console command is installed, with the same flags.
  helped = subprocess.run([str(venv_bin / 'mpe-jax-transcribe'), '--help'],
                          env=_user_env(venv_bin, observer, tmp_path / 'home',
                                        tmp_path / 'help.jsonl'),
                          capture_output=True, text=True, check=False)
  assert helped.returncode == 0 and '--onset_threshold' in helped.stdout, (
      helped.stderr[-2000:])
  # Scoring prediction folders needs no TensorFlow either.
  env = _user_env(venv_bin, observer, tmp_path / 'home',
                  tmp_path / 'scoring.jsonl')
  subprocess.run([str(venv_bin / 'python'), '-c',
                  'from data_pipelines import eval_sets'],
                 cwd=checkout, env=env, check=True)
  with open(tmp_path / 'scoring.jsonl') as f:
    assert not json.loads(f.readline())['tensorflow']


@pytest.mark.slow
def test_readme_transcription_line_after_training(fresh_install, tmp_path):
  checkout, venv_bin, observer = fresh_install
  home = tmp_path / 'home'
  home.mkdir()
  # The main job first (tiny config: a short run), in the same home folder
  # and with the default caches, from the test's own [test] environment.
  env = {k: v for k, v in os.environ.items()
         if k not in ('JAX_COMPILATION_CACHE_DIR', 'MPE_JAX_COMPILE_CACHE',
                      'XDG_CACHE_HOME')}
  env['HOME'] = str(home)
  done = subprocess.run(
      [sys.executable, '-m', 'mpe_jax.main', '--config=tests/tiny_config.py',
       f'--workdir={tmp_path / "run"}'], cwd=ROOT, env=env,
      capture_output=True, text=True, timeout=900, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  train_cache = home / '.cache' / 'mpe_jax' / 'train'
  assert any(files for _, _, files in os.walk(train_cache)), (
      'training wrote no compilation cache')
  _check_twice(checkout, venv_bin, observer, home,
               tmp_path / 'observed.jsonl')
  # The transcriber's folder holds only its own entries.
  programs = [name for _, _, files in os.walk(
      home / '.cache' / 'mpe_jax' / 'transcribe') for name in files]
  assert programs and not [p for p in programs if 'train_step' in p]
