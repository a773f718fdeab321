"""The model shipped in the package: it loads, its hash matches its card,
it finds the pitches of a rendered chord and melody, and it is what the
command line and ``load_predictor()`` use without a checkpoint. No test
trains it.

The chord and melody are rendered by FluidSynth (skipped, with the apt
command as the reason, when it is not installed).
"""

import os
import re
import shutil

import numpy as np
import pytest
import soundfile as sf

from data_pipelines.generated import fluidsynth_render as fs
from mpe_jax import inference
from mpe_jax import pretrained
from mpe_jax import transcribe
from mpe_jax.evaluation import multipitch

RATE = 22050
BLOCK_S = fs.BLOCK / RATE


SHIPPED = pretrained.available()


@pytest.fixture(scope='module')
def predictor():
  return inference.load_predictor()


@pytest.fixture(scope='module', params=SHIPPED)
def shipped(request):
  """Every shipped model, by name (loaded once per module)."""
  return inference.load_predictor(request.param)


def _blocks(seconds: float) -> float:
  return round(seconds / BLOCK_S) * BLOCK_S


def _render(notes, seconds):
  """Audio of ``notes`` (tests using it request the ``fluidsynth``
  fixture, which skips them without FluidSynth)."""
  audio = fs.render_notes(notes, int(seconds * RATE))
  return audio / np.max(np.abs(audio))


CHORD = [fs.Note(p, _blocks(0.1), _blocks(1.9), 0, 90)  # piano
         for p in (48, 60, 64, 67)]  # C3 + C major triad
MELODY = [fs.Note(p, _blocks(0.1 + 0.35 * k), _blocks(0.1 + 0.35 * k + 0.3),
                  73, 100)  # flute
          for k, p in enumerate((72, 74, 76, 77, 79, 77, 76, 74))]


def _f1(predictor, notes, seconds):
  audio = _render(notes, seconds)
  result = transcribe.transcribe_audio(audio, RATE, predictor)
  annotation = fs.notes_annotation(notes)
  ref = annotation.sample(result.times)
  scores = multipitch.evaluate_multipitch(result.times, ref, result.times,
                                          result.multipitch)
  return scores['f1']


@pytest.mark.parametrize('name', SHIPPED)
def test_every_shipped_model_is_complete(name):
  assert pretrained.DEFAULT in SHIPPED and 'gm_joint_v1' in SHIPPED
  directory = pretrained.model_dir(name)
  for file in pretrained.FILES:
    assert os.path.isfile(os.path.join(directory, file)), file
  size = os.path.getsize(os.path.join(directory, 'params.npz'))
  assert size < 10e6  # a few MB


@pytest.mark.parametrize('name', SHIPPED)
def test_hash_matches_the_model_card(name):
  directory = pretrained.model_dir(name)
  digest = pretrained.sha256_of(os.path.join(directory, 'params.npz'))
  with open(os.path.join(directory, 'params.sha256')) as f:
    assert f.read().split()[0] == digest
  with open(os.path.join(directory, 'MODEL_CARD.md')) as f:
    card = f.read()
  assert digest in re.findall(r'[0-9a-f]{64}', card)


def test_load_predictor_without_argument_is_the_shipped_model(predictor):
  config, params = pretrained.load()
  assert predictor.config.model.variant == config.model.variant
  assert predictor.step_dir == pretrained.model_dir()
  leaves = pretrained.flatten(params)
  assert leaves and all(np.all(np.isfinite(v)) for v in leaves.values())


@pytest.mark.usefixtures('fluidsynth')
def test_finds_a_rendered_chord(shipped):
  # gm_joint_v1: F1 0.59 (P 0.72, R 0.50). It finds C3 and E4 and adds C5;
  # C4 (C3's octave) and G4 (C3's third harmonic) are the pitches it
  # misses, the octave weakness its model card names.
  assert _f1(shipped, CHORD, 2.0) > 0.5


@pytest.mark.usefixtures('fluidsynth')
def test_finds_a_rendered_melody(shipped):
  # gm_joint_v1: F1 0.81 (P 0.70, R 0.98).
  assert _f1(shipped, MELODY, 3.2) > 0.7


@pytest.mark.usefixtures('fluidsynth')
def test_cli_without_checkpoint_writes_the_default_formats(tmp_path,
                                                          predictor):
  del predictor  # loaded once for the module; the CLI loads its own
  wav = tmp_path / 'chord.wav'
  sf.write(wav, _render(CHORD, 2.0), RATE)
  out = tmp_path / 'out'
  status = transcribe.run(['mpe_jax.transcribe', f'--output_dir={out}',
                           str(wav)])
  assert status == 0
  assert sorted(os.listdir(out)) == [
      'chord.mid', 'chord.multipitch.txt', 'chord.notes.csv', 'chord.png']


@pytest.fixture
def model_copy(tmp_path):
  directory = tmp_path / 'model'
  shutil.copytree(pretrained.model_dir(), directory)
  return directory


def _one_line_error(directory, match):
  with pytest.raises(pretrained.PretrainedError) as info:
    inference.load_predictor(str(directory))
  message = str(info.value)
  assert '\n' not in message and re.search(match, message), message
  return message


def test_corrupt_weights_are_one_line(model_copy):
  npz = model_copy / 'params.npz'
  data = bytearray(npz.read_bytes())
  data[len(data) // 2] ^= 0xFF
  npz.write_bytes(bytes(data))
  _one_line_error(model_copy, r'params\.npz is corrupt: its SHA-256')


def test_missing_file_is_one_line(model_copy):
  os.remove(model_copy / 'config.json')
  with pytest.raises(pretrained.PretrainedError) as info:
    pretrained.load(str(model_copy))
  message = str(info.value)
  assert 'config.json is missing' in message and '\n' not in message


def test_cli_reports_a_broken_model_in_one_line(model_copy, tmp_path,
                                                capsys):
  os.remove(model_copy / 'params.npz')
  wav = tmp_path / 'x.wav'
  sf.write(wav, np.zeros(RATE, np.float32), RATE)
  status = transcribe.run(['mpe_jax.transcribe', f'--checkpoint={model_copy}',
                           f'--output_dir={tmp_path / "out"}', str(wav)])
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 2
  assert len(err) == 1 and 'params.npz' in err[0], err


def test_shapes_must_fit_the_config(model_copy):
  with np.load(model_copy / 'params.npz') as data:
    arrays = {k: data[k] for k in data.files}
  key = sorted(arrays)[0]
  arrays[key] = np.zeros((3,) + arrays[key].shape, np.float32)
  np.savez(model_copy / 'params.npz', **arrays)
  digest = pretrained.sha256_of(str(model_copy / 'params.npz'))
  (model_copy / 'params.sha256').write_text(f'{digest}  params.npz\n')
  _one_line_error(model_copy, 'has shape')
