r"""The transcription command against Basic-Pitch's command, same machine,
same files, same run.

  python bench/cli.py [--rounds=3] [--files=10] [--seconds=30]
      [--basic_pitch_venv=~/.cache/mpe_jax/basic-pitch-0.4.0]

Inputs (made once, kept in ``--data_dir``): ``--files`` recordings of
``--seconds`` s each, the first tracks of 'gm_renders/expressive_test'
rendered at that length (held-out soundfont, programs, STK models and kit,
expressive pitch, recording chains; needs FluidSynth and STK), and one 5-s
file for first-result latency. Commands, alternated, best of ``--rounds``:

* ours: ``python -m mpe_jax.transcribe --formats=mid --output_dir=OUT
  FILES`` with the cache a user has after the README's commands: a fresh
  cache folder that one transcription of a 12-s recording filled (the
  README's line; training writes elsewhere). The first call on each new
  input kind (the 5-s file, the 30-s folder) is timed once and reported as
  such, and so is a length never seen before of a kind already compiled (a
  7.5-s file: the 12-s recording's kind, up to one 20-s chunk); then the
  rounds, warm; and a run with ``--nocompile_cache`` for the cold start of
  a fresh machine;
* anchor: ``basic-pitch OUT FILES`` (Basic-Pitch 0.4.0's CLI, MIDI out, in
  its own virtual environment made on first use).

Each line: wall seconds and the child's peak resident memory. Ours is also
broken down by phase (``--timings``: imports, model load, tracing and
compilation, audio decoding and resampling, device compute, host decoding
and file writing). Ends with

  RESULT cli_throughput ours=<s> anchor=<s> ratio=<anchor / ours> ...
  RESULT cli_latency ours=<s> anchor=<s> ratio=<anchor / ours> ...

(ratio > 1: ours is faster). Fails when Basic-Pitch cannot run: there is no
fallback anchor.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)  # the bench's own modules

import basic_pitch_env  # pylint: disable=g-import-not-at-top (bench/)


def make_inputs(data_dir: str, files: int, seconds: float) -> tuple[list, str]:
  """(the folder's wav paths, the 5-s wav path), rendered on first use;
  also ``readme_12s.wav`` and ``new_7.5s.wav`` beside them (cut from the
  first recording)."""
  import soundfile  # pylint: disable=g-import-not-at-top
  from data_pipelines.generated import gm_renders  # pylint: disable=g-import-not-at-top
  folder = os.path.join(data_dir, f'{files}x{seconds:g}s')
  single = os.path.join(data_dir, 'single_5s.wav')
  paths = [os.path.join(folder, f'recording_{i:02d}.wav')
           for i in range(files)]
  if all(os.path.isfile(p) for p in paths + [single]):
    _cut_extra(data_dir, paths[0])
    return paths, single
  os.makedirs(folder, exist_ok=True)
  print(f'rendering {files} x {seconds:g} s into {folder} (first use)',
        flush=True)
  reader = gm_renders.GMRenders(
      n_tracks={'expressive_test': files + 1},
      seconds={'expressive_test': seconds})
  for i, path in enumerate(paths):
    record = reader.load(f'expressive_test/{i:05d}')
    soundfile.write(path, record.audio, record.sample_rate, subtype='PCM_16')
  record = reader.load(f'expressive_test/{files:05d}')
  soundfile.write(single, record.audio[:5 * record.sample_rate],
                  record.sample_rate, subtype='PCM_16')
  _cut_extra(data_dir, paths[0])
  return paths, single


def _cut_extra(data_dir: str, source: str) -> None:
  """The README's recording (12 s) and a length never seen (7.5 s)."""
  import soundfile  # pylint: disable=g-import-not-at-top
  audio, rate = soundfile.read(source, dtype='float32')
  for name, seconds in (('readme_12s.wav', 12.0), ('new_7.5s.wav', 7.5)):
    path = os.path.join(data_dir, name)
    if not os.path.isfile(path):
      soundfile.write(path, audio[:int(seconds * rate)], rate,
                      subtype='PCM_16')


def timed_with_memory(command: list[str], env: dict | None = None) -> dict:
  """``timed`` plus the child's peak resident memory (MiB), from wait4."""
  t0 = time.perf_counter()
  process = subprocess.Popen(command, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env,
                             cwd=ROOT)
  out = process.stdout.read()
  err = process.stderr.read()
  _, status, usage = os.wait4(process.pid, 0)
  wall = time.perf_counter() - t0
  code = os.waitstatus_to_exitcode(status)
  if code:
    last = (err.strip().splitlines() or ['no output'])[-1]
    raise RuntimeError(f'{" ".join(command[:3])} ... failed (exit {code}): '
                       f'{last}')
  return {'wall': wall, 'rss_mib': usage.ru_maxrss / 1024, 'stdout': out,
          'stderr': err}


def phases(stderr: str) -> dict:
  """The ``--timings`` JSON line of our command's stderr."""
  for line in stderr.splitlines():
    if line.startswith('timings '):
      return json.loads(line[len('timings '):])
  return {}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--files', type=int, default=10)
  parser.add_argument('--seconds', type=float, default=30.0)
  parser.add_argument('--data_dir', default=os.path.expanduser(
      '~/.cache/mpe_jax/bench_cli'))
  parser.add_argument('--basic_pitch_venv',
                      default=basic_pitch_env.DEFAULT_VENV)
  parser.add_argument('--checkpoint', default=None,
                      help='default: the shipped model')
  args = parser.parse_args()

  paths, single = make_inputs(args.data_dir, args.files, args.seconds)
  bp_python = basic_pitch_env.basic_pitch_python(args.basic_pitch_venv)
  bp_cli = os.path.join(os.path.dirname(bp_python), 'basic-pitch')
  cache = tempfile.mkdtemp(prefix='mpe_cli_cache_')
  env = dict(os.environ, MPE_JAX_COMPILE_CACHE=cache,
             TF_CPP_MIN_LOG_LEVEL='3')
  ours = [sys.executable, '-m', 'mpe_jax.transcribe', '--formats=mid',
          '--noprogress', '--timings']
  if args.checkpoint:
    ours.append(f'--checkpoint={args.checkpoint}')

  def run_ours(files, *, cold=False):
    out = tempfile.mkdtemp(prefix='mpe_cli_out_')
    try:
      flags = ['--nocompile_cache'] if cold else []
      return timed_with_memory(ours + flags + [f'--output_dir={out}', *files],
                               env)
    finally:
      shutil.rmtree(out, ignore_errors=True)

  def run_bp(files):
    out = tempfile.mkdtemp(prefix='mpe_cli_bp_')
    try:
      return timed_with_memory([bp_cli, out, *files], env)
    finally:
      shutil.rmtree(out, ignore_errors=True)

  import jax  # pylint: disable=g-import-not-at-top
  audio_s = len(paths) * args.seconds
  print(f'{time.strftime("%Y-%m-%d")}; {os.cpu_count()} CPUs '
        f'({jax.devices()[0].device_kind}); {len(paths)} files, '
        f'{audio_s:.0f} s of audio, + one 5-s file', flush=True)
  run_ours([os.path.join(args.data_dir, 'readme_12s.wav')])  # the README
  first = {'ours_single_first': run_ours([single]),
           'ours_folder_first': run_ours(paths),
           'ours_new_length': run_ours([os.path.join(args.data_dir,
                                                     'new_7.5s.wav')])}
  for key, row in first.items():
    split = phases(row['stderr'])
    print(f'{key}: {row["wall"]:.2f} s, programs compiled '
          f'{split.get("programs_compiled")}, loaded '
          f'{split.get("programs_cached")}', flush=True)
  results = {k: [] for k in ('ours_folder', 'bp_folder', 'ours_single',
                             'bp_single', 'ours_single_cold')}
  for r in range(args.rounds):
    results['ours_folder'].append(run_ours(paths))
    results['bp_folder'].append(run_bp(paths))
    results['ours_single'].append(run_ours([single]))
    results['bp_single'].append(run_bp([single]))
    results['ours_single_cold'].append(run_ours([single], cold=True))
    print(f'round {r + 1}: ' + ', '.join(
        f'{k} {v[-1]["wall"]:.2f} s' for k, v in results.items()),
          flush=True)
  best = {k: min(v, key=lambda x: x['wall']) for k, v in results.items()}
  print(f'\n{"command":34s} {"best s":>8s} {"s/audio-s":>10s} '
        f'{"peak MiB":>9s}')
  best.update(first)
  for key, label, seconds in (
      ('ours_folder_first', f'mpe_jax, {len(paths)} files, first call',
       audio_s),
      ('ours_single_first', 'mpe_jax, 5-s file, first call', 5.0),
      ('ours_new_length', 'mpe_jax, 7.5-s file, new length', 7.5),
      ('ours_folder', f'mpe_jax transcribe, {len(paths)} files', audio_s),
      ('bp_folder', f'basic-pitch, {len(paths)} files', audio_s),
      ('ours_single', 'mpe_jax transcribe, 5-s file', 5.0),
      ('ours_single_cold', 'mpe_jax, 5-s file, no cache', 5.0),
      ('bp_single', 'basic-pitch, 5-s file', 5.0)):
    row = best[key]
    print(f'{label:34s} {row["wall"]:8.2f} {row["wall"] / seconds:10.4f} '
          f'{row["rss_mib"]:9.0f}')
  for key in ('ours_folder', 'ours_single', 'ours_single_cold'):
    split = phases(best[key]['stderr'])
    if split:
      print(f'{key} phases (s): ' + ', '.join(
          f'{k} {v:.2f}' for k, v in split.items()))
  f_ours, f_bp = best['ours_folder']['wall'], best['bp_folder']['wall']
  s_ours, s_bp = best['ours_single']['wall'], best['bp_single']['wall']
  print(f'RESULT cli_throughput ours={f_ours:.2f} anchor={f_bp:.2f} '
        f'ratio={f_bp / f_ours:.3f} unit=s_for_{len(paths)}x{args.seconds:g}s'
        ' anchor_name=basic-pitch-0.4.0-cli')
  print(f'RESULT cli_latency ours={s_ours:.2f} anchor={s_bp:.2f} '
        f'ratio={s_bp / s_ours:.3f} unit=s_for_one_5s_file '
        'anchor_name=basic-pitch-0.4.0-cli')
  shutil.rmtree(cache, ignore_errors=True)


if __name__ == '__main__':
  main()
