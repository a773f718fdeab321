"""Starting, watching and stopping training subprocesses in tests.

Every wait is bounded; every process is started in its own session so that
the whole group can be killed when a test fails or times out.
"""

import json
import os
import signal
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(cmd: list[str], log_path: str, **env) -> subprocess.Popen:
  """Starts ``cmd`` in the repository root, output to ``log_path``."""
  with open(log_path, 'w') as log:
    return subprocess.Popen(cmd, cwd=REPO, env=dict(os.environ, **env),
                            stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def train_steps(metrics_path: str) -> list[int]:
  """Steps of the training records in ``metrics.jsonl`` (file order)."""
  if not os.path.exists(metrics_path):
    return []
  with open(metrics_path) as f:
    records = [json.loads(line) for line in f if line.strip()]
  return [r['step'] for r in records if 'loss/total' in r]


def wait_for_step(proc: subprocess.Popen, metrics_path: str, step: int,
                  timeout_s: float) -> None:
  """Waits until a training record of ``step`` (or later) is written."""
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    if max(train_steps(metrics_path), default=0) >= step:
      return
    if proc.poll() is not None:
      raise AssertionError(f'exited with status {proc.returncode} before '
                           f'step {step}')
    time.sleep(0.5)
  raise AssertionError(f'no step {step} within {timeout_s} s')


def kill_group(proc: subprocess.Popen) -> None:
  """SIGKILL to the process group of ``proc`` (if still running)."""
  if proc.poll() is None:
    try:
      os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
      pass
    proc.wait(timeout=30)


def tail(path: str, n: int = 40) -> str:
  """The last ``n`` lines of a log file (for failure messages)."""
  if not os.path.exists(path):
    return f'({path} missing)'
  with open(path, errors='replace') as f:
    return ''.join(f.readlines()[-n:])
