"""Times Basic-Pitch on one audio file; runs inside Basic-Pitch's own venv.

Started by ``bench/inference.py`` with the interpreter of the virtual
environment it made for ``basic-pitch`` (which pins tensorflow 2.15 and numpy
1.26, so it cannot share mpe_jax's environment). Imports nothing of mpe_jax.

  <venv>/bin/python bench/basic_pitch_child.py AUDIO.wav [--repeats=3]

Prints one JSON line: the backend, the seconds of audio, and the best and
median wall time in s of ``run_inference`` (file read, windowing, the model on
every window, unwrapping: what produces the frame-level outputs), of the file
read alone, and the best of ``predict`` (the same plus note creation).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import statistics
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
logging.disable(logging.WARNING)  # its "X is not installed" import notes


def _times(fn, repeats: int) -> list[float]:
  fn()  # warm-up: graph tracing, first-call allocations
  out = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    out.append(time.perf_counter() - t0)
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('audio')
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args()

  import basic_pitch  # pylint: disable=import-outside-toplevel
  import librosa  # pylint: disable=import-outside-toplevel
  from basic_pitch import inference  # pylint: disable=import-outside-toplevel

  model = inference.Model(basic_pitch.ICASSP_2022_MODEL_PATH)
  seconds = librosa.get_duration(path=args.audio)
  run = _times(lambda: inference.run_inference(args.audio, model),
               args.repeats)
  read = _times(lambda: librosa.load(args.audio, sr=22050, mono=True),
                args.repeats)
  full = _times(lambda: inference.predict(args.audio, model), args.repeats)
  print(json.dumps({
      'backend': model.model_type.name,
      'version': importlib.metadata.version('basic-pitch'),
      'seconds': seconds,
      'run_inference_best': min(run),
      'run_inference_median': statistics.median(run),
      'read_best': min(read),
      'predict_best': min(full),
  }))


if __name__ == '__main__':
  main()
