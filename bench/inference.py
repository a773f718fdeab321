"""Inference speed on one track against Basic-Pitch and the PyTorch reference.

Ours: the jitted HCQT -> SS-MPE autoencoder -> sigmoid on a ``--seconds``
track in one call at its own length (whole-file salience), warm, best and
median of N; the host-side peak picking is timed separately.

Basic-Pitch runs in the same process tree on the same audio (a WAV file at
its own 22,050 Hz, so it does not resample): ``basic-pitch==0.4.0`` pins
tensorflow 2.15 and numpy 1.26, which would downgrade what jax needs, so this
script makes it its own virtual environment (``--basic_pitch_venv``, default
``~/.cache/mpe_jax/basic-pitch-0.4.0``; about 1.5 GB, installed from PyPI on
first use) and times its ``run_inference`` there with
``bench/basic_pitch_child.py``: file read, windowing and its shipped model
(TensorFlow SavedModel backend). That is compared with our file read +
predict. Where Basic-Pitch cannot run, the bench says why and fails (exit
status 1): there is no fallback figure.

  python bench/inference.py [--seconds=30] [--repeats=5]
  python bench/inference.py --model=gm_joint_v1       # a shipped model
  python bench/inference.py --config=configs/pretrained_v2.py:fast

The model timed is the SS-MPE configuration by default (random weights: the
time does not depend on their values), ``--config=FILE[:VARIANT]`` any
configuration's model (a candidate before it is trained), or
``--model=NAME`` a shipped model with its weights.

Ends with ``RESULT inference_basic_pitch ours=<audio s/s> anchor=<audio s/s>
ratio=<ours/anchor> unit=audio_s_per_s`` (ratio > 1 means mpe_jax is
faster).
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
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import soundfile  # pylint: disable=g-import-not-at-top
import timing  # pylint: disable=g-import-not-at-top (bench/timing.py)
from basic_pitch_env import basic_pitch_python  # pylint: disable=g-import-not-at-top
from basic_pitch_env import DEFAULT_VENV  # pylint: disable=g-import-not-at-top
from flax import nnx  # pylint: disable=g-import-not-at-top

from configs import ssmpe  # pylint: disable=g-import-not-at-top
from mpe_jax import cli, inference, pretrained, systems, train  # pylint: disable=g-import-not-at-top
from mpe_jax.models import count_params  # pylint: disable=g-import-not-at-top
from mpe_jax.evaluation import multipitch  # pylint: disable=g-import-not-at-top
from mpe_jax.features import hcqt as hcqt_lib  # pylint: disable=g-import-not-at-top

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     'basic_pitch_child.py')


def run_basic_pitch(wav: str, venv: str, repeats: int) -> dict:
  """Basic-Pitch's timings on ``wav`` (``bench/basic_pitch_child.py``)."""
  python = basic_pitch_python(venv)
  done = subprocess.run([python, CHILD, wav, f'--repeats={repeats}'],
                        capture_output=True, text=True, check=False)
  lines = done.stdout.strip().splitlines()
  if done.returncode or not lines:
    last = (done.stderr.strip().splitlines() or ['no output'])[-1]
    raise RuntimeError(f'basic_pitch_child.py failed: {last}')
  return json.loads(lines[-1])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--seconds', type=float, default=30.0)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--basic_pitch_venv', default=DEFAULT_VENV)
  parser.add_argument('--basic_pitch_repeats', type=int, default=3)
  parser.add_argument('--model', default=None,
                      help='a shipped model (name or folder) to time')
  parser.add_argument('--config', default=None,
                      help='FILE[:VARIANT]: time this configuration\'s '
                      'model (random weights)')
  args = parser.parse_args()

  if args.model:
    config, params = pretrained.load(args.model)
    graphdef = inference.model_skeleton(config.model).graphdef
    label = f'shipped model {args.model}'
  else:
    config = (cli.load_config_file(args.config) if args.config
              else ssmpe.get_config())
    tx, _ = train.build_optimizer(config)
    graphdef, state = train.init_train_state(config, tx)
    params = state.params
    label = (f'model of {args.config}' if args.config
             else 'SS-MPE model')
  label += (f' ({config.model.get("compute_dtype", "float32")}, '
            f'{count_params(params):,} parameters)')
  system = systems.get_system(config)
  frontend = system.make_frontend(config)
  # One call at the track's own length (evaluation with length buckets off;
  # bench/eval_tracks.py times the buckets).
  predict = inference.BucketedSalience(config, system=system,
                                       frontend=frontend).whole
  n = int(args.seconds * config.hcqt.sample_rate)
  audio = jnp.asarray(0.1 * np.random.default_rng(0).standard_normal(
      (1, n)).astype(np.float32))

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

  with tempfile.TemporaryDirectory() as tmp:
    wav = os.path.join(tmp, 'track.wav')
    soundfile.write(wav, np.asarray(audio[0]), config.hcqt.sample_rate,
                    subtype='FLOAT')

    def read_and_predict():
      samples, _ = soundfile.read(wav, dtype='float32')
      return predict(params, jnp.asarray(samples)[None])

    r_best, _ = measure(read_and_predict)
    try:
      bp = run_basic_pitch(wav, args.basic_pitch_venv,
                           args.basic_pitch_repeats)
    except (RuntimeError, OSError, ValueError) as e:
      print(f'error: the anchor, Basic-Pitch, did not run ({e}); no RESULT '
            'without it.', file=sys.stderr)
      sys.exit(1)

  ours = args.seconds / best
  print(f'device: {jax.devices()[0].device_kind}, {os.cpu_count()} CPUs; '
        f'{args.seconds:g}-s track, {label}')
  print(f'ours: best {best:.3f} s, median {med:.3f} s '
        f'({best / args.seconds:.4f} s per s of audio, {ours:.1f} s of audio '
        f'per s); HCQT {f_best:.3f} s, model {m_best:.3f} s, peak picking '
        f'(host) {p_best:.3f} s; first call (compile) {compile_s:.1f} s; '
        f'with the WAV file read: {r_best:.3f} s')
  bp_anchor = bp['seconds'] / bp['run_inference_best']
  ours_bp = args.seconds / r_best  # both sides read the same file
  print(f'Basic-Pitch {bp["version"]} ({bp["backend"]}, same run): '
        f'run_inference best {bp["run_inference_best"]:.3f} s, median '
        f'{bp["run_inference_median"]:.3f} s (file read '
        f'{bp["read_best"]:.3f} s; predict with notes '
        f'{bp["predict_best"]:.3f} s); {bp_anchor:.1f} s of audio per s')
  print(f'RESULT inference_basic_pitch ours={ours_bp:.2f} '
        f'anchor={bp_anchor:.2f} ratio={ours_bp / bp_anchor:.2f} '
        'unit=audio_s_per_s')


if __name__ == '__main__':
  main()
