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
  """Shapes only, traced (the LayerNorm test below runs this model)."""
  model = build_model(ssmpe.get_config().model, jax.random.key(1, impl='rbg'))
  x = jax.ShapeDtypeStruct((2, 6, 440, frames), jnp.float32)
  assert jax.eval_shape(model, x).shape == (2, 440, frames)


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


@pytest.mark.parametrize('impl', ['gemm', 'direct'])
@pytest.mark.parametrize('norm', ['post_block', 'pre_activation'])
def test_conv_impls_compute_the_xla_function_and_gradients(norm, impl):
  """conv_impl changes how convolutions run, never what they compute
  (compiled, batch of 2: 'direct' once computed wrong gradients for the
  second item here, from XLA:CPU's fused two-axis LayerNorm reductions)."""
  x = jnp.asarray(np.random.default_rng(0).random((2, 6, 60, 7)), jnp.float32)
  out, grads = {}, {}
  for name in ('xla', impl):
    model = build_model(_model_cfg(n_bins=60, norm=norm, conv_impl=name,
                                   skip_connections=True),
                        jax.random.key(0))
    graphdef, state = nnx.split(model)
    params = nnx.to_pure_dict(state)
    loss = lambda p, x, g=graphdef: jnp.sum(jnp.tanh(nnx.merge(g, p)(x)))
    out[name], grads[name] = jax.jit(jax.value_and_grad(loss, (0, 1)))(
        params, x)
  np.testing.assert_allclose(out[impl], out['xla'], rtol=1e-5)
  for a, b in zip(jax.tree.leaves(grads['xla']), jax.tree.leaves(grads[impl])):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * float(
        jnp.max(jnp.abs(a)) + 1e-6))


@pytest.mark.parametrize('variant', [
    dict(norm='none', film=True, switch_channel=False),
    dict(norm='none', switch_channel=True, in_channels=2, out_channels=2),
    # Another depth and an odd width (the full-resolution level's unrolled
    # sums, and their compile, grow with its channels squared).
    dict(norm='post_block', channels=(3, 6, 12)),
])
def test_direct_level_matches_xla_for_the_other_variants(variant):
  x = jnp.asarray(np.random.default_rng(1).random(
      (3, variant.get('in_channels', 6), 60, 6)), jnp.float32)
  res = {}
  for impl in ('xla', 'direct'):
    model = build_model(_model_cfg(n_bins=60, conv_impl=impl, **variant),
                        jax.random.key(5))
    graphdef, state = nnx.split(model)
    switch = 1.0 if model.conditioned else None

    def loss(p, g=graphdef, s=switch):
      return jnp.sum(jnp.tanh(nnx.merge(g, p)(x, s)))

    res[impl] = jax.jit(jax.value_and_grad(loss))(nnx.to_pure_dict(state))
  for a, b in zip(jax.tree.leaves(res['xla']), jax.tree.leaves(res['direct'])):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * float(
        jnp.max(jnp.abs(a)) + 1e-6))


def test_parameters_do_not_depend_on_conv_impl():
  """Same tree, shapes and initial values: checkpoints move between CPU
  ('direct') and accelerator ('xla') runs."""
  trees = [nnx.to_pure_dict(nnx.state(build_model(
      _model_cfg(conv_impl=impl), jax.random.key(7))))
           for impl in ('xla', 'gemm', 'direct')]
  for other in trees[1:]:
    assert jax.tree.structure(other) == jax.tree.structure(trees[0])
    for a, b in zip(jax.tree.leaves(trees[0]), jax.tree.leaves(other)):
      np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('kernel,dilation,stride,same,bins', [
    ((3, 3), 1, 1, True, 21), ((3, 3), 2, 1, True, 21),
    ((3, 3), 3, 1, True, 8), ((1, 1), 1, 1, True, 21),
    ((1, 4), 1, 2, False, 21), ((1, 4), 1, 2, False, 20)])
def test_direct_conv_matches_lax(kernel, dilation, stride, same, bins):
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.standard_normal((2, 3, bins, 9)), jnp.float32)
  w = jnp.asarray(rng.standard_normal(kernel + (3, 5)), jnp.float32)
  ours = lambda x, w: layers.direct_conv(x, w, dilation, stride, same)
  ref = lambda x, w: layers._lax_ckt(x, w, dilation, stride, same)
  np.testing.assert_allclose(jax.jit(ours)(x, w), ref(x, w), rtol=1e-5,
                             atol=1e-5)
  ct = jnp.asarray(rng.standard_normal(ref(x, w).shape), jnp.float32)
  got = jax.jit(lambda x, w: jax.vjp(ours, x, w)[1](ct))(x, w)
  for a, b in zip(got, jax.vjp(ref, x, w)[1](ct)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_direct_conv_refuses_kernels_it_cannot_differentiate():
  x = jnp.zeros((1, 2, 9, 5))
  with pytest.raises(ValueError, match='direct_conv handles'):
    layers.direct_conv(x, jnp.zeros((3, 3, 2, 2)), 1, 1, False)
  with pytest.raises(ValueError, match='direct_conv handles'):
    layers.direct_conv(x, jnp.zeros((2, 2, 2, 2)), 1, 1, True)


@pytest.mark.parametrize('bins', [9, 10, 1])
def test_direct_conv_transpose_matches_the_channels_last_one(bins):
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.standard_normal((2, 3, bins, 7)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((1, 4, 3, 5)), jnp.float32)
  flip = lambda a: jnp.transpose(a, (0, 3, 2, 1))  # noqa: E731
  ours = lambda x, w: layers.direct_conv_transpose(x, w, 2)  # noqa: E731
  def ref(x, w):
    return flip(layers.frequency_conv_transpose(flip(x), w, 2))
  np.testing.assert_allclose(ours(x, w), ref(x, w), rtol=1e-5, atol=1e-5)
  ct = jnp.asarray(rng.standard_normal(ref(x, w).shape), jnp.float32)
  for a, b in zip(jax.vjp(ours, x, w)[1](ct), jax.vjp(ref, x, w)[1](ct)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_conv_impl_auto_is_direct_on_cpu():
  assert layers.resolve_conv_impl('auto') == 'direct'  # tests run on CPU
  model = build_model(_model_cfg(), jax.random.key(0))
  assert model.encoder.channels_first and model.decoder.channels_first
  assert isinstance(model.encoder.conv_in, layers.ChannelsFirstConv)


def test_frequency_conv_transpose_matches_flax():
  rng = np.random.default_rng(1)
  for stride, kernel, bins in ((2, 4, 9), (1, 9, 9), (3, 4, 9), (1, 25, 1)):
    x = jnp.asarray(rng.standard_normal((2, 3, bins, 5)), jnp.float32)
    ref = nnx.ConvTranspose(5, 4, (1, kernel), strides=(1, stride),
                            padding='VALID', use_bias=False, rngs=nnx.Rngs(0))
    ours = layers.frequency_conv_transpose(x, ref.kernel[...], stride)
    np.testing.assert_allclose(ours, ref(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('variant', [
    dict(norm='post_block'),  # conv_impl 'auto': 'direct' (custom VJPs)
    # The other block kinds with 'gemm' (a shorter compile; remat does not
    # depend on how the convolutions run).
    dict(norm='pre_activation', skip_connections=True, conv_impl='gemm'),
    dict(norm='none', film=True, switch_channel=False, conv_impl='gemm'),
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


def test_one_registry_of_model_kinds_and_configs_without_the_key():
  from configs import majl_vocal  # pylint: disable=g-import-not-at-top
  from mpe_jax import models, systems, train  # pylint: disable=g-import-not-at-top
  vocal = majl_vocal.get_config('quick')
  assert models.model_kind(vocal.model) == 'joint_cascade'
  assert models.model_kind(ssmpe.get_config().model) == 'autoencoder'
  # A config written before ``model.kind`` existed: the kind of its keys.
  old = vocal.model.to_dict()
  old.pop('kind', None)
  assert models.model_kind(ml_collections.ConfigDict(old)) == 'joint_cascade'
  assert set(models.MODELS) == {k for s in systems.SYSTEMS.values()
                                for k in s.model_kinds}
  wrong = majl_vocal.get_config('quick')
  with wrong.unlocked():
    wrong.model.kind = 'autoencoder'
  with pytest.raises(ValueError, match="trains a model of kind "
                     "'joint_cascade'"):
    train.validate_config(wrong)
  with wrong.unlocked():
    wrong.model.kind = 'transformer'
  with pytest.raises(ValueError, match='must be one of'):
    build_model(wrong.model, jax.random.key(0))
