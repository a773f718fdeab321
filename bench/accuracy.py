r"""Accuracy of the shipped model against Basic-Pitch 0.4, same run.

  python bench/accuracy.py [--checkpoint=DIR] [--sets=gm_renders/test,...]
      [--tracks=24] [--basic_pitch=venv|none] [--realsamples_dir=DIR]

For each evaluation set (default: 'gm_renders/expressive_test', the
realistic development set: expressive renders of held-out sources;
'gm_renders/test', renders of held-out pieces with a held-out soundfont and
held-out General-MIDI programs; and 'gm_renders/chorales', Bach chorales,
never trained or validated on; ``realsamples/valid`` and
``realsamples/test``, pieces played by recorded instruments, with
``--realsamples_dir`` = the folder holding ``philharmonia/``), every
track is written to a 16-bit wav at 22,050 Hz and transcribed by

* **ours**: the shipped model (``inference.load_predictor()``; or
  ``--checkpoint``), peaks of the salience above its threshold;
* **Basic-Pitch 0.4.0** in its own virtual environment
  (``bench/basic_pitch_multipitch.py``): its notes with the default
  thresholds (``predict``, what its MIDI holds; the anchor) and, as a second
  row, its frame posteriors above 0.3.

Both are scored with ``mir_eval.multipitch`` against the notes sampled on a
10-ms grid (estimates resampled to it by mir_eval), per track, then averaged
per set: P / R / Acc / F1 (%), note-level F1 of the MIDI notes
(``mir_eval.transcription``, 50-ms onset tolerance, 50-cent pitch tolerance:
onset only, then onset and offset; the reference notes are the performed
ones, a bent note at the median of its pitch curve; Basic-Pitch's frame
readout has no notes), and seconds of wall time per second of audio
(after one warm-up call each; ours includes the file's salience and peaks,
Basic-Pitch's its ``predict``). Ends with

  RESULT accuracy ours=<mean F1> anchor=<mean over sets of Basic-Pitch's
      best readout (notes or frames > 0.3)> ratio=<ours/anchor>
  RESULT note_accuracy ours=<mean note F1> anchor=<Basic-Pitch's notes> ...

``--basic_pitch=none`` prints the table and fails: no RESULT without the
anchor.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)  # the bench's own modules

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import soundfile  # pylint: disable=g-import-not-at-top

import basic_pitch_env  # pylint: disable=g-import-not-at-top (bench/)

from data_pipelines.generated import gm_renders  # pylint: disable=g-import-not-at-top
from mpe_jax import inference  # pylint: disable=g-import-not-at-top
from mpe_jax import transcribe  # pylint: disable=g-import-not-at-top
from mpe_jax.evaluation import multipitch  # pylint: disable=g-import-not-at-top

FRAME_S = 0.01  # the scoring grid
ONSET_TOLERANCE = 0.05  # s, note-level scores (mir_eval.transcription)
CHILD = os.path.join(HERE, 'basic_pitch_multipitch.py')
KEYS = ('precision', 'recall', 'accuracy', 'f1')
NOTE_KEYS = ('note_f1', 'note_offset_f1')


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


def open_set(set_name: str, realsamples_dir: str | None):
  """(reader, records, reference notes) of ``set_name``'s tracks."""
  corpus_name, split = set_name.split('/', 1)
  if corpus_name == 'realsamples':
    from data_pipelines.real_samples import realsamples  # pylint: disable=g-import-not-at-top
    if not realsamples_dir:
      raise SystemExit(f'{set_name} needs --realsamples_dir (the folder '
                       'holding philharmonia/; docs/datasets.md)')
    reader = realsamples.RealSamples(realsamples_dir)
    return reader, split, lambda t: _rendered(reader, t)
  reader = gm_renders.GMRenders()
  return reader, split, lambda t: (reader.load(t),
                                   reference_notes(reader, t))


def _rendered(reader, track_id: str):
  record, notes = reader.render(track_id)
  return record, (notes[:, :2].reshape(-1, 2), notes[:, 2])


def reference_notes(reader, track_id: str) -> tuple[np.ndarray, np.ndarray]:
  """(intervals [L, 2] s, pitches [L] Hz) of a track's performed notes.

  A bent note's pitch is its MIDI pitch moved by the median of its pitch
  curve (tuning + intonation + drift; vibrato averages out), so a note
  played 30 cents sharp is scored against where it sounds."""
  plan = reader.plan(track_id)
  intervals = np.array([[n.onset, n.offset] for n in plan.notes],
                       np.float64).reshape(-1, 2)
  cents = np.zeros(len(plan.notes))
  if plan.curves is not None:
    cents = np.array([float(np.median(c)) for c in plan.curves.cents])
  pitches = 440.0 * 2.0 ** ((np.array([n.pitch for n in plan.notes],
                                      np.float64) + cents / 100 - 69) / 12)
  return intervals, pitches


def score_notes(ref_notes, est) -> dict[str, float]:
  """Note F1 (onset only; onset and offset) of ``est`` ((onset, offset,
  MIDI pitch) triples), ``ONSET_TOLERANCE`` onsets, 50-cent pitches."""
  from mir_eval import transcription  # pylint: disable=g-import-not-at-top
  intervals = np.array([[a, b] for a, b, _ in est], np.float64).reshape(-1, 2)
  pitches = 440.0 * 2.0 ** ((np.array([p for _, _, p in est], np.float64)
                             - 69) / 12)
  if not len(est) or not len(ref_notes[0]):
    return {'note_f1': 0.0, 'note_offset_f1': 0.0}
  _, _, onset_f1, _ = transcription.precision_recall_f1_overlap(
      ref_notes[0], ref_notes[1], intervals, pitches,
      onset_tolerance=ONSET_TOLERANCE, offset_ratio=None)
  _, _, offset_f1, _ = transcription.precision_recall_f1_overlap(
      ref_notes[0], ref_notes[1], intervals, pitches,
      onset_tolerance=ONSET_TOLERANCE)
  return {'note_f1': onset_f1, 'note_offset_f1': offset_f1}


def score(ref, est_times, est_freqs) -> dict[str, float]:
  out = multipitch.evaluate_multipitch(ref[0], ref[1], np.asarray(est_times),
                                       est_freqs)
  return {k: out[k] for k in KEYS}


def mean(rows: list[dict]) -> dict[str, float]:
  return {k: float(np.mean([r[k] for r in rows]))
          for k in KEYS + NOTE_KEYS if k in rows[0]}


def run_ours(predictor, records, refs, note_refs) -> tuple[dict, float]:
  transcribe.transcribe_audio(records[0].audio, records[0].sample_rate,
                              predictor)  # warm-up (compilation)
  rows, wall, audio_s = [], 0.0, 0.0
  for record, ref, note_ref in zip(records, refs, note_refs):
    t0 = time.perf_counter()
    result = transcribe.transcribe_audio(record.audio, record.sample_rate,
                                         predictor)
    wall += time.perf_counter() - t0
    audio_s += len(record.audio) / record.sample_rate
    rows.append(score(ref, result.times, result.multipitch))
    rows[-1].update(score_notes(note_ref, [(n.start, n.end, n.pitch)
                                           for n in result.notes]))
  return mean(rows), wall / audio_s


def run_basic_pitch(python: str, wavs: list[str], refs, note_refs,
                    seconds: list[float]) -> tuple[dict, dict, float]:
  done = subprocess.run([python, CHILD, *wavs], capture_output=True,
                        text=True, check=False)
  lines = [json.loads(line) for line in done.stdout.splitlines()
           if line.startswith('{')]
  if done.returncode or len(lines) != len(wavs):
    last = (done.stderr.strip().splitlines() or ['no output'])[-1]
    raise RuntimeError(f'basic_pitch_multipitch.py failed: {last}')
  note_rows, frame_rows, wall = [], [], 0.0
  for out, ref, note_ref, length in zip(lines, refs, note_refs, seconds):
    wall += out['seconds']
    times, freqs = notes_to_grid(out['notes'], length)
    note_rows.append(score(ref, times, freqs))
    note_rows[-1].update(score_notes(note_ref, out['notes']))
    frame_freqs = [440.0 * 2.0 ** ((np.asarray(p, np.float64) - 69) / 12)
                   for p in out['frame_pitches']]
    frame_rows.append(score(ref, out['frame_times'], frame_freqs))
  return mean(note_rows), mean(frame_rows), wall / sum(seconds)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--checkpoint', default=None,
                      help='default: the shipped model')
  parser.add_argument('--sets', default='gm_renders/expressive_test,'
                      'gm_renders/test,gm_renders/chorales')
  parser.add_argument('--tracks', type=int, default=0,
                      help='tracks per set (0: all of the set)')
  parser.add_argument('--basic_pitch', choices=('venv', 'none'),
                      default='venv')
  parser.add_argument('--basic_pitch_venv',
                      default=basic_pitch_env.DEFAULT_VENV)
  parser.add_argument('--realsamples_dir', default=None,
                      help='the sample libraries of realsamples/* sets')
  args = parser.parse_args()

  predictor = inference.load_predictor(args.checkpoint)
  bp_python = None
  if args.basic_pitch == 'venv':
    bp_python = basic_pitch_env.basic_pitch_python(args.basic_pitch_venv)
  print(f'device: {jax.devices()[0].device_kind}, {os.cpu_count()} CPUs; '
        f'model: {predictor.step_dir}; {time.strftime("%Y-%m-%d")}')
  table, ours_f1, anchor_f1 = [], [], []
  ours_note_f1, anchor_note_f1 = [], []
  for set_name in args.sets.split(','):
    reader, split, load = open_set(set_name, args.realsamples_dir)
    ids = reader.track_ids(split)[:args.tracks or None]
    loaded = [load(t) for t in ids]
    records = [record for record, _ in loaded]
    refs = [reference_grid(r) for r in records]
    note_refs = [notes for _, notes in loaded]
    seconds = [len(r.audio) / r.sample_rate for r in records]
    ours, ours_speed = run_ours(predictor, records, refs, note_refs)
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
                                                  note_refs, seconds)
      table.append((set_name, 'Basic-Pitch 0.4.0 notes', notes, bp_speed))
      table.append((set_name, 'Basic-Pitch 0.4.0 frames>0.3', frames,
                    bp_speed))
      # The anchor is Basic-Pitch's best readout on this set.
      anchor_f1.append(max(notes['f1'], frames['f1']))
      ours_note_f1.append(ours['note_f1'])
      anchor_note_f1.append(notes['note_f1'])
    print(f'{set_name}: {len(records)} tracks, {sum(seconds):.0f} s of audio',
          flush=True)
  print(f'\n{"set":26s} {"method":30s} {"P":>6s} {"R":>6s} {"Acc":>6s} '
        f'{"F1":>6s} {"noteF1":>7s} {"+off":>6s} {"s/audio-s":>10s}')
  for set_name, method, row, speed in table:
    notes = ' '.join(f'{100 * row[k]:6.2f}' if k in row else '     -'
                     for k in NOTE_KEYS)
    print(f'{set_name:26s} {method:30s} ' + ' '.join(
        f'{100 * row[k]:6.2f}' for k in KEYS) + f'  {notes} {speed:10.4f}')
  ours = float(np.mean(ours_f1))
  if not anchor_f1:
    print('error: the anchor, Basic-Pitch, was not run (--basic_pitch=none); '
          'no RESULT without it.', file=sys.stderr)
    sys.exit(1)
  anchor = float(np.mean(anchor_f1))
  print(f'RESULT accuracy ours={100 * ours:.2f} anchor={100 * anchor:.2f} '
        f'ratio={ours / anchor:.3f} unit=mean_f1_percent '
        f'anchor_name=basic-pitch-0.4.0-best-readout-per-set')
  notes_ours, notes_anchor = (float(np.mean(ours_note_f1)),
                              float(np.mean(anchor_note_f1)))
  print(f'RESULT note_accuracy ours={100 * notes_ours:.2f} '
        f'anchor={100 * notes_anchor:.2f} '
        f'ratio={notes_ours / max(notes_anchor, 1e-9):.3f} '
        'unit=mean_onset_note_f1_percent anchor_name=basic-pitch-0.4.0-notes')


if __name__ == '__main__':
  main()
