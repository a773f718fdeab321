"""Basic-Pitch 0.4.0's own virtual environment, made on first use.

``basic-pitch==0.4.0`` pins TensorFlow 2.15 and numpy 1.26, which would
downgrade what JAX needs, so the benches that run it as their anchor
(``inference.py``, ``accuracy.py``, ``cli.py``) run it in a separate venv.
"""

from __future__ import annotations

import os
import subprocess
import sys

BASIC_PITCH_REQUIREMENT = 'basic-pitch==0.4.0'
DEFAULT_VENV = os.path.expanduser('~/.cache/mpe_jax/basic-pitch-0.4.0')


def basic_pitch_python(venv: str = DEFAULT_VENV) -> str:
  """The interpreter of a venv with Basic-Pitch, made on first use.

  Raises:
    RuntimeError: the environment could not be made (one line: why).
  """
  python = os.path.join(venv, 'bin', 'python')
  check = [python, '-c', 'import basic_pitch']
  if os.path.exists(python) and subprocess.run(
      check, capture_output=True, check=False).returncode == 0:
    return python
  print(f'making Basic-Pitch\'s environment in {venv} '
        f'(pip install {BASIC_PITCH_REQUIREMENT}; first use only)', flush=True)
  for cmd in ([sys.executable, '-m', 'venv', venv],
              [python, '-m', 'pip', 'install', '-q', BASIC_PITCH_REQUIREMENT]):
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
      last = (done.stderr.strip().splitlines() or ['no output'])[-1]
      raise RuntimeError(f'{" ".join(cmd[-3:])} failed: {last}')
  return python
