"""Where a training step's time goes: its parts timed one by one.

Times, on the same random batch and in one process (warm, best of N):

* ``features``: HCQT + dB features of the clean audio;
* ``forward``: the model on one branch's features;
* ``forward+backward``: value and parameter gradient of one branch's output
  sum (the backward pass of one branch);
* ``objectives`` (``loss``): every configured objective, forward only;
* ``step``: the full jitted train step (objectives, backward, clipping,
  AdamW);

and divides each by XLA's FLOP count of the same compiled program, so the
achieved GFLOP/s says which part runs far from the machine's peak.

  python bench/profile_step.py --config=configs/ssmpe.py --batch_size=4

``XLA_FLAGS`` set in the environment apply (e.g. to compare CPU convolution
back ends). Ends with ``RESULT profile_step_b<N> ours=<step s>
anchor=<forward+backward s x branches> ratio=<anchor/ours> unit=s``: the
anchor is the step's time if it were only its model passes, so a ratio near 1
means the convolutions are the whole cost.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from flax import nnx  # pylint: disable=g-import-not-at-top

from timing import best_and_median  # pylint: disable=g-import-not-at-top
from train_step import random_batch, setup  # pylint: disable=g-import-not-at-top
from mpe_jax import systems, train  # pylint: disable=g-import-not-at-top
from mpe_jax.features import hcqt as hcqt_lib  # pylint: disable=g-import-not-at-top
from mpe_jax.objectives import salience  # pylint: disable=g-import-not-at-top


def _flops(jitted, *args) -> float:
  cost = jitted.lower(*args).compile().cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get('flops', float('nan'))) if cost else float('nan')


def branches(config) -> int:
  """Model passes per step: the clean one plus one per consistency term."""
  terms = salience.enabled_terms(config.loss_weights)
  return 1 + sum(t in terms for t in ('timbre', 'geometric', 'percussion'))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='configs/ssmpe.py')
  parser.add_argument('--batch_size', type=int, default=4)
  parser.add_argument('--seconds', type=float, default=4.0)
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args()

  config, tx, scheds, graphdef, state, frontend = setup(
      args.config, args.batch_size, args.seconds)
  system = systems.get_system(config)
  batch = jax.tree.map(jnp.asarray,
                       random_batch(config, np.random.default_rng(0)))
  key = jax.random.key(0)

  features = jax.jit(
      lambda a: hcqt_lib.hcqt_features(frontend, a)['db'])
  x = features(batch['audio'])

  def forward(params, x):
    return nnx.merge(graphdef, params)(x)

  def forward_backward(params, x):
    return jax.value_and_grad(lambda p: jnp.sum(forward(p, x)))(params)

  def objectives(params, batch):
    total, _ = system.compute_losses(nnx.merge(graphdef, params), batch, key,
                                     frontend, config)
    return total

  step = jax.jit(train.make_train_step(graphdef, frontend, tx, scheds,
                                       config))
  parts = [
      ('features (HCQT + dB)', features, (batch['audio'],)),
      ('forward, one branch', jax.jit(forward), (state.params, x)),
      ('forward+backward, one branch', jax.jit(forward_backward),
       (state.params, x)),
      ('objectives (all branches, forward)', jax.jit(objectives),
       (state.params, batch)),
      ('train step', step, (state, batch)),
  ]
  print(f'device: {jax.devices()[0].device_kind}, {os.cpu_count()} CPUs; '
        f'config {args.config}, batch {args.batch_size} x {args.seconds:g} s; '
        f'XLA_FLAGS={os.environ.get("XLA_FLAGS", "")!r}')
  print(f'{"part":38s} {"best s":>8s} {"median s":>9s} {"GFLOP":>8s} '
        f'{"GFLOP/s":>8s}')
  times = {}
  for name, fn, fargs in parts:
    flops = _flops(fn, *fargs)
    best, med = best_and_median(
        lambda fn=fn, fargs=fargs: jax.block_until_ready(fn(*fargs)),
        args.repeats)
    times[name] = best
    print(f'{name:38s} {best:8.3f} {med:9.3f} {flops / 1e9:8.2f} '
          f'{flops / 1e9 / best:8.1f}')
  n_branch = branches(config)
  model_only = (times['features (HCQT + dB)']
                + n_branch * times['forward+backward, one branch'])
  print(f'{n_branch} branches: features + {n_branch} x forward+backward = '
        f'{model_only:.3f} s; the step takes {times["train step"]:.3f} s')
  print(f'RESULT profile_step_b{args.batch_size} '
        f'ours={times["train step"]:.3f} anchor={model_only:.3f} '
        f'ratio={model_only / times["train step"]:.2f} unit=s')


if __name__ == '__main__':
  main()
