"""The transcriber's cache: compiled programs and the built front end
(``mpe_jax.compile_cache``).

A second run reuses what the first compiled (counted, not timed), the
outputs are the same bytes with and without the cache, two processes
filling one empty cache at once both succeed, and entries the cache did
not write (another JAX's, JAX's own cache files, truncated ones) never stop
it from caching.
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

from mpe_jax import bucketing
from mpe_jax import compile_cache

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
  folder = os.path.join(cache, compile_cache.version_folder())
  assert os.listdir(os.path.join(folder, 'programs'))
  assert os.listdir(os.path.join(folder, 'frontends'))
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
  version = compile_cache.version_folder()
  assert version == f'jax-{jax.__version__}-jaxlib-{jax.lib.__version__}'
  monkeypatch.delenv(compile_cache.ENV, raising=False)
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
  assert compile_cache.resolve_dir() == str(
      tmp_path / 'xdg' / 'mpe_jax' / 'transcribe' / version)
  # Training keeps JAX's cache apart from the transcriber's.
  assert compile_cache.training_dir() == str(
      tmp_path / 'xdg' / 'mpe_jax' / 'train' / version)
  monkeypatch.delenv('XDG_CACHE_HOME')
  assert compile_cache.resolve_dir().endswith(
      os.path.join('.cache', 'mpe_jax', 'transcribe', version))
  monkeypatch.setenv(compile_cache.ENV, str(tmp_path / 'mine'))
  assert compile_cache.resolve_dir() == str(tmp_path / 'mine' / version)
  for off in ('0', 'off', 'False', 'no'):
    monkeypatch.setenv(compile_cache.ENV, off)
    assert compile_cache.resolve_dir() is None
  monkeypatch.setenv(compile_cache.ENV, str(tmp_path / 'mine'))
  assert compile_cache.resolve_dir(enabled=False) is None


def test_programs_are_reused_and_compiled_again_when_damaged(tmp_path):
  def f(w, x):
    return jnp.tanh(x @ w['a']) + w['b']

  w = {'a': np.ones((3, 4), np.float32), 'b': np.arange(4, dtype=np.float32)}
  x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
  want = np.asarray(jax.jit(f)(w, x))
  store = compile_cache.Programs(str(tmp_path), 'identity')
  np.testing.assert_allclose(store.wrap('f', jax.jit(f))(w, x), want,
                             atol=1e-6)
  assert (store.compiled, store.loaded) == (1, 0)
  again = compile_cache.Programs(str(tmp_path), 'identity')
  np.testing.assert_allclose(again.wrap('f', jax.jit(f))(w, x), want,
                             atol=1e-6)
  assert (again.compiled, again.loaded) == (0, 1)
  # Another shape is another program; another identity (another model
  # config) too.
  again.wrap('f', jax.jit(f))(w, x[:1])
  assert again.compiled == 1
  other = compile_cache.Programs(str(tmp_path), 'other')
  other.wrap('f', jax.jit(f))(w, x)
  assert other.compiled == 1
  # Damaged files (truncated, overwritten) are compiled again, not fatal,
  # and written again: the next process loads them.
  programs = tmp_path / 'programs'
  for k, name in enumerate(sorted(os.listdir(programs))):
    data = (programs / name).read_bytes()
    (programs / name).write_bytes(data[:len(data) // 2] if k % 2 else
                                  b'not a program')
  fixed = compile_cache.Programs(str(tmp_path), 'identity')
  np.testing.assert_allclose(fixed.wrap('f', jax.jit(f))(w, x), want,
                             atol=1e-6)
  assert (fixed.compiled, fixed.skipped) == (1, 1)
  reloaded = compile_cache.Programs(str(tmp_path), 'identity')
  reloaded.wrap('f', jax.jit(f))(w, x)
  assert (reloaded.compiled, reloaded.loaded) == (0, 1)
  assert compile_cache.Programs(None, 'x').wrap('f', f) is f


def test_the_folder_is_bounded_least_recently_used_first(tmp_path):
  programs = tmp_path / 'programs'
  programs.mkdir()
  for k in range(5):
    path = programs / f'{k}{compile_cache.PROGRAM_SUFFIX}'
    path.write_bytes(b'x' * 100)
    os.utime(path, (1000 + k, 1000 + k))
  (programs / 'foreign-cache').write_bytes(b'y' * 1000)  # not an entry
  os.utime(programs / f'0{compile_cache.PROGRAM_SUFFIX}', (2000, 2000))
  compile_cache.evict(str(programs), 300)
  assert sorted(os.listdir(programs)) == sorted(
      ['0.xla', '3.xla', '4.xla', 'foreign-cache'])


def _fill_with_foreign_entries(folder):
  """What other programs and versions leave in cache folders: JAX's own
  cache entries without their '-atime' files, a truncated entry, another
  JAX version's folder."""
  programs = os.path.join(folder, compile_cache.version_folder(), 'programs')
  os.makedirs(programs, exist_ok=True)
  for name in ('jit_train_step-0123456789abcdef-cache',
               'jit__multi_slice-fedcba9876543210-cache'):
    with open(os.path.join(programs, name), 'wb') as f:
      f.write(os.urandom(4096))
  with open(os.path.join(programs, '0' * 40 + '.xla'), 'wb') as f:
    f.write(b'MPEJAXPROGRAM' + os.urandom(100))  # truncated
  old = os.path.join(folder, 'jax-0.4.30-jaxlib-0.4.30', 'programs')
  os.makedirs(old)
  with open(os.path.join(old, '1' * 40 + '.xla'), 'wb') as f:
    f.write(os.urandom(1000))


def test_foreign_and_damaged_entries_never_stop_the_cache(tmp_path):
  wav = str(tmp_path / 'chord.wav')
  _chord(wav)
  cache = str(tmp_path / 'cache')
  _fill_with_foreign_entries(cache)
  cold = _finish(_transcribe(wav, str(tmp_path / 'out0'), cache))
  assert cold['programs_compiled'] > 0
  warm = _finish(_transcribe(wav, str(tmp_path / 'out1'), cache))
  assert warm['programs_compiled'] == 0, warm
  assert warm['programs_cached'] > 0
  _same_outputs(str(tmp_path / 'out0'), str(tmp_path / 'out1'))
  # The foreign files are left where they were.
  assert os.path.exists(os.path.join(
      cache, 'jax-0.4.30-jaxlib-0.4.30', 'programs', '1' * 40 + '.xla'))


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


def test_new_lengths_reuse_the_compiled_programs(tiny_trained_run, tmp_path):
  """Inputs are padded to a fixed set of shapes: once one length of each
  kind (up to a quarter chunk, a chunk, two chunks; longer) has run, any other length compiles nothing, and gives the whole-file result
  within the frames that exist."""
  from mpe_jax import inference  # pylint: disable=g-import-not-at-top
  predictor = inference.load_predictor(str(tiny_trained_run),
                                       chunk_seconds=2.0, batch_size=2,
                                       cache_dir=str(tmp_path))
  rng = np.random.default_rng(0)

  def audio(seconds):
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * rng.standard_normal(
        len(t)) * 0.1)).astype(np.float32)

  r = predictor.receptive_field
  assert predictor.sizes[0] * predictor.hop_length / RATE > 0.45 > (
      2 * r * predictor.hop_length / RATE)  # the short kind: 2R .. 0.5 s
  for seconds in (0.4, 1.3, 3.0, 5.0):  # warm: one of each kind
    predictor.salience(audio(seconds))
  warm = predictor.programs.compiled
  assert warm > 0
  # Whole-file salience at each file's own length (no store, no padding).
  reference = bucketing.BucketedSalience(predictor.config,
                                         system=predictor.system,
                                         frontend=predictor.frontend)
  for seconds in (0.45, 0.77, 1.9, 3.3, 7.3):  # never seen
    x = audio(seconds)
    sal = predictor.salience(x)
    assert predictor.programs.compiled == warm, seconds
    frames = predictor.num_frames(len(x))
    assert frames >= 2 * r
    whole = reference.whole(predictor.params, x[None])[0]
    np.testing.assert_allclose(sal, whole, atol=2e-5)
  # Shorter than 2R frames: no exact split exists, so computed at its own
  # length (one program per such length; 0.19 s for the shipped model).
  x = audio((2 * r - 3) * predictor.hop_length / RATE)
  np.testing.assert_allclose(predictor.salience(x), reference.whole(
      predictor.params, x[None])[0], atol=2e-5)
  assert predictor.programs.compiled == warm + 1


def test_an_entry_that_loads_but_cannot_run_is_compiled_again(tmp_path,
                                                            monkeypatch):
  def f(x):
    return jnp.sin(x) * 2

  x = np.linspace(0, 1, 5, dtype=np.float32)
  compile_cache.Programs(str(tmp_path), 'id').wrap('f', jax.jit(f))(x)

  def broken(*args):
    raise jax.errors.JaxRuntimeError('NOT_FOUND: Function fusion not found')

  store = compile_cache.Programs(str(tmp_path), 'id')
  monkeypatch.setattr(store, '_load', lambda path: broken)
  np.testing.assert_allclose(store.wrap('f', jax.jit(f))(x), np.sin(x) * 2,
                             atol=1e-6)
  assert (store.loaded, store.compiled, store.skipped) == (0, 1, 1)
