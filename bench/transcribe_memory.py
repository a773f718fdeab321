"""Peak memory of ``mpe_jax.transcribe`` on long files: it should not grow
with the file's length.

    python bench/transcribe_memory.py --checkpoint=runs/quick [--minutes=30]
    python bench/transcribe_memory.py --minutes=60 --steps=decode

Writes 44.1-kHz stereo 16-bit WAV files of synthetic music (a 1-minute
anchor and a ``--minutes`` file, default 30), then runs each step in a fresh
process and reports its peak resident memory (``ru_maxrss``):

* ``decode``: ``data_pipelines.audio_stream.decode_audio`` alone;
* ``transcribe``: the full command with every output format.

Each pair is printed as ``anchor`` (1 minute), ``ours`` (the long file) and
``ratio`` = ours / anchor; for reference it also prints the memory that
loading the long file whole would take (float32 samples at the file's rate,
the 22,050-Hz mono signal and the float32 salience-gram).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = 44100


def write_music(path: str, minutes: float) -> None:
  """Repeats a 30-s synthetic mixture (stereo, 44.1 kHz, 16 bit)."""
  sys.path.insert(0, ROOT)
  from data_pipelines.generated import synthetic  # pylint: disable=g-import-not-at-top
  import librosa  # pylint: disable=g-import-not-at-top

  track = synthetic.SyntheticSource(0, 'test').mixture(0, seconds=30.0,
                                                       max_voices=4)
  x = librosa.resample(np.asarray(track.audio, np.float32), orig_sr=22050,
                       target_sr=RATE, res_type='soxr_hq')
  stereo = 0.8 * np.stack([x, 0.5 * x], axis=1)
  total = int(minutes * 60 * RATE)
  with sf.SoundFile(path, 'w', RATE, 2, subtype='PCM_16') as f:
    for start in range(0, total, len(stereo)):
      f.write(stereo[:min(len(stereo), total - start)])


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
  """(peak RSS in MiB, seconds) of a command run in a fresh process."""
  probe = ('import resource, subprocess, sys, time; t = time.perf_counter(); '
           'r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); '
           'dt = time.perf_counter() - t; '
           'print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, dt,'
           ' r.returncode)')
  out = subprocess.run([sys.executable, '-c', probe, *cmd], cwd=ROOT,
                       capture_output=True, text=True, check=True)
  kib, seconds, code = out.stdout.split()
  if int(code) != 0:
    raise RuntimeError(f'{cmd} failed ({code}): {out.stderr[-2000:]}')
  return int(kib) / 1024, float(seconds)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--checkpoint', default=None,
                      help='a training workdir (needed for --steps=transcribe)')
  parser.add_argument('--minutes', type=float, default=30.0)
  parser.add_argument('--anchor_minutes', type=float, default=1.0)
  parser.add_argument('--steps', default='decode,transcribe',
                      help='comma-separated subset of decode,transcribe')
  args = parser.parse_args()
  steps = args.steps.split(',')
  if set(steps) - {'decode', 'transcribe'}:
    parser.error(f'unknown --steps {args.steps}; choose from decode,transcribe')
  if 'transcribe' in steps and not args.checkpoint:
    parser.error('--steps=transcribe needs --checkpoint')

  with tempfile.TemporaryDirectory(prefix='mpe_jax_bench_') as tmp:
    files = {}
    for name, minutes in (('anchor', args.anchor_minutes),
                          ('ours', args.minutes)):
      files[name] = os.path.join(tmp, f'{name}.wav')
      write_music(files[name], minutes)
    decode = ('import sys; from data_pipelines import audio_stream; '
              'd = audio_stream.decode_audio(sys.argv[1]); d.normalize(); '
              'print(len(d.samples))')
    print(f'# {time.strftime("%Y-%m-%d")}, {os.cpu_count()} CPU cores; '
          f'anchor = {args.anchor_minutes:g} min, ours = {args.minutes:g} '
          'min of 44.1-kHz stereo 16-bit WAV')
    for step in steps:
      rss = {}
      for name, path in files.items():
        if step == 'decode':
          cmd = [sys.executable, '-c', decode, path]
        else:
          cmd = [sys.executable, '-m', 'mpe_jax.transcribe',
                 f'--checkpoint={args.checkpoint}',
                 f'--output_dir={os.path.join(tmp, "out")}', path]
        rss[name], seconds = peak_rss_mb(cmd)
        print(f'{step:<11} {name:<7} peak RSS {rss[name]:8.0f} MiB '
              f'({seconds:.0f} s)')
      print(f'{step:<11} ratio   {rss["ours"] / rss["anchor"]:8.2f}')
    n = args.minutes * 60
    whole = (n * RATE * 2 * 4 + n * 22050 * 4 + n * 22050 / 256 * 440 * 4)
    print(f'loading the {args.minutes:g}-min file whole would hold '
          f'{whole / 2**20:.0f} MiB of arrays (file samples, mono signal, '
          'salience) before any model activation')


if __name__ == '__main__':
  main()
