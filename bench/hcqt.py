"""HCQT throughput against librosa.vqt on the same machine, in one process.

Anchor: ``librosa.vqt`` (gamma = ERB rule, 60 bins/octave, hop 256) called
once per harmonic channel on the whole batch, with n_bins capped below
Nyquist (librosa refuses bins above it; ours computes all 440).
Ours: the jitted ``hcqt_power`` + dB scaling on the same batch, warm.

  python bench/hcqt.py [--batch=8] [--seconds=4] [--repeats=5]

Ends with ``RESULT hcqt ours=<s> anchor=<s> ratio=<anchor/ours> unit=s``
(ratio > 1 means mpe_jax is faster).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # pylint: disable=g-import-not-at-top
import librosa  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import timing  # pylint: disable=g-import-not-at-top (bench/timing.py)

from mpe_jax.features import hcqt as hcqt_lib  # pylint: disable=g-import-not-at-top


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch', type=int, default=8)
  parser.add_argument('--seconds', type=float, default=4.0)
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()

  cfg = hcqt_lib.HCQTConfig()
  n = int(args.seconds * cfg.sample_rate)
  audio = np.random.default_rng(0).standard_normal(
      (args.batch, n)).astype(np.float32)

  def anchor():
    for h in cfg.harmonics:
      fmin = h * cfg.fmin
      n_bins = cfg.n_bins
      # librosa's own Nyquist check (upper band edge of the top bin).
      while True:
        top = fmin * 2 ** ((n_bins - 1) / cfg.bins_per_octave)
        alpha = (2 ** (2 / cfg.bins_per_octave) - 1) / (
            2 ** (2 / cfg.bins_per_octave) + 1)
        if top * (1 + 0.5 * 1.50018 * alpha) + 0.5 * alpha * 24.7 / 0.108 \
            < cfg.sample_rate / 2:
          break
        n_bins -= 1
      librosa.vqt(audio, sr=cfg.sample_rate, hop_length=cfg.hop_length,
                  fmin=fmin, n_bins=n_bins,
                  bins_per_octave=cfg.bins_per_octave, gamma=None)

  fb = hcqt_lib.make_filterbank(cfg)
  # The model's input, as training and inference compute it.
  features = jax.jit(lambda a: hcqt_lib.hcqt_features(fb, a)['db'])
  x = jax.device_put(audio)

  def ours():
    jax.block_until_ready(features(x))

  t0 = time.perf_counter()
  ours()
  compile_s = time.perf_counter() - t0
  anchor()  # librosa's first call compiles numba kernels: keep it out.
  ours_best, ours_med = timing.best_and_median(ours, args.repeats)
  anc_best, anc_med = timing.best_and_median(anchor,
                                             max(2, args.repeats // 2))
  audio_s = args.batch * args.seconds
  print(f'device: {jax.devices()[0].device_kind}, {os.cpu_count()} CPUs')
  print(f'batch {args.batch} x {args.seconds:g} s, 6 harmonics x 440 bins')
  print(f'ours   (jitted FFT HCQT): best {ours_best:.4f} s, median '
        f'{ours_med:.4f} s, first call (compile) {compile_s:.2f} s, '
        f'{audio_s / ours_best:.0f} s of audio per s')
  print(f'anchor (librosa.vqt x6): best {anc_best:.4f} s, median '
        f'{anc_med:.4f} s, {audio_s / anc_best:.0f} s of audio per s')
  print(f'RESULT hcqt ours={ours_best:.4f} anchor={anc_best:.4f} '
        f'ratio={anc_best / ours_best:.2f} unit=s')


if __name__ == '__main__':
  main()
