"""Batch contracts (``data_pipelines/contracts.py``): one per system, checked
on training and validation batches alike."""

import numpy as np
import pytest

from data_pipelines import batching, contracts, tracks
from mpe_jax import systems
import tiny_config


def _good(b=2, n=100, k=36, t=5):
  return {'audio': np.zeros((b, n), np.float32),
          'labels': np.zeros((b, k, t), np.uint8),
          'has_label': np.ones((b,), bool)}


def test_every_system_has_a_contract_and_unknown_names_are_one_line():
  assert set(contracts.BY_SYSTEM) == set(systems.SYSTEMS)
  with pytest.raises(ValueError, match="no batch contract for system 'x'"):
    contracts.for_system('x')


def test_a_batch_that_fits_passes_unchanged():
  batch = _good()
  assert contracts.AUDIO_SALIENCE.check(batch) is batch
  batch['drums'] = np.zeros((2, 100), np.float32)
  assert contracts.WITH_DRUMS.check(batch) is batch


@pytest.mark.parametrize('change, message', [
    (lambda b: b.pop('labels'), r"missing \['labels'\]"),
    (lambda b: b.update(extra=np.zeros(2)), r"unknown \['extra'\]"),
    (lambda b: b.update(audio=np.zeros((2, 100))), "'audio' is float64"),
    (lambda b: b.update(has_label=np.ones((2, 1), bool)),
     r"'has_label' has shape \(2, 1\)"),
    (lambda b: b.update(labels=np.zeros((3, 36, 5), np.uint8)),
     "axis B is 3 in 'labels' but 2 in 'audio'"),
    (lambda b: b.update(label_confidence=np.ones((2, 6), np.float32)),
     "axis T is 6 in 'label_confidence' but 5 in 'labels'"),
])
def test_a_batch_that_does_not_fit_is_a_one_line_error(change, message):
  batch = _good()
  change(batch)
  with pytest.raises(ValueError, match=message) as error:
    contracts.AUDIO_SALIENCE.check(batch, 'a test batch')
  assert '\n' not in str(error.value)


def test_separation_needs_drums():
  with pytest.raises(ValueError, match=r"missing \['drums'\]"):
    contracts.WITH_DRUMS.check(_good())
  assert 'drums float32' in contracts.WITH_DRUMS.describe()
  assert 'drums? float32' in contracts.AUDIO_SALIENCE.describe()


def test_validation_excerpts_fit_the_contract_of_the_hcqt_systems():
  config = tiny_config.get_config()
  sr = config.hcqt.sample_rate
  times = np.arange(0, 1.0, 0.01)
  track = tracks.Track(name='a', audio=np.zeros(sr, np.float32),
                       ref_times=times,
                       ref_freqs=[np.array([220.0]) for _ in times])
  batches = batching.excerpt_batches([track] * 3, sr // 2, 2, config.hcqt)
  assert [len(b['audio']) for b in batches] == [2, 1]
  for batch in batches:
    contracts.WITH_DRUMS.check(batch)


def test_training_batches_are_checked():
  checked = contracts.AUDIO_SALIENCE.checked(iter([_good(), {'audio': 1}]),
                                             'training batches')
  next(checked)
  with pytest.raises(ValueError, match='training batches, batch 1'):
    next(checked)
