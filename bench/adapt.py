r"""Test-time adaptation (``--adapt``): F1 before and after, per track.

  python bench/adapt.py [--checkpoint=NAME|DIR] [--sets=...] [--tracks=N]
      [--adapt_seconds=30] [--max_steps=N] [--guard=monitor|both|anchor|none]
      [--json=out.json]

For each evaluation set (default: 'gm_renders/expressive_valid', where the
settings are chosen, then the held-out 'gm_renders/expressive_test' and
'gm_renders/test') and each of its tracks: the shipped model's multi-pitch
F1 (``mir_eval``, its own decoding), then the F1 of a copy adapted to that
track alone (``mpe_jax.adapt.adapt``, default settings and the given time
budget), the adaptation's wall time per second of audio, and the
degeneration monitor at the returned step (monitored blank rate, mean peak
salience). Prints per-set means, how many tracks got worse and by how much,
and

  RESULT adapt_f1 ours=<mean F1 adapted> anchor=<mean F1 unadapted>
      ratio=<ours/anchor> unit=mean_f1_percent anchor_name=no-adaptation

over every track of every set (the anchor is the same model unadapted,
in the same run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

import numpy as np  # pylint: disable=g-import-not-at-top

from data_pipelines import eval_sets  # pylint: disable=g-import-not-at-top
from mpe_jax import adapt  # pylint: disable=g-import-not-at-top
from mpe_jax import inference  # pylint: disable=g-import-not-at-top
from mpe_jax.evaluation import multipitch  # pylint: disable=g-import-not-at-top
from mpe_jax.evaluation import peaks  # pylint: disable=g-import-not-at-top


def f1_of(predictor, audio: np.ndarray, track) -> float:
  salience = predictor.salience(audio)
  threshold, low = peaks.decoding(predictor.config.eval)
  est = multipitch.salience_to_multipitch(
      salience, predictor.bin_frequencies, threshold, low)
  return 100 * multipitch.evaluate_multipitch(
      track.ref_times, track.ref_freqs,
      predictor.frame_times(salience.shape[-1]), est)['f1']


# The guards: the degeneration monitor (on by default: 'monitor' is the
# shipped setting) and the L2 pull towards the shipped weights at the weight
# the guard study measured (1e-3; off by default).
_PULL = {'anchor': 1e-3}
_NO_MONITOR = {'max_blank_rise': float('inf'), 'max_peak_drop': float('inf')}
GUARDS = {'monitor': {}, 'both': _PULL, 'anchor': {**_PULL, **_NO_MONITOR},
          'none': _NO_MONITOR}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--checkpoint', default=None,
                      help='shipped model name or run (default: shipped)')
  parser.add_argument('--sets', default='gm_renders/expressive_valid,'
                      'gm_renders/expressive_test,gm_renders/test')
  parser.add_argument('--tracks', type=int, default=0,
                      help='first N tracks of each set (0: all)')
  parser.add_argument('--adapt_seconds', type=float, default=30.0)
  parser.add_argument('--max_steps', type=int, default=0,
                      help='optimiser steps at most (0: the default; with '
                      'a large --adapt_seconds, a budget that does not '
                      'depend on the load of the machine)')
  parser.add_argument('--guard', default='monitor', choices=sorted(GUARDS),
                      help='the guards against degeneration: the monitor '
                      'that keeps the last passing step (the default, as '
                      'shipped), the L2 pull (1e-3) to the shipped weights '
                      "('anchor'), both, or none")
  parser.add_argument('--json', default='', help='also write every row here')
  args = parser.parse_args()

  predictor = inference.load_predictor(args.checkpoint)
  settings = dataclasses.replace(adapt.AdaptSettings(
      seconds=args.adapt_seconds), **GUARDS[args.guard])
  if args.max_steps:
    settings = dataclasses.replace(settings, max_steps=args.max_steps)
  print(f'guard: {args.guard}; settings: {settings}', flush=True)
  rows = []
  for set_name in args.sets.split(','):
    tracks = eval_sets.eval_tracks(predictor.config, set_name)
    tracks = tracks[:args.tracks or None]
    for track in tracks:
      audio = np.asarray(track.audio, np.float32)
      audio = audio / max(float(np.abs(audio).max()), 1e-12)
      before = f1_of(predictor, audio, track)
      t0 = time.perf_counter()
      try:
        adapted, report = adapt.adapt(predictor, audio, settings)
      except adapt.AdaptError as error:
        print(f'{track.name}: not adapted ({error})', flush=True)
        adapted, report = predictor, None
      cost = time.perf_counter() - t0
      after = f1_of(adapted, audio, track)
      kept = (next(m for m in report.monitor
                   if m['step'] == report.kept_step) if report else {})
      row = {'set': set_name, 'track': track.name, 'f1_before': before,
             'f1_after': after, 'seconds': cost,
             'audio_seconds': len(audio) / predictor.sample_rate,
             'steps': report.steps if report else 0,
             'kept_step': report.kept_step if report else 0,
             'stopped': report.stopped if report else 'not adapted',
             'blank_rate': kept.get('blank_rate', float('nan')),
             'peak_salience': kept.get('peak_salience', float('nan'))}
      rows.append(row)
      print(f'{set_name:28s} {track.name[-24:]:24s} {before:6.2f} -> '
            f'{after:6.2f} ({cost:5.1f} s, {row["steps"]} steps, kept '
            f'{row["kept_step"]}; {row["stopped"]})', flush=True)

  print(f'\n{"set":28s} {"tracks":>6s} {"F1 before":>9s} {"F1 after":>9s} '
        f'{"worse":>6s} {"worst":>7s} {"s/audio-s":>9s}')
  for set_name in args.sets.split(','):
    part = [r for r in rows if r['set'] == set_name]
    if not part:
      continue
    delta = np.array([r['f1_after'] - r['f1_before'] for r in part])
    cost = (sum(r['seconds'] for r in part)
            / sum(r['audio_seconds'] for r in part))
    print(f'{set_name:28s} {len(part):6d} '
          f'{np.mean([r["f1_before"] for r in part]):9.2f} '
          f'{np.mean([r["f1_after"] for r in part]):9.2f} '
          f'{int(np.sum(delta < 0)):6d} {float(delta.min()):7.2f} '
          f'{cost:9.2f}')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(rows, f, indent=1)
  ours = float(np.mean([r['f1_after'] for r in rows]))
  anchor = float(np.mean([r['f1_before'] for r in rows]))
  print(f'RESULT adapt_f1 ours={ours:.2f} anchor={anchor:.2f} '
        f'ratio={ours / anchor:.4f} unit=mean_f1_percent '
        'anchor_name=no-adaptation')


if __name__ == '__main__':
  main()
