r"""Accuracy of the shipped model against Basic-Pitch 0.4, same run.

  python bench/accuracy.py [--checkpoint=DIR] [--sets=gm_renders/test,...]
      [--tracks=24] [--basic_pitch=venv|none]

For each evaluation set (default: 'gm_renders/test', renders of held-out
pieces with a held-out soundfont and held-out General-MIDI programs, and
'gm_renders/chorales', Bach chorales, never trained or validated on), every
track is written to a 16-bit wav at 22,050 Hz and transcribed by

* **ours**: the shipped model (``inference.load_predictor()``; or
  ``--checkpoint``), peaks of the salience above its threshold;
* **Basic-Pitch 0.4.0** in its own virtual environment
  (``bench/basic_pitch_multipitch.py``): its notes with the default
  thresholds (``predict``, what its MIDI holds; the anchor) and, as a second
  row, its frame posteriors above 0.3.

Both are scored with ``mir_eval.multipitch`` against the notes sampled on a
10-ms grid (estimates resampled to it by mir_eval), per track, then averaged
per set: P / R / Acc / F1 (%), and seconds of wall time per second of audio
(after one warm-up call each; ours includes the file's salience and peaks,
Basic-Pitch's its ``predict``). Ends with

  RESULT accuracy ours=<mean F1> anchor=<Basic-Pitch mean F1> ratio=<ours/anchor>
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import soundfile  # pylint: disable=g-import-not-at-top

from data_pipelines import gm_renders  # pylint: disable=g-import-not-at-top
from mpe_jax import inference  # pylint: disable=g-import-not-at-top
from mpe_jax import transcribe  # pylint: disable=g-import-not-at-top
from mpe_jax.evaluation import multipitch  # pylint: disable=g-import-not-at-top

FRAME_S = 0.01  # the scoring grid
CHILD = os.path.join(HERE, 'basic_pitch_multipitch.py')
KEYS = ('precision', 'recall', 'accuracy', 'f1')


def _bench_inference():
  """bench/inference.py as a module (its Basic-Pitch venv maker)."""
  spec = importlib.util.spec_from_file_location(
      'bench_inference', os.path.join(HERE, 'inference.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def notes_to_grid(notes, seconds: float) -> tuple[np.ndarray, list]:
  """(times, Hz arrays) of (onset, offset, MIDI) notes on the 10-ms grid
  (a note sounds at t when onset <= t < offset)."""
  times = np.arange(int(np.floor(seconds / FRAME_S)) + 1) * FRAME_S
  freqs = [[] for _ in times]
  for onset, offset, pitch in notes:
    hz = 440.0 * 2.0 ** ((pitch - 69) / 12)
    for k in range(int(np.ceil(onset / FRAME_S - 1e-9)),
                   min(len(times), int(np.ceil(offset / FRAME_S - 1e-9)))):
      freqs[k].append(hz)
  return times, [np.asarray(f, np.float64) for f in freqs]


def reference_grid(record) -> tuple[np.ndarray, list]:
  """A record's notes sampled on the 10-ms grid."""
  seconds = len(record.audio) / record.sample_rate
  times = np.arange(int(np.floor(seconds / FRAME_S)) + 1) * FRAME_S
  return times, record.annotation.sample(times)


def score(ref, est_times, est_freqs) -> dict[str, float]:
  out = multipitch.evaluate_multipitch(ref[0], ref[1], np.asarray(est_times),
                                       est_freqs)
  return {k: out[k] for k in KEYS}


def mean(rows: list[dict]) -> dict[str, float]:
  return {k: float(np.mean([r[k] for r in rows])) for k in KEYS}


def run_ours(predictor, records, refs) -> tuple[dict, float]:
  transcribe.transcribe_audio(records[0].audio, records[0].sample_rate,
                              predictor)  # warm-up (compilation)
  rows, wall, audio_s = [], 0.0, 0.0
  for record, ref in zip(records, refs):
    t0 = time.perf_counter()
    result = transcribe.transcribe_audio(record.audio, record.sample_rate,
                                         predictor)
    wall += time.perf_counter() - t0
    audio_s += len(record.audio) / record.sample_rate
    rows.append(score(ref, result.times, result.multipitch))
  return mean(rows), wall / audio_s


def run_basic_pitch(python: str, wavs: list[str], refs, seconds: list[float]
                    ) -> tuple[dict, dict, float]:
  done = subprocess.run([python, CHILD, *wavs], capture_output=True,
                        text=True, check=False)
  lines = [json.loads(line) for line in done.stdout.splitlines()
           if line.startswith('{')]
  if done.returncode or len(lines) != len(wavs):
    last = (done.stderr.strip().splitlines() or ['no output'])[-1]
    raise RuntimeError(f'basic_pitch_multipitch.py failed: {last}')
  note_rows, frame_rows, wall = [], [], 0.0
  for out, ref, length in zip(lines, refs, seconds):
    wall += out['seconds']
    times, freqs = notes_to_grid(out['notes'], length)
    note_rows.append(score(ref, times, freqs))
    frame_freqs = [440.0 * 2.0 ** ((np.asarray(p, np.float64) - 69) / 12)
                   for p in out['frame_pitches']]
    frame_rows.append(score(ref, out['frame_times'], frame_freqs))
  return mean(note_rows), mean(frame_rows), wall / sum(seconds)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--checkpoint', default=None,
                      help='default: the shipped model')
  parser.add_argument('--sets', default='gm_renders/test,gm_renders/chorales')
  parser.add_argument('--tracks', type=int, default=0,
                      help='tracks per set (0: all of the set)')
  parser.add_argument('--basic_pitch', choices=('venv', 'none'),
                      default='venv')
  parser.add_argument('--basic_pitch_venv', default=os.path.expanduser(
      '~/.cache/mpe_jax/basic-pitch-0.4.0'))
  args = parser.parse_args()

  predictor = inference.load_predictor(args.checkpoint)
  bp_python = None
  if args.basic_pitch == 'venv':
    bp_python = _bench_inference().basic_pitch_python(args.basic_pitch_venv)
  reader = gm_renders.GMRenders()
  print(f'device: {jax.devices()[0].device_kind}, {os.cpu_count()} CPUs; '
        f'model: {predictor.step_dir}; {time.strftime("%Y-%m-%d")}')
  table, ours_f1, anchor_f1 = [], [], []
  for set_name in args.sets.split(','):
    split = set_name.split('/', 1)[1]
    ids = reader.track_ids(split)[:args.tracks or None]
    records = [reader.load(t) for t in ids]
    refs = [reference_grid(r) for r in records]
    seconds = [len(r.audio) / r.sample_rate for r in records]
    ours, ours_speed = run_ours(predictor, records, refs)
    table.append((set_name, 'mpe_jax' + (' (shipped model)' if args.checkpoint is None else ''), ours, ours_speed))
    ours_f1.append(ours['f1'])
    if bp_python:
      with tempfile.TemporaryDirectory(prefix='mpe_accuracy_') as tmp:
        wavs = []
        for record in records:
          path = os.path.join(tmp, record.name.replace('/', '_') + '.wav')
          soundfile.write(path, record.audio, record.sample_rate,
                          subtype='PCM_16')
          wavs.append(path)
        notes, frames, bp_speed = run_basic_pitch(bp_python, wavs, refs,
                                                  seconds)
      table.append((set_name, 'Basic-Pitch 0.4.0 notes', notes, bp_speed))
      table.append((set_name, 'Basic-Pitch 0.4.0 frames>0.3', frames,
                    bp_speed))
      anchor_f1.append(notes['f1'])
    print(f'{set_name}: {len(records)} tracks, {sum(seconds):.0f} s of audio',
          flush=True)
  print(f'\n{"set":22s} {"method":30s} {"P":>6s} {"R":>6s} {"Acc":>6s} '
        f'{"F1":>6s} {"s/audio-s":>10s}')
  for set_name, method, row, speed in table:
    print(f'{set_name:22s} {method:30s} ' + ' '.join(
        f'{100 * row[k]:6.2f}' for k in KEYS) + f' {speed:10.4f}')
  ours = float(np.mean(ours_f1))
  if anchor_f1:
    anchor = float(np.mean(anchor_f1))
    print(f'RESULT accuracy ours={100 * ours:.2f} anchor={100 * anchor:.2f} '
          f'ratio={ours / anchor:.3f} unit=mean_f1_percent '
          f'anchor_name=basic-pitch-0.4.0-notes')
  else:
    print(f'RESULT accuracy ours={100 * ours:.2f} anchor=nan ratio=nan '
          'unit=mean_f1_percent (Basic-Pitch not run)')


if __name__ == '__main__':
  main()
