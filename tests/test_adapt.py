"""Test-time adaptation (``mpe_jax.adapt``): bounded, leaves the given and
the shipped weights untouched, keeps the blank rate bounded, one-line
errors; ``--adapt`` on the command line and ``adapt=`` in the Python API."""

import os

import jax
import numpy as np
import pytest
import soundfile as sf

from data_pipelines.generated import synthetic
from mpe_jax import adapt
from mpe_jax import pretrained
from mpe_jax import transcribe

FAST = adapt.AdaptSettings(max_steps=3, batch_size=2, excerpt_seconds=0.5,
                           monitor_every=1)


def _mixture(seconds=3.0):
  track = synthetic.SyntheticSource(5, 'test').mixture(0, seconds=seconds,
                                                       max_voices=3)
  audio = np.asarray(track.audio, np.float32)
  return audio / np.abs(audio).max()


def _leaves(params):
  return [np.array(x) for x in jax.tree.leaves(params)]


def test_adaptation_is_bounded_and_leaves_the_given_model(tiny_predictor):
  before = _leaves(tiny_predictor.params)
  adapted, report = adapt.adapt(tiny_predictor, _mixture(), FAST)
  assert 1 <= report.steps <= 3
  for a, b in zip(before, _leaves(tiny_predictor.params)):
    np.testing.assert_array_equal(a, b)  # the given predictor is untouched
  assert any(not np.array_equal(a, b) for a, b in
             zip(before, _leaves(adapted.params)))
  assert 0 < report.parameter_shift < 0.5
  assert report.line().startswith(f'adapted for {report.steps} steps')
  assert adapted.salience(_mixture()).shape == tiny_predictor.salience(
      _mixture()).shape


def test_the_monitor_keeps_the_blank_rate_bounded(tiny_predictor):
  harsh = adapt.AdaptSettings(max_steps=6, batch_size=2, excerpt_seconds=0.5,
                              monitor_every=1, learning_rate=1.0,
                              anchor=0.0, max_blank_rise=0.02,
                              max_peak_drop=0.02)
  adapted, report = adapt.adapt(tiny_predictor, _mixture(), harsh)
  base = report.monitor[0]
  kept = next(m for m in report.monitor if m['step'] == report.kept_step)
  # The parameters returned are ones the monitor passed on the held-out
  # excerpts (step 0, the given model's, at worst).
  assert kept['blank_rate'] <= base['blank_rate'] + 0.02
  assert kept['peak_salience'] >= 0.98 * base['peak_salience']
  if report.kept_step == 0:
    for a, b in zip(_leaves(tiny_predictor.params), _leaves(adapted.params)):
      np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('audio,match', [
    (np.zeros(22050 * 3, np.float32), 'silent'),
    (_mixture(3.0)[:5000], 'too short to adapt on'),
])
def test_errors_are_one_line(tiny_predictor, audio, match):
  with pytest.raises(adapt.AdaptError, match=match) as info:
    adapt.adapt(tiny_predictor, audio, FAST)
  assert '\n' not in str(info.value)


def test_transcribe_audio_says_what_adaptation_did(tiny_predictor):
  result = transcribe.transcribe_audio(_mixture(), 22050, tiny_predictor,
                                       adapt=FAST)
  assert result.adaptation.startswith('adapted for ')
  silent = transcribe.transcribe_audio(np.zeros(22050 * 3, np.float32),
                                       22050, tiny_predictor, adapt=FAST)
  assert silent.adaptation.startswith('not adapted: ')
  assert not any(len(f) for f in silent.multipitch)


def test_cli_adapt_keeps_the_shipped_weights(tmp_path, capsys):
  wav = tmp_path / 'mix.wav'
  sf.write(wav, _mixture(5.0), 22050)
  npz = os.path.join(pretrained.model_dir(), 'params.npz')
  digest = pretrained.sha256_of(npz)
  status = transcribe.run(['mpe_jax.transcribe', '--adapt',
                           '--adapt_seconds=8', '--formats=txt',
                           f'--output_dir={tmp_path / "out"}', str(wav)])
  assert status == 0
  assert os.path.exists(tmp_path / 'out' / 'mix.multipitch.txt')
  assert 'mix.wav: adapted for ' in capsys.readouterr().out
  assert pretrained.sha256_of(npz) == digest


def test_cli_rejects_a_bad_budget(tmp_path, capsys):
  status = transcribe.run(['mpe_jax.transcribe', '--adapt',
                           '--adapt_seconds=0', f'--output_dir={tmp_path}',
                           str(tmp_path / 'x.wav')])
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 2 and '--adapt_seconds must be > 0' in err[-1], err
