"""Evaluation-set salience: length buckets against one compile per length.

The trainer's evaluation (``evaluation_loop.evaluate_tracks``) computes every track's
whole-file salience. Called at each track's own length, the jitted program is
compiled once per distinct length; ``inference.BucketedSalience`` pads to a
ladder of lengths (three per octave) plus one fixed end window, so a set
compiles a few programs whatever its number of lengths. This script times the
salience of ``--tracks`` tracks with lengths spread evenly over
``[--min_seconds, --max_seconds]`` (random noise, SS-MPE at its full size),
both ways in one process:

* cold: the first pass over the set (compiles included), as in the first
  validation of a run or a final evaluation;
* warm: a second pass (every program compiled), as in later validations.

  python bench/eval_tracks.py [--tracks=10] [--min_seconds=20]
      [--max_seconds=40]

Ends with ``RESULT eval_tracks_cold ours=<s> anchor=<s> ratio=<anchor/ours>
unit=s`` (anchor: one call per track at its own length; ratio > 1 means the
buckets are faster) and the same line for the warm pass.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from configs import ssmpe  # pylint: disable=g-import-not-at-top
from mpe_jax import inference, train  # pylint: disable=g-import-not-at-top


def _pass(fn, params, tracks) -> float:
  t0 = time.perf_counter()
  for x in tracks:
    fn(params, x)
  return time.perf_counter() - t0


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--tracks', type=int, default=10)
  parser.add_argument('--min_seconds', type=float, default=20.0)
  parser.add_argument('--max_seconds', type=float, default=40.0)
  args = parser.parse_args()

  config = ssmpe.get_config()
  tx, _ = train.build_optimizer(config)
  _, state = train.init_train_state(config, tx)
  bucketed = inference.BucketedSalience(config)
  sr = config.hcqt.sample_rate
  rng = np.random.default_rng(0)
  seconds = np.linspace(args.min_seconds, args.max_seconds, args.tracks)
  tracks = [0.1 * rng.standard_normal((1, int(s * sr))).astype(np.float32)
            for s in seconds]
  frames = [1 + x.shape[1] // bucketed.hop_length for x in tracks]
  buckets = sorted({bucketed.bucket(f) for f in frames})
  print(f'device: {jax.devices()[0].platform}, {os.cpu_count()} CPUs; '
        f'{args.tracks} tracks of {args.min_seconds:g}-{args.max_seconds:g} '
        f's ({len(set(frames))} lengths), buckets {buckets} frames + a '
        f'{bucketed.tail_frames}-frame end window', flush=True)

  # Same numbers both ways (checked on the shortest track).
  np.testing.assert_allclose(bucketed(state.params, tracks[0]),
                             bucketed.whole(state.params, tracks[0]),
                             atol=1e-5, rtol=0)
  jax.clear_caches()
  bucketed = inference.BucketedSalience(config)

  anchor_cold = _pass(bucketed.whole, state.params, tracks)
  anchor_warm = _pass(bucketed.whole, state.params, tracks)
  ours_cold = _pass(bucketed, state.params, tracks)
  ours_warm = _pass(bucketed, state.params, tracks)
  print(f'one call per length: cold {anchor_cold:.1f} s, warm '
        f'{anchor_warm:.1f} s')
  print(f'length buckets:      cold {ours_cold:.1f} s, warm '
        f'{ours_warm:.1f} s')
  print(f'RESULT eval_tracks_cold ours={ours_cold:.2f} '
        f'anchor={anchor_cold:.2f} ratio={anchor_cold / ours_cold:.2f} '
        f'unit=s')
  print(f'RESULT eval_tracks_warm ours={ours_warm:.2f} '
        f'anchor={anchor_warm:.2f} ratio={anchor_warm / ours_warm:.2f} '
        f'unit=s')


if __name__ == '__main__':
  main()
