"""The light install: ``pip install -e .`` transcribes (and scores) without
TensorFlow, which only ``[train]`` and ``[test]`` bring.

Makes a brand-new virtual environment (no system site-packages; pip reads
its cache), installs the checkout without extras, transcribes a generated
chord with the shipped model, and checks that TensorFlow is neither
installed nor imported.
"""

import os
import subprocess
import sys

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHECK = r'''
import importlib.util, sys
from mpe_jax import transcribe
status = transcribe.run(['transcribe', '--noprogress', '--nocompile_cache',
                         '--formats=txt,mid', '--output_dir=' + sys.argv[1],
                         sys.argv[2]])
assert status == 0, status
from data_pipelines import eval_sets  # scoring prediction folders
assert importlib.util.find_spec('tensorflow') is None, 'TensorFlow installed'
loaded = sorted(m for m in sys.modules if m.split('.')[0] in (
    'tensorflow', 'tensorflow_datasets', 'array_record', 'tensorboard'))
assert not loaded, loaded
print('LIGHT OK')
'''


def test_light_install_transcribes_without_tensorflow(tmp_path):
  venv = tmp_path / 'venv'
  subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
  python = str(venv / 'bin' / 'python')
  env = {k: v for k, v in os.environ.items()
         if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
  env['PIP_DISABLE_PIP_VERSION_CHECK'] = '1'
  install = subprocess.run(
      [python, '-m', 'pip', 'install', '-q', '-e', ROOT],
      capture_output=True, text=True, env=env, check=False)
  assert install.returncode == 0, install.stderr[-3000:]
  t = np.arange(3 * 22050) / 22050
  chord = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63))
  wav = tmp_path / 'chord.wav'
  sf.write(wav, chord.astype(np.float32), 22050)
  out = tmp_path / 'out'
  done = subprocess.run([python, '-c', _CHECK, str(out), str(wav)],
                        capture_output=True, text=True, env=env,
                        cwd=str(tmp_path), check=False)
  assert done.returncode == 0 and 'LIGHT OK' in done.stdout, (
      done.stdout[-2000:] + done.stderr[-3000:])
  assert (out / 'chord.mid').stat().st_size > 0
  notes = (out / 'chord.multipitch.txt').read_text().split()
  assert notes
