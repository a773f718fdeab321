r"""Size and install time of the light install against Basic-Pitch's, same run.

  python bench/install.py [--keep]

Makes three brand-new virtual environments and times, in each, one ``pip
install`` (pip reads its own cache, as a user's second install would):

* ``pip install -e .`` (mpe_jax, the light install: transcription and
  scoring, no TensorFlow);
* ``pip install -e ".[train]"`` (training and data preparation);
* ``pip install basic-pitch==0.4.0`` (the anchor).

Prints each environment's size on disk and install time, whether
TensorFlow is in it, and ends with

  RESULT install_size ours=<MB> anchor=<MB> ratio=<anchor / ours> ...
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _size_mb(path: str) -> float:
  total = 0
  for folder, _, files in os.walk(path):
    for name in files:
      full = os.path.join(folder, name)
      if not os.path.islink(full):
        total += os.path.getsize(full)
  return total / 2**20


def measure(label: str, requirement: list[str], base: str) -> dict:
  venv = os.path.join(base, label)
  subprocess.run([sys.executable, '-m', 'venv', venv], check=True)
  python = os.path.join(venv, 'bin', 'python')
  t0 = time.perf_counter()
  done = subprocess.run([python, '-m', 'pip', 'install', '-q',
                         '--disable-pip-version-check', *requirement],
                        capture_output=True, text=True, check=False)
  seconds = time.perf_counter() - t0
  if done.returncode:
    last = (done.stderr.strip().splitlines() or ['no output'])[-1]
    raise RuntimeError(f'pip install {" ".join(requirement)} failed: {last}')
  has_tf = subprocess.run(
      [python, '-c', 'import importlib.util as u; '
       'print(u.find_spec("tensorflow") is not None)'],
      capture_output=True, text=True, check=True).stdout.strip() == 'True'
  return {'label': label, 'seconds': seconds, 'mb': _size_mb(venv),
          'tensorflow': has_tf}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--keep', action='store_true',
                      help='keep the environments (printed)')
  args = parser.parse_args()
  base = tempfile.mkdtemp(prefix='mpe_install_')
  try:
    rows = [measure('mpe_jax', ['-e', ROOT], base),
            measure('mpe_jax[train]', ['-e', f'{ROOT}[train]'], base),
            measure('basic-pitch', ['basic-pitch==0.4.0'], base)]
  finally:
    if not args.keep:
      shutil.rmtree(base, ignore_errors=True)
  print(f'{time.strftime("%Y-%m-%d")}; {os.cpu_count()} CPUs; Python '
        f'{sys.version.split()[0]}; pip from its cache')
  print(f'{"environment":18s} {"MB":>8s} {"install s":>10s} tensorflow')
  for row in rows:
    print(f'{row["label"]:18s} {row["mb"]:8.0f} {row["seconds"]:10.1f} '
          f'{row["tensorflow"]}')
  ours, anchor = rows[0], rows[2]
  print(f'RESULT install_size ours={ours["mb"]:.0f} anchor={anchor["mb"]:.0f} '
        f'ratio={anchor["mb"] / ours["mb"]:.3f} unit=MB '
        'anchor_name=pip-install-basic-pitch-0.4.0')
  print(f'RESULT install_time ours={ours["seconds"]:.1f} '
        f'anchor={anchor["seconds"]:.1f} '
        f'ratio={anchor["seconds"] / ours["seconds"]:.3f} unit=s '
        'anchor_name=pip-install-basic-pitch-0.4.0')


if __name__ == '__main__':
  main()
