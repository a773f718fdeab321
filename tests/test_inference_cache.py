"""The command's start-up caches: compiled programs, exported programs and
the built front end (``mpe_jax.compile_cache``, ``mpe_jax.exported``).

A second run reuses what the first compiled (counted, not timed), the
outputs are the same bytes with and without the caches, and two processes
filling one empty cache at once both succeed.
"""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf

from mpe_jax import compile_cache
from mpe_jax import exported

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = 22050


def _chord(path, seconds=3.0):
  t = np.arange(int(seconds * RATE)) / RATE
  audio = sum(0.2 * np.sin(2 * np.pi * f * t) * np.exp(-t)
              for f in (261.63, 329.63, 392.0))
  sf.write(path, audio.astype(np.float32), RATE)


def _transcribe(wav, out, cache, *extra):
  env = dict(os.environ, MPE_JAX_COMPILE_CACHE=cache,
             JAX_PLATFORMS='cpu', TF_CPP_MIN_LOG_LEVEL='3')
  env.pop('XLA_FLAGS', None)
  env.pop('JAX_COMPILATION_CACHE_DIR', None)  # the test suite's own cache
  command = [sys.executable, '-m', 'mpe_jax.transcribe', '--noprogress',
             '--timings', '--formats=txt,csv,mid,npz', f'--output_dir={out}',
             *extra, wav]
  return subprocess.Popen(command, cwd=ROOT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process):
  out, err = process.communicate()
  assert process.returncode == 0, err[-2000:]
  line = [l for l in err.splitlines() if l.startswith('timings ')][-1]
  return json.loads(line[len('timings '):])


def _same_outputs(a, b):
  for suffix in ('.multipitch.txt', '.csv', '.mid'):
    with open(os.path.join(a, 'chord' + suffix), 'rb') as fa, open(
        os.path.join(b, 'chord' + suffix), 'rb') as fb:
      assert fa.read() == fb.read(), suffix
  with np.load(os.path.join(a, 'chord.npz')) as x, np.load(
      os.path.join(b, 'chord.npz')) as y:
    np.testing.assert_array_equal(x['salience'], y['salience'])


def test_second_run_compiles_nothing_and_outputs_do_not_change(tmp_path):
  wav = str(tmp_path / 'chord.wav')
  _chord(wav)
  cache = str(tmp_path / 'cache')
  # Two processes fill one empty cache at the same time.
  first = [_transcribe(wav, str(tmp_path / f'out{k}'), cache)
           for k in range(2)]
  cold = [_finish(p) for p in first]
  assert all(t['programs_compiled'] > 0 for t in cold)
  assert os.listdir(os.path.join(cache, 'exports'))
  assert os.listdir(os.path.join(cache, 'frontends'))
  warm = _finish(_transcribe(wav, str(tmp_path / 'out2'), cache))
  assert warm['programs_compiled'] == 0, warm
  assert warm['programs_cached'] > 0
  # Without any cache: the same bytes.
  none = _finish(_transcribe(wav, str(tmp_path / 'out3'), cache,
                             '--nocompile_cache'))
  assert none['programs_cached'] == 0
  for k in (1, 2, 3):
    _same_outputs(str(tmp_path / 'out0'), str(tmp_path / f'out{k}'))


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
  monkeypatch.delenv(compile_cache.ENV, raising=False)
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
  assert compile_cache.resolve_dir() == str(tmp_path / 'xdg' / 'mpe_jax' /
                                            'xla')
  monkeypatch.delenv('XDG_CACHE_HOME')
  assert compile_cache.resolve_dir().endswith(
      os.path.join('.cache', 'mpe_jax', 'xla'))
  monkeypatch.setenv(compile_cache.ENV, str(tmp_path / 'mine'))
  assert compile_cache.resolve_dir() == str(tmp_path / 'mine')
  for off in ('0', 'off', 'False', 'no'):
    monkeypatch.setenv(compile_cache.ENV, off)
    assert compile_cache.resolve_dir() is None
  monkeypatch.setenv(compile_cache.ENV, str(tmp_path / 'mine'))
  assert compile_cache.resolve_dir(enabled=False) is None


def test_exported_programs_are_reused_and_rewritten_when_corrupt(tmp_path):
  def f(w, x):
    return jnp.tanh(x @ w['a']) + w['b']

  w = {'a': np.ones((3, 4), np.float32), 'b': np.arange(4, dtype=np.float32)}
  x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
  want = np.asarray(jax.jit(f)(w, x))
  store = exported.Programs(str(tmp_path), 'identity')
  np.testing.assert_allclose(store.wrap('f', jax.jit(f))(w, x), want,
                             atol=1e-6)
  assert (store.exported, store.loaded) == (1, 0)
  again = exported.Programs(str(tmp_path), 'identity')
  np.testing.assert_allclose(again.wrap('f', jax.jit(f))(w, x), want,
                             atol=1e-6)
  assert (again.exported, again.loaded) == (0, 1)
  # Another identity (another model config) is another program.
  other = exported.Programs(str(tmp_path), 'other')
  other.wrap('f', jax.jit(f))(w, x)
  assert other.exported == 1
  # A damaged file is re-exported, not fatal.
  for name in os.listdir(tmp_path / 'exports'):
    (tmp_path / 'exports' / name).write_bytes(b'not an export')
  fixed = exported.Programs(str(tmp_path), 'identity')
  np.testing.assert_allclose(fixed.wrap('f', jax.jit(f))(w, x), want,
                             atol=1e-6)
  assert fixed.exported == 1
  assert exported.Programs(None, 'x').wrap('f', f) is f


def test_cached_frontend_round_trip(tmp_path):
  import ml_collections  # pylint: disable=g-import-not-at-top

  class System:
    calls = 0

    def make_frontend(self, config):
      System.calls += 1
      return {'kernel': jnp.full((3, 2), config.scale, jnp.float32),
              'order': jnp.arange(4)}

  config = ml_collections.ConfigDict({'system': 'fake', 'scale': 2.0})
  first = compile_cache.cached_frontend(System(), config, str(tmp_path))
  second = compile_cache.cached_frontend(System(), config, str(tmp_path))
  assert System.calls == 1
  for key in first:
    np.testing.assert_array_equal(first[key], second[key])
  config.scale = 3.0  # another config: built again
  third = compile_cache.cached_frontend(System(), config, str(tmp_path))
  assert System.calls == 2 and float(third['kernel'][0, 0]) == 3.0
  assert compile_cache.cached_frontend(System(), config, None)
  assert System.calls == 3
