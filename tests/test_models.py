"""The autoencoder: exact parameter counts, shapes, activation."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from configs import ssmpe
from mpe_jax.models import build_model, count_params, frequency_sizes, layers


def _model_cfg(**overrides):
  cfg = ssmpe.get_config().model.to_dict()
  cfg.update(overrides)
  return ml_collections.ConfigDict(cfg)


def test_ssmpe_parameter_count():
  model = build_model(ssmpe.get_config().model, jax.random.key(0, impl='rbg'))
  assert count_params(model) == 545_189


def test_ismir25_parameter_count():
  cfg = _model_cfg(channels=(8, 16, 32, 64, 128), norm='pre_activation')
  assert count_params(build_model(cfg, jax.random.key(0, impl='rbg'))) == (
      1_303_753)


def test_frequency_sizes_of_the_reference():
  assert frequency_sizes(440) == [440, 219, 108, 53, 25]
  assert frequency_sizes(540) == [540, 269, 133, 65, 31]


@pytest.mark.parametrize('frames', [1, 7])
def test_output_shape_and_time_preserved(frames):
  model = build_model(ssmpe.get_config().model, jax.random.key(1, impl='rbg'))
  x = jax.random.uniform(jax.random.key(2), (2, 6, 440, frames))
  assert model(x).shape == (2, 440, frames)


def test_frames_are_processed_independently_by_layernorm():
  """LayerNorm is per frame: a far-away frame cannot change a frame's output
  beyond the convolutional receptive field."""
  model = build_model(ssmpe.get_config().model, jax.random.key(3, impl='rbg'))
  x = jax.random.uniform(jax.random.key(4), (1, 6, 440, 120))
  y = model(x)
  x2 = x.at[..., -1].set(0.0)
  y2 = model(x2)
  np.testing.assert_allclose(y[..., :40], y2[..., :40], atol=1e-6)
  assert float(jnp.abs(y[..., -1] - y2[..., -1]).max()) > 0


def test_elu_matches_reference():
  x = jnp.linspace(-30, 5, 1001)
  np.testing.assert_allclose(layers._elu(x), jax.nn.elu(x), atol=1e-6)


def test_bad_norm_raises():
  with pytest.raises(ValueError, match='model.norm'):
    build_model(_model_cfg(norm='batch'), jax.random.key(0, impl='rbg'))


@pytest.mark.parametrize('n_bins', [437, 450])
def test_any_bin_count_round_trips(n_bins):
  model = build_model(_model_cfg(n_bins=n_bins), jax.random.key(0, impl='rbg'))
  x = jnp.zeros((1, 6, n_bins, 3))
  assert jax.eval_shape(model, x).shape == (1, n_bins, 3)


@pytest.mark.parametrize('norm', ['post_block', 'pre_activation'])
def test_gemm_convolutions_compute_the_xla_function_and_gradients(norm):
  """conv_impl changes how convolutions run, never what they compute."""
  x = jnp.asarray(np.random.default_rng(0).random((2, 6, 60, 7)), jnp.float32)
  out, grads = {}, {}
  for impl in ('xla', 'gemm'):
    model = build_model(_model_cfg(n_bins=60, norm=norm, conv_impl=impl,
                                   skip_connections=True),
                        jax.random.key(0))
    graphdef, state = nnx.split(model)
    params = nnx.to_pure_dict(state)
    loss = lambda p, g=graphdef: jnp.sum(jnp.tanh(nnx.merge(g, p)(x)))
    out[impl], grads[impl] = jax.value_and_grad(loss)(params)
  np.testing.assert_allclose(out['gemm'], out['xla'], rtol=1e-5)
  for a, b in zip(jax.tree.leaves(grads['xla']), jax.tree.leaves(grads['gemm'])):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * float(
        jnp.max(jnp.abs(a)) + 1e-6))


def test_frequency_conv_transpose_matches_flax():
  rng = np.random.default_rng(1)
  for stride, kernel, bins in ((2, 4, 9), (1, 9, 9), (3, 4, 9), (1, 25, 1)):
    x = jnp.asarray(rng.standard_normal((2, 3, bins, 5)), jnp.float32)
    ref = nnx.ConvTranspose(5, 4, (1, kernel), strides=(1, stride),
                            padding='VALID', use_bias=False, rngs=nnx.Rngs(0))
    ours = layers.frequency_conv_transpose(x, ref.kernel[...], stride)
    np.testing.assert_allclose(ours, ref(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('variant', [
    dict(norm='post_block'),
    dict(norm='pre_activation', skip_connections=True),
    dict(norm='none', film=True, switch_channel=False),
])
def test_remat_computes_the_same_function_and_gradients(variant):
  """remat='blocks' changes what the backward pass keeps, not its result."""
  x = jnp.asarray(np.random.default_rng(2).random((2, 6, 60, 9)), jnp.float32)
  out, grads = {}, {}
  for remat in ('none', 'blocks'):
    model = build_model(_model_cfg(n_bins=60, remat=remat, **variant),
                        jax.random.key(3))
    graphdef, state = nnx.split(model)
    params = nnx.to_pure_dict(state)
    switch = 1.0 if model.conditioned else None

    def loss(p, g=graphdef, s=switch):
      return jnp.sum(jnp.tanh(nnx.merge(g, p)(x, s)))

    out[remat], grads[remat] = jax.jit(jax.value_and_grad(loss))(params)
  np.testing.assert_allclose(out['blocks'], out['none'], rtol=1e-5)
  for a, b in zip(jax.tree.leaves(grads['none']),
                  jax.tree.leaves(grads['blocks'])):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * float(
        jnp.max(jnp.abs(a)) + 1e-6))


def test_remat_lowers_the_compiled_backward_pass_memory():
  """'blocks' needs less temporary memory than 'none' in XLA's buffer
  assignment of value-and-grad (jax.checkpoint did not, on XLA:CPU)."""
  x = jnp.zeros((4, 6, 120, 64), jnp.float32)
  temp = {}
  for remat in ('none', 'blocks'):
    model = build_model(_model_cfg(n_bins=120, remat=remat),
                        jax.random.key(0))
    graphdef, state = nnx.split(model)
    params = nnx.to_pure_dict(state)
    loss = lambda p, g=graphdef: jnp.sum(jnp.tanh(nnx.merge(g, p)(x)))
    compiled = jax.jit(jax.value_and_grad(loss)).lower(params).compile()
    temp[remat] = compiled.memory_analysis().temp_size_in_bytes
  assert temp['blocks'] < 0.8 * temp['none'], temp


def test_remat_auto_is_blocks_on_cpu_and_unknown_names_raise():
  assert layers.resolve_remat('auto') == 'blocks'  # tests run on CPU
  assert layers.resolve_remat('none') == 'none'
  with pytest.raises(ValueError, match='config.model.remat'):
    build_model(_model_cfg(remat='everything'), jax.random.key(0))


def test_unknown_conv_impl_raises():
  with pytest.raises(ValueError, match='conv_impl'):
    build_model(_model_cfg(conv_impl='cudnn'), jax.random.key(0))
