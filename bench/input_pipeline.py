"""Input-pipeline throughput: excerpts per second delivered by train_batches.

Builds, in a temporary folder, a URMP-layout corpus (48-kHz mixtures with
per-instrument F0 files, ``--tracks`` pieces of ``--track_seconds``) and an
E-GMD-layout drum corpus, prepares both with ``data_pipelines.prepare``, then
times ``train_batches`` (one process, ``--batch`` excerpts of ``--seconds``)
for:

* anchor: the synthetic source (``train_source='synthetic'``, the default
  run's data: every note is synthesised on the host);
* prepared: 'urmp/train' from the prepared shards, with labels;
* raw: 'urmp/train' decoded and resampled from the WAV files on every read;
* mixture + drums: 'urmp/train' (labelled) and 'synthetic/train' half and
  half, with 'egmd/train' drum excerpts (prepared).

  python bench/input_pipeline.py [--batch=8] [--seconds=4] [--steps=20]

Ends with ``RESULT input_pipeline ours=<prepared excerpts/s>
anchor=<synthetic excerpts/s> ratio=<ours/anchor> unit=excerpts/s``
(ratio > 1: the prepared corpus streams faster than the synthetic source).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Measure the checkout this script belongs to (not another installed copy).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # pylint: disable=g-import-not-at-top
import soundfile as sf  # pylint: disable=g-import-not-at-top

from configs import ssmpe  # pylint: disable=g-import-not-at-top
from data_pipelines import catalog  # pylint: disable=g-import-not-at-top
from data_pipelines import pipeline  # pylint: disable=g-import-not-at-top
from data_pipelines import prepare  # pylint: disable=g-import-not-at-top


def make_urmp(root: str, n_pieces: int, seconds: float, seed: int) -> None:
  """Pieces '<NN>_Bench_vn_vc' with two random note lines each."""
  rng = np.random.default_rng(seed)
  rate, hop = 48000, 0.0058
  times = np.arange(int(seconds / hop)) * hop
  t = np.arange(int(seconds * rate)) / rate
  for p in range(n_pieces):
    folder = f'{p + 3:02d}_Bench_vn_vc'  # 03.. : not MT3 validation pieces
    os.makedirs(os.path.join(root, folder))
    mix = np.zeros_like(t)
    for i, inst in enumerate(('vn', 'vc'), start=1):
      f0_track = np.zeros_like(times)
      start = 0.0
      while start < seconds:
        length = rng.uniform(0.2, 1.0)
        f0 = 440.0 * 2 ** ((rng.integers(40, 80) - 69) / 12)
        f0_track[(times >= start) & (times < start + length)] = f0
        on = (t >= start) & (t < start + length)
        mix[on] += np.sin(2 * np.pi * f0 * t[on]) / i
        start += length + rng.uniform(0.0, 0.3)
      with open(os.path.join(root, folder, f'F0s_{i}_{inst}_{p + 3:02d}_Bench'
                             '.txt'), 'w') as f:
        f.writelines(f'{a:.4f}\t{b:.3f}\n' for a, b in zip(times, f0_track))
    sf.write(os.path.join(root, folder, f'AuMix_{folder}.wav'),
             0.4 * mix / np.max(np.abs(mix)), rate, subtype='PCM_16')


def make_egmd(root: str, n_tracks: int, seconds: float, seed: int) -> None:
  """E-GMD layout: CSV + drummer1/session1/<k>.wav noise-burst grooves."""
  rng = np.random.default_rng(seed)
  rate = 44100
  os.makedirs(os.path.join(root, 'drummer1', 'session1'))
  lines = ['drummer,session,id,style,bpm,beat_type,time_signature,duration,'
           'split,midi_filename,audio_filename,kit_name']
  for k in range(n_tracks):
    x = np.zeros(int(seconds * rate))
    for start in range(0, len(x), int(rate * rng.uniform(0.1, 0.3))):
      burst = rng.standard_normal(min(2000, len(x) - start))
      x[start:start + len(burst)] += burst * np.exp(-np.arange(len(burst))
                                                    / 300)
    stem = f'drummer1/session1/{k}_rock_120_beat_4-4_{k}'
    sf.write(os.path.join(root, f'{stem}.wav'), 0.5 * x / np.max(np.abs(x)),
             rate, subtype='PCM_16')
    lines.append(f'drummer1,drummer1/session1,drummer1/session1/{k},rock,120,'
                 f'beat,4-4,{seconds},train,{stem}.midi,{stem}.wav,Kit')
  with open(os.path.join(root, 'e-gmd-v1.0.0.csv'), 'w') as f:
    f.write('\n'.join(lines) + '\n')


def throughput(config, steps: int) -> float:
  """Excerpts per second over ``steps`` batches after two warm-up batches."""
  iterator = pipeline.train_batches(config)
  try:
    for _ in range(2):
      next(iterator)
    start = time.perf_counter()
    for _ in range(steps):
      batch = next(iterator)
    elapsed = time.perf_counter() - start
  finally:
    iterator.close()
  return steps * len(batch['audio']) / elapsed


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--batch', type=int, default=8)
  parser.add_argument('--seconds', type=float, default=4.0)
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--tracks', type=int, default=12)
  parser.add_argument('--track_seconds', type=float, default=60.0)
  args = parser.parse_args()

  tmp = tempfile.mkdtemp(prefix='bench_input_')
  urmp_dir, egmd_dir = os.path.join(tmp, 'URMP'), os.path.join(tmp, 'E-GMD')
  data_dir = os.path.join(tmp, 'prepared')
  make_urmp(urmp_dir, args.tracks, args.track_seconds, seed=0)
  make_egmd(egmd_dir, 8, 30.0, seed=1)
  start = time.perf_counter()
  prepare.prepare_split(catalog.CORPORA['urmp'](urmp_dir), 'train', data_dir)
  prep_s = time.perf_counter() - start
  prepare.prepare_split(catalog.CORPORA['egmd'](egmd_dir), 'train', data_dir)
  audio_s = args.tracks * args.track_seconds
  print(f'prepare urmp/train: {audio_s:.0f} s of 48-kHz audio in {prep_s:.1f} '
        f's ({audio_s / prep_s:.0f}x real time, one process)')

  def config_for(**data):
    config = ssmpe.get_config()
    with config.unlocked():
      config.train.batch_size = args.batch
      config.data.excerpt_seconds = args.seconds
      config.data.dataset_dirs.urmp = urmp_dir
      config.data.dataset_dirs.egmd = egmd_dir
      for key, value in data.items():
        config.data[key] = value
    return config

  mix = dict(train_source='mixture', data_dir=data_dir)
  runs = {
      'anchor synthetic': config_for(train_source='synthetic'),
      'prepared urmp/train': config_for(**mix),
      'raw urmp/train': config_for(train_source='mixture', data_dir=''),
      'mixture + drums': config_for(**mix, drum_source='egmd/train'),
  }
  for name in ('prepared urmp/train', 'raw urmp/train'):
    runs[name].data.mixture.sources = ('urmp/train',)
    runs[name].data.mixture.proportions = (1,)
    runs[name].data.mixture.use_labels = (True,)
  runs['mixture + drums'].data.mixture.sources = ('urmp/train',
                                                  'synthetic/train')
  runs['mixture + drums'].data.mixture.proportions = (1, 1)
  runs['mixture + drums'].data.mixture.use_labels = (True, True)

  rates = {}
  for name, config in runs.items():
    rates[name] = throughput(config, args.steps)
    print(f'{name:<22} {rates[name]:8.1f} excerpts/s '
          f'({rates[name] / args.batch:.2f} batches of {args.batch} x '
          f'{args.seconds:g} s per second)', flush=True)
  anchor = rates['anchor synthetic']
  for name, rate in rates.items():
    if name != 'anchor synthetic':
      print(f'ratio {name:<16} {rate / anchor:6.2f}')
  ours = rates['prepared urmp/train']
  print(f'RESULT input_pipeline ours={ours:.1f} anchor={anchor:.1f} '
        f'ratio={ours / anchor:.2f} unit=excerpts/s')


if __name__ == '__main__':
  main()
