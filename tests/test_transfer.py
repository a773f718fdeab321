"""A CPU-fast model with fewer residual blocks (``model.residual_dilations``)
and its start from a trained full model (``models.transfer``)."""

import jax
import numpy as np
import pytest
from flax import nnx

import tiny_config
from configs import pretrained_v2
from mpe_jax import pretrained
from mpe_jax import train
from mpe_jax.models import build_model, count_params, transfer
from mpe_jax.models.autoencoder import residual_dilations


def _params(model_config, seed=0):
  model = build_model(model_config, jax.random.key(seed))
  return jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model,
                                                             nnx.Param)))


def test_default_is_three_blocks_per_level_and_bad_values_raise():
  config = pretrained_v2.get_config('compact').model
  assert residual_dilations(config) == ((1, 2, 3),) * 4
  fast = pretrained_v2.get_config('fast').model
  assert residual_dilations(fast) == pretrained_v2.FAST_DILATIONS
  assert count_params(_params(fast)) < count_params(_params(config))
  with config.unlocked():
    config.residual_dilations = ((1,), (1,))
  with pytest.raises(ValueError, match='one tuple of dilations >= 1 per '
                     'level'):
    residual_dilations(config)


def test_carried_parameters_are_the_source_blocks_of_the_same_dilation():
  full = pretrained_v2.get_config('compact').model
  fast = pretrained_v2.get_config('fast').model
  source = _params(full, seed=1)
  carried = transfer.carried_params(source, full, _params(fast, seed=2), fast)
  # Level 1 keeps only d = 3: index 0 of the pruned list <- index 2.
  np.testing.assert_array_equal(
      carried['encoder']['blocks'][1]['res'][0]['conv1']['kernel'],
      source['encoder']['blocks'][1]['res'][2]['conv1']['kernel'])
  # The decoder mirrors the encoder: its block 2 runs at level 1.
  np.testing.assert_array_equal(
      carried['decoder']['blocks'][2]['res'][0]['conv2']['kernel'],
      source['decoder']['blocks'][2]['res'][2]['conv2']['kernel'])
  assert 'res' not in carried['encoder']['blocks'][0]  # level 0: none
  np.testing.assert_array_equal(carried['encoder']['latent']['kernel'],
                                source['encoder']['latent']['kernel'])


def test_a_block_the_source_lacks_is_a_one_line_error():
  fast = pretrained_v2.get_config('fast').model
  other = pretrained_v2.get_config('fast').model
  with other.unlocked():
    other.residual_dilations = ((), (2,), (3,), (3,))
  with pytest.raises(ValueError, match='no residual block of dilation 2 at '
                     'level 1'):
    transfer.carried_params(_params(fast), fast, _params(other), other)


def test_training_starts_a_pruned_model_from_a_shipped_one(tiny_trained_run,
                                                            tmp_path):
  exported = pretrained.export(str(tiny_trained_run), 'tiny',
                               root=str(tmp_path))
  _, source = pretrained.load(exported)
  config = tiny_config.get_config('1')
  with config.unlocked():
    config.model.residual_dilations = ((2,),)  # keeps one of (1, 2, 3)
    config.train.init_checkpoint = exported
    config.optim.encoder_lr = config.optim.decoder_lr = 0.0  # params stay
    config.eval.evaluation_sets = ()
  train.train_and_evaluate(config, str(tmp_path / 'run'))
  trained = pretrained.flatten(_restored(str(tmp_path / 'run')))
  src = pretrained.flatten(source)
  np.testing.assert_allclose(trained['encoder/blocks/0/res/0/conv1/kernel'],
                             src['encoder/blocks/0/res/1/conv1/kernel'],
                             atol=1e-6)
  assert 'encoder/blocks/0/res/1/conv1/kernel' not in trained


def _restored(workdir):
  from mpe_jax import inference  # pylint: disable=g-import-not-at-top
  return jax.device_get(inference.load_predictor(workdir,
                                                 prefer='latest').params)
