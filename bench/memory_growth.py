"""Host memory of the real training loop over many steps: does it grow?

Runs ``python -m mpe_jax.main`` (input pipeline, jitted step, metric
writing, checkpoints every 250 steps) in a child process and samples the
child's resident memory (``VmRSS``) twice a second, mapping samples to steps
through the run's ``metrics.jsonl``. The anchor is the memory at the first
logged step after warm-up (``--warmup`` steps); ours is the memory at the last
step. A leak in the loop (kept batches, metric histories, checkpoint
buffers, re-compilations) shows as growth between the two, whatever the model
size, so the default is a small, fast model at the batch size asked for:

  python bench/memory_growth.py --steps=1000 --batch_size=20

(``--full`` uses the SS-MPE model and 4-s excerpts instead; about 75 s per
step at batch 20 on 2 cores.) Ends with ``RESULT memory_growth_b<N>
ours=<GB at the last step> anchor=<GB after warm-up> ratio=<anchor/ours>
unit=GB`` (1.00 = no growth) and prints the peak and the slope in MB per 100
steps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_gb(pid: int) -> float:
  """Resident memory of ``pid`` in GB (0 when it has exited)."""
  try:
    with open(f'/proc/{pid}/status') as f:
      for line in f:
        if line.startswith('VmRSS:'):
          return int(line.split()[1]) * 1024 / 1e9
  except OSError:
    pass
  return 0.0


def last_step(metrics_path: str) -> int:
  step = -1
  if os.path.exists(metrics_path):
    with open(metrics_path) as f:
      for line in f:
        try:
          step = max(step, int(json.loads(line).get('step', -1)))
        except ValueError:
          continue  # a line being written
  return step


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=1000)
  parser.add_argument('--batch_size', type=int, default=20)
  parser.add_argument('--warmup', type=int, default=100)
  parser.add_argument('--full', action='store_true',
                      help='SS-MPE model and 4-s excerpts')
  parser.add_argument('--csv', default='',
                      help='write every sample (seconds, step, GB) here')
  args = parser.parse_args()

  workdir = tempfile.mkdtemp(prefix='mpe_jax_memory_')
  flags = [f'--config={ROOT}/configs/ssmpe.py:energy', f'--workdir={workdir}',
           f'--config.train.num_steps={args.steps}',
           f'--config.train.batch_size={args.batch_size}',
           '--config.train.log_every=10', '--config.train.checkpoint_every=250',
           f'--config.train.eval_every={args.steps}',
           '--config.eval.evaluation_sets=()',
           "--config.eval.validation_sets=('synthetic_notes/valid',)",
           '--config.data.eval_num_tracks=1',
           '--config.data.eval_track_seconds=1.0']
  if not args.full:
    flags += ['--config.model.channels=(2,2,2,2,2)',
              '--config.model.latent_size=8',
              '--config.data.excerpt_seconds=0.5']
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='2')
  log = open(os.path.join(workdir, 'log.txt'), 'w')
  child = subprocess.Popen([sys.executable, '-m', 'mpe_jax.main'] + flags,
                           cwd=ROOT, env=env, stdout=log,
                           stderr=subprocess.STDOUT)
  metrics = os.path.join(workdir, 'metrics.jsonl')
  samples = []  # (seconds, step, GB)
  t0 = time.time()
  while child.poll() is None:
    samples.append((time.time() - t0, last_step(metrics), rss_gb(child.pid)))
    time.sleep(0.5)
  log.close()
  if child.returncode != 0:
    sys.exit(f'training failed (exit {child.returncode}); see '
             f'{workdir}/log.txt')
  if args.csv:
    with open(args.csv, 'w') as f:
      f.write('seconds,step,rss_gb\n')
      f.writelines(f'{t:.1f},{st},{gb:.4f}\n' for t, st, gb in samples)
  by_step = {}
  for _, st, gb in samples:
    if st >= 0:
      by_step[st // 100 * 100] = gb  # last sample of each 100 steps
  print('resident memory (GB) at the end of each 100 steps: ' + ', '.join(
      f'{st}: {gb:.3f}' for st, gb in sorted(by_step.items())))
  in_loop = [s for s in samples if s[1] >= args.warmup]
  if len(in_loop) < 2:
    sys.exit('too few samples inside the loop; raise --steps')
  anchor = in_loop[0][2]
  # The last sample during training (before the final evaluation).
  end = [s for s in in_loop if s[1] < args.steps] or in_loop
  ours = end[-1][2]
  peak = max(s[2] for s in samples)
  span = max(end[-1][1] - in_loop[0][1], 1)
  slope = (ours - anchor) * 1e3 / span * 100
  print(f'config ssmpe.py:energy, batch {args.batch_size}, '
        f'{"full model, 4-s" if args.full else "small model, 0.5-s"} '
        f'excerpts, {args.steps} steps in {samples[-1][0]:.0f} s')
  print(f'resident memory: {anchor:.3f} GB at step {in_loop[0][1]}, '
        f'{ours:.3f} GB at step {end[-1][1]}, peak {peak:.3f} GB; '
        f'slope {slope:+.2f} MB per 100 steps')
  print(f'RESULT memory_growth_b{args.batch_size} ours={ours:.3f} '
        f'anchor={anchor:.3f} ratio={anchor / ours:.3f} unit=GB')


if __name__ == '__main__':
  main()
