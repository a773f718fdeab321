"""Basic-Pitch's multi-pitch estimates of audio files; runs in its own venv.

Started by ``bench/accuracy.py`` with the interpreter of Basic-Pitch's
virtual environment (``bench/inference.py`` makes it). Imports nothing of
mpe_jax.

  <venv>/bin/python bench/basic_pitch_multipitch.py A.wav B.wav ...

Prints one JSON line per file: ``notes`` (onset s, offset s, MIDI pitch) of
``predict`` with its default thresholds (what its MIDI output holds),
``frame_times`` and ``frame_pitches`` (MIDI pitches whose frame posterior
exceeds the default frame threshold 0.3, per model frame), and
``seconds`` (wall time of ``predict``, after one warm-up call).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
logging.disable(logging.WARNING)

FRAME_THRESHOLD = 0.3  # Basic-Pitch's default frame_threshold


def main() -> None:
  import basic_pitch  # pylint: disable=import-outside-toplevel
  from basic_pitch import inference  # pylint: disable=import-outside-toplevel
  from basic_pitch import note_creation  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  model = inference.Model(basic_pitch.ICASSP_2022_MODEL_PATH)
  files = sys.argv[1:]
  if files:
    inference.predict(files[0], model)  # warm-up
  for path in files:
    t0 = time.perf_counter()
    output, _, events = inference.predict(path, model)
    seconds = time.perf_counter() - t0
    frames = np.asarray(output['note'])
    times = note_creation.model_frames_to_time(frames.shape[0])
    active = [(np.flatnonzero(row > FRAME_THRESHOLD) + 21).tolist()
              for row in frames]
    print(json.dumps({
        'path': path, 'seconds': seconds,
        'notes': [[float(s), float(e), int(p)] for s, e, p, *_ in events],
        'frame_times': [float(t) for t in times],
        'frame_pitches': active}), flush=True)


if __name__ == '__main__':
  main()
