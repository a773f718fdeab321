"""Inference speed on one track against Basic-Pitch and the PyTorch reference.

Ours: the jitted HCQT -> SS-MPE autoencoder -> sigmoid on a ``--seconds``
track in one pass (the evaluation path), warm, best and median of N; the
host-side peak picking is timed separately.

Anchors (constants: neither can run in this environment): Basic-Pitch 0.4.0
with its shipped model on this 2-core CPU spends 0.018-0.025 s of compute per
second of audio (its TF 2.15 backend; the fastest figure is the anchor), and
the released PyTorch SS-MPE code 0.083 s per second of audio (2.49 s for
30 s: HCQT 1.15 s, model 1.18 s).

  python bench/inference.py [--seconds=30] [--repeats=5]

Ends with ``RESULT inference_basic_pitch ours=<audio s/s> anchor=<audio s/s>
ratio=<ours/anchor> unit=audio_s_per_s`` and the same line against the
reference (ratio > 1 means mpe_jax is faster).
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
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import timing  # pylint: disable=g-import-not-at-top (bench/timing.py)
from flax import nnx  # pylint: disable=g-import-not-at-top

from configs import ssmpe  # pylint: disable=g-import-not-at-top
from mpe_jax import systems, train  # pylint: disable=g-import-not-at-top
from mpe_jax.evaluation import multipitch  # pylint: disable=g-import-not-at-top
from mpe_jax.features import hcqt as hcqt_lib  # pylint: disable=g-import-not-at-top

BASIC_PITCH_S_PER_S = 0.018  # fastest measured figure (0.018-0.025)
REFERENCE_S_PER_S = 0.083


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--seconds', type=float, default=30.0)
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()

  config = ssmpe.get_config()
  tx, _ = train.build_optimizer(config)
  graphdef, state = train.init_train_state(config, tx)
  system = systems.get_system(config)
  frontend = system.make_frontend(config)
  predict = train.make_predict(graphdef, frontend, config)
  n = int(args.seconds * config.hcqt.sample_rate)
  audio = jnp.asarray(0.1 * np.random.default_rng(0).standard_normal(
      (1, n)).astype(np.float32))
  params = state.params

  features = jax.jit(lambda a: hcqt_lib.hcqt_features(frontend, a)['db'])
  model_only = jax.jit(
      lambda p, x: jax.nn.sigmoid(nnx.merge(graphdef, p)(x)))
  x = features(audio)

  t0 = time.perf_counter()
  jax.block_until_ready(predict(params, audio))
  compile_s = time.perf_counter() - t0
  measure = lambda fn: timing.best_and_median(  # noqa: E731
      lambda: jax.block_until_ready(fn()), args.repeats)
  best, med = measure(lambda: predict(params, audio))
  f_best, _ = measure(lambda: features(audio))
  m_best, _ = measure(lambda: model_only(params, x))
  sal = np.asarray(predict(params, audio))[0]
  freqs = system.bin_frequencies(frontend)
  p_best, _ = timing.best_and_median(lambda: multipitch.salience_to_multipitch(
      sal, freqs, config.eval.threshold), args.repeats)

  ours = args.seconds / best
  print(f'device: {jax.devices()[0].device_kind}, {os.cpu_count()} CPUs; '
        f'{args.seconds:g}-s track, SS-MPE model (float32)')
  print(f'ours: best {best:.3f} s, median {med:.3f} s '
        f'({best / args.seconds:.4f} s per s of audio, {ours:.1f} s of audio '
        f'per s); HCQT {f_best:.3f} s, model {m_best:.3f} s, peak picking '
        f'(host) {p_best:.3f} s; first call (compile) {compile_s:.1f} s')
  for name, s_per_s in (('basic_pitch', BASIC_PITCH_S_PER_S),
                        ('reference', REFERENCE_S_PER_S)):
    anchor = 1.0 / s_per_s
    print(f'RESULT inference_{name} ours={ours:.2f} anchor={anchor:.2f} '
          f'ratio={ours / anchor:.2f} unit=audio_s_per_s')


if __name__ == '__main__':
  main()
