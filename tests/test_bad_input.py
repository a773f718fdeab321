"""Bad input to ``mpe_jax.transcribe``: a corpus of problem files made here.

One real command-line run transcribes the whole corpus (good files before,
between and after the bad ones); each case then checks its own line of the
output, its outputs, and that an output written before the run is intact.
"""

import json
import os
import shutil
import subprocess
import sys

import librosa
import numpy as np
import pytest
import soundfile as sf

from data_pipelines import audio_stream
from data_pipelines.audio import AudioError
from conftest import file_lock
from mpe_jax import inference, transcribe
import tiny_config

SR = 22050
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREVIOUS = 'an earlier result\n'
N_BINS = tiny_config.get_config().hcqt.n_bins  # the shared run's salience


def _chord(seconds, rate, amp=1.0):
  t = np.arange(int(round(seconds * rate))) / rate
  return (amp * (0.3 * np.sin(2 * np.pi * 220 * t)
                 + 0.2 * np.sin(2 * np.pi * 330 * t))).astype(np.float32)


def _make_corpus(d):
  """Every problem file, and the expected outcome of each input."""
  sf.write(d / 'good_first.wav', _chord(1, SR), SR, subtype='PCM_16')
  (d / 'empty_folder').mkdir()
  (d / 'empty_folder' / 'readme.txt').write_text('no audio here')
  (d / 'empty.wav').write_bytes(b'')
  sf.write(d / 'zero_length.wav', np.zeros((0, 1), np.float32), SR)
  sf.write(d / 'full.flac', _chord(3, SR), SR)
  data = (d / 'full.flac').read_bytes()
  (d / 'truncated.flac').write_bytes(data[:len(data) // 2])
  sf.write(d / 'full.wav', _chord(2, SR), SR, subtype='PCM_16')
  data = (d / 'full.wav').read_bytes()  # 44-byte header + 2 s of 16-bit data
  (d / 'cut_short.wav').write_bytes(data[:44 + 2 * SR])  # 1 s of it
  (d / 'not_audio.wav').write_text('This is a text file, not audio.\n' * 20)
  sf.write(d / 'silent.wav', np.zeros(SR, np.float32), SR, subtype='PCM_16')
  x = _chord(1, SR)
  x[SR // 4] = np.nan
  sf.write(d / 'nan.wav', x, SR, subtype='FLOAT')
  x = _chord(1, SR)
  x[SR // 2] = np.inf
  sf.write(d / 'inf.wav', x, SR, subtype='FLOAT')
  sf.write(d / 'clipped.wav', np.clip(_chord(1, SR, amp=4.0), -1, 1), SR,
           subtype='PCM_16')
  sf.write(d / 'rate8k.wav', _chord(1, 8000), 8000, subtype='PCM_16')
  sf.write(d / 'rate192k.wav', _chord(1, 192000), 192000, subtype='PCM_24')
  channels = np.stack([_chord(1, SR, amp=a) for a in
                       (1.0, 0.5, -0.5, 0.25, 0.0, 0.1)], axis=1)
  sf.write(d / 'six_channels.wav', channels, SR, subtype='PCM_16')
  sf.write(d / 'clash.wav', _chord(1, SR), SR, subtype='PCM_16')
  sf.write(d / 'long.wav', _chord(5, SR), SR, subtype='PCM_16')
  stereo = np.stack([_chord(1, 44100), _chord(1, 44100, amp=0.5)], axis=1)
  sf.write(d / 'good_last.flac', stereo, 44100)


# name -> (outcome, fragment of its message line)
CASES = {
    'good_first.wav': ('ok', None),
    'empty.wav': ('error', 'empty.wav: empty file (0 bytes).'),
    'zero_length.wav': ('error', 'zero_length.wav: no samples'),
    'truncated.flac': ('error', 'truncated.flac: corrupt or truncated audio, '
                                'decoding stopped at'),
    'cut_short.wav': ('warning', 'cut_short.wav: truncated: the header '
                                 'declares 2.00 s but the file holds 1.00 s'),
    'not_audio.wav': ('error', 'not_audio.wav: cannot decode'),
    'silent.wav': ('warning', 'silent.wav: silent: every sample is 0; '
                              'no pitches.'),
    'nan.wav': ('error', 'nan.wav: contains NaN or Inf samples (first at '
                         '0.250 s)'),
    'inf.wav': ('error', 'inf.wav: contains NaN or Inf samples (first at '
                         '0.500 s)'),
    'clipped.wav': ('warning', 'clipped.wav: clipped: '),
    'rate8k.wav': ('ok', None),
    'rate192k.wav': ('ok', None),
    'six_channels.wav': ('ok', None),
    'clash.wav': ('error', 'clash.wav: cannot write outputs '
                           '(IsADirectoryError'),
    'long.wav': ('ok', None),
    'good_last.flac': ('ok', None),
}
FAILING = [name for name, (kind, _) in CASES.items() if kind == 'error']


def _stem(name):
  return os.path.splitext(name)[0]


@pytest.fixture(scope='session')
def batch(request, tmp_path_factory, tiny_trained_run):
  """One command-line run over the whole corpus (once per test session: the
  pytest-xdist workers share it)."""
  root = tmp_path_factory.getbasetemp()
  if hasattr(request.config, 'workerinput'):
    root = root.parent
  d, result = root / 'bad_input_corpus', root / 'bad_input_run.json'
  out = d / 'out'
  with file_lock(str(root / 'bad_input.lock')):
    if not result.exists():
      shutil.rmtree(d, ignore_errors=True)
      d.mkdir()
      _make_corpus(d)
      out.mkdir()
      for name in FAILING:  # outputs from an earlier run must survive
        (out / (_stem(name) + '.multipitch.txt')).write_text(PREVIOUS)
      (out / 'clash.png').mkdir()  # an output path that cannot be written
      cmd = [sys.executable, '-m', 'mpe_jax.transcribe',
             f'--checkpoint={tiny_trained_run}', f'--output_dir={out}',
             '--chunk_seconds=2', '--batch_size=2',
             '--formats=txt,csv,mid,png,npz'] + [str(d / n) for n in CASES]
      proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                            timeout=900, check=False)
      result.write_text(json.dumps({'returncode': proc.returncode,
                                    'stdout': proc.stdout,
                                    'stderr': proc.stderr}))
  return d, out, subprocess.CompletedProcess(**json.loads(
      result.read_text()), args=[])


def test_batch_exit_status_and_summary(batch):
  _, _, proc = batch
  assert proc.returncode == 1, proc.stderr
  assert 'Traceback' not in proc.stderr
  n_ok = sum(kind != 'error' for kind, _ in CASES.values())
  assert (f'Transcribed {n_ok} of {len(CASES)} input(s); {len(FAILING)} '
          'failed:') in proc.stderr
  summary = proc.stderr.split('failed:\n')[1].splitlines()
  assert len(summary) == len(FAILING)
  for line, name in zip(summary, FAILING):
    assert CASES[name][1] in line
  assert not [n for n in os.listdir(batch[1]) if n.endswith('.part')]


@pytest.mark.parametrize('name', list(CASES))
def test_each_input(batch, name):
  d, out, proc = batch
  kind, fragment = CASES[name]
  stem = out / _stem(name)
  lines = proc.stderr.splitlines()
  if kind == 'error':
    errors = [l for l in lines if l.startswith('error: ') and fragment in l]
    assert len(errors) == 1, proc.stderr
    assert str(d / name) in errors[0]
    # Nothing already written is lost, nothing half-written appears.
    assert (out / (_stem(name) + '.multipitch.txt')).read_text() == PREVIOUS
    for suffix in ('.csv', '.mid', '.npz'):
      assert not os.path.exists(str(stem) + suffix)
    return
  warnings = [l for l in lines if l.startswith('warning: ')
              and str(d / name) in l]
  if kind == 'warning':
    assert len(warnings) == 1 and fragment in warnings[0], proc.stderr
  else:
    assert not warnings, proc.stderr
  assert any(l.startswith(str(d / name)) for l in proc.stdout.splitlines())
  for suffix in ('.multipitch.txt', '.csv', '.mid', '.png', '.npz'):
    assert os.path.getsize(str(stem) + suffix) > 0
  seconds = 5.0 if name == 'long.wav' else 1.0
  n_frames = 1 + int(seconds * SR) // 256
  with np.load(str(stem) + '.npz') as z:
    assert z['salience'].shape == (N_BINS, n_frames)
    assert np.all((z['salience'] >= 0) & (z['salience'] <= 1))
  rows = (open(str(stem) + '.multipitch.txt').read().splitlines())
  assert len(rows) == n_frames
  if name == 'silent.wav':
    assert all(len(r.split('\t')) == 1 for r in rows)


def test_missing_inputs_stop_before_anything_is_written(batch, tmp_path):
  """A missing file or a folder without audio is found before the model
  loads: one line naming each, exit status 2, no output folder made."""
  d, _, _ = batch
  out = tmp_path / 'never_made'
  proc = subprocess.run(
      [sys.executable, '-m', 'mpe_jax.transcribe', f'--output_dir={out}',
       str(d / 'good_first.wav'), str(d / 'missing.wav'),
       str(d / 'empty_folder')], cwd=ROOT, capture_output=True, text=True,
      timeout=300, check=False)
  assert proc.returncode == 2, proc.stderr
  assert proc.stderr.count('\n') == 1, proc.stderr
  assert 'missing.wav: file not found' in proc.stderr
  assert 'empty_folder: folder contains no audio files' in proc.stderr
  assert 'nothing was written' in proc.stderr
  assert not out.exists()


def test_basic_pitch_argument_order_writes_nothing(batch, tmp_path):
  """``basic-pitch OUTDIR FILE`` habits: the folder is not an input; the
  line says how to name the output folder, and the current folder gets
  nothing."""
  d, _, _ = batch
  proc = subprocess.run(
      [sys.executable, '-m', 'mpe_jax.transcribe', 'outdir',
       str(d / 'good_first.wav')], cwd=tmp_path, capture_output=True,
      text=True, timeout=300, check=False,
      env=dict(os.environ, PYTHONPATH=ROOT))
  assert proc.returncode == 2, proc.stderr
  assert ('outdir: file not found (to write the outputs into outdir, give '
          '--output_dir=outdir); nothing was written') in proc.stderr
  assert os.listdir(tmp_path) == []


def test_cli_outputs_equal_the_python_api(batch, tiny_predictor):
  """The long file went through 3+ chunks; its saved salience is what the
  in-process API computes (chunk equality itself: test_transcribe)."""
  d, out, _ = batch
  audio, _ = sf.read(d / 'long.wav', dtype='float32')
  assert len(tiny_predictor.chunks(len(audio))) >= 3
  expected = tiny_predictor.salience(audio / np.max(np.abs(audio)))
  with np.load(out / 'long.npz') as z:
    np.testing.assert_allclose(z['salience'], expected, atol=1e-6)


# ------------------------------------------------- decoding, in process ---


def _reference_decode(path):
  data, rate = sf.read(path, dtype='float32', always_2d=True)
  mono = data.mean(axis=1, dtype=np.float32)
  if rate != SR:
    mono = librosa.resample(mono, orig_sr=rate, target_sr=SR,
                            res_type='soxr_hq')
  return mono


@pytest.mark.parametrize('name', ['rate8k.wav', 'rate192k.wav',
                                  'six_channels.wav', 'good_last.flac'])
def test_rates_and_channels_are_resampled_and_averaged(tmp_path, name):
  _make_corpus(tmp_path)
  got = audio_stream.decode_audio(tmp_path / name, SR, block_seconds=0.3)
  assert got.sample_rate == SR and not got.warnings
  want = _reference_decode(str(tmp_path / name))
  assert got.samples.shape == want.shape == (SR,)
  np.testing.assert_allclose(got.samples, want, atol=1e-6)
  assert got.peak == pytest.approx(float(np.max(np.abs(want))))
  assert got.channels == {'six_channels.wav': 6, 'good_last.flac': 2}.get(
      name, 1)


def test_one_hour_file_is_streamed_to_disk(tmp_path):
  """A 1-hour file is decoded block by block into an unlinked temporary file
  (peak memory is measured in bench/transcribe_memory.py)."""
  path = tmp_path / 'hour.wav'
  rate, seconds, block = 8000, 3600, 8000 * 60
  with sf.SoundFile(path, 'w', rate, 1, subtype='PCM_16') as f:
    for start in range(0, rate * seconds, block):
      t = (start + np.arange(block)) / rate
      f.write(0.5 * np.sin(2 * np.pi * 1000.0 * t))
  spill = tmp_path / 'spill'
  spill.mkdir()
  got = audio_stream.decode_audio(path, SR, max_memory_seconds=600,
                                  spill_dir=str(spill))
  assert got.on_disk and isinstance(got.samples, audio_stream.DiskSamples)
  assert not os.listdir(spill)  # unlinked at once: nothing left behind
  assert abs(len(got.samples) - seconds * SR) <= 1
  n = 30 * 60 * SR  # half an hour in: the resampled 1-kHz sine
  t = (n + np.arange(2000)) / SR
  before = got.samples[n:n + 2000]
  np.testing.assert_allclose(before, 0.5 * np.sin(2 * np.pi * 1000.0 * t),
                             atol=2e-3)
  peak = got.peak
  assert 0.5 <= peak < 0.51
  got.normalize()  # by the peak, applied as the samples are read
  np.testing.assert_allclose(got.samples[n:n + 2000], before / peak,
                             rtol=1e-6)
  frames = 1 + len(got.samples) // 256
  plan = inference.plan_chunks(frames, 1723, 66)  # 20-s chunks
  # First and last chunks keep 1723 - 66 frames or more, the others 1591.
  assert plan[-1].hi == frames
  assert len(plan) == 2 + int(np.ceil((frames - 2 * 1657) / 1591))


# ------------------------------------------------------- whole-run errors ---


def _run(capsys, *args):
  code = transcribe.run(['mpe_jax.transcribe', *args])
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def test_unwritable_output_dir(tmp_path, capsys):
  sf.write(tmp_path / 'a.wav', _chord(1, SR), SR)
  blocker = tmp_path / 'a_file'
  blocker.write_text('not a folder')
  code, _, err = _run(capsys, f'--checkpoint={tmp_path}/none',
                      f'--output_dir={blocker}/out', str(tmp_path / 'a.wav'))
  assert code == 2
  assert err.count('\n') == 1 and 'Traceback' not in err
  assert f'cannot write to output folder {blocker}/out' in err
  assert 'choose another --output_dir' in err


def _step_copy(run_dir, dest):
  step = sorted(os.listdir(run_dir / 'checkpoints' / 'latest'))[-1]
  target = dest / 'ckpt' / step
  shutil.copytree(run_dir / 'checkpoints' / 'latest' / step, target)
  return target


def _garble_state(step_dir):
  rng = np.random.default_rng(0)
  for root, _, files in os.walk(step_dir / 'state'):
    for name in files:
      path = os.path.join(root, name)
      size = max(os.path.getsize(path), 16)
      with open(path, 'wb') as f:
        f.write(rng.integers(0, 256, size, dtype=np.uint8).tobytes())


def _edit_config(step_dir, edit):
  path = step_dir / 'config' / 'metadata'
  config = json.loads(path.read_text())
  edit(config)
  path.write_text(json.dumps(config))


@pytest.mark.parametrize('problem,fragment', [
    ('missing', 'does not exist'),
    ('empty', 'no mpe_jax checkpoint found under'),
    ('corrupt', 'cannot restore'),
    ('incompatible', 'cannot restore'),
    ('unknown_system', "config.system must be one of"),
    ('garbled_config', 'is unreadable'),
])
def test_bad_checkpoint_is_one_line(tmp_path, capsys, tiny_trained_run,
                                    problem, fragment):
  sf.write(tmp_path / 'a.wav', _chord(1, SR), SR)
  if problem == 'missing':
    ckpt = tmp_path / 'no_such_run'
  elif problem == 'empty':
    ckpt = tmp_path / 'empty_run'
    ckpt.mkdir()
  else:
    ckpt = _step_copy(tiny_trained_run, tmp_path)
    if problem == 'corrupt':
      _garble_state(ckpt)
    elif problem == 'incompatible':  # parameters of another architecture
      _edit_config(ckpt, lambda c: c['model'].update(channels=[8, 16, 32, 64,
                                                               128]))
    elif problem == 'unknown_system':
      _edit_config(ckpt, lambda c: c.update(system='majl_v9'))
    elif problem == 'garbled_config':
      (ckpt / 'config' / 'metadata').write_text('{"seed": 0, "model": ')
  code, out, err = _run(capsys, f'--checkpoint={ckpt}',
                        f'--output_dir={tmp_path / "out"}',
                        str(tmp_path / 'a.wav'))
  assert code == 2, err
  assert err.count('\n') == 1 and 'Traceback' not in err, err
  assert err.startswith('mpe_jax.transcribe: error: ') and fragment in err
  assert not out and not os.listdir(tmp_path / 'out')
  with pytest.raises(Exception):  # --verbose: the full traceback
    transcribe.run(['mpe_jax.transcribe', f'--checkpoint={ckpt}', '--verbose',
                    f'--output_dir={tmp_path / "out"}',
                    str(tmp_path / 'a.wav')])


def test_decode_errors_name_the_file(tmp_path):
  _make_corpus(tmp_path)
  for name in ('empty.wav', 'zero_length.wav', 'not_audio.wav', 'nan.wav'):
    with pytest.raises(AudioError) as info:
      audio_stream.decode_audio(tmp_path / name, SR)
    assert str(tmp_path / name) in str(info.value)
    assert '\n' not in str(info.value)
