"""The Timbre-Trap fully convolutional 2-D autoencoder and its variants.

One class covers the three published configurations through ``config.model``:

* ``ssmpe``  -- SS-MPE: 6 HCQT channels in, 1 logit channel out, channels
  4..64, latent 128, LayerNorm after each encoder/decoder block
  (``norm='post_block'``); 545,189 parameters.
* ``ismir25`` -- doubled filters (8..128) and LayerNorm between each
  (strided/transposed) conv and its ELU (``norm='pre_activation'``);
  1,303,753 parameters.
* ``timbre_trap`` -- real/imaginary CQT in and out, no LayerNorm
  (``norm='none'``), a constant switch channel appended to the latent;
  614,490 parameters. Its ablations: ``film`` (a FiLM layer on the latent,
  conditioned on the one-hot mode, instead of the switch channel) and
  ``skip_connections`` (encoder features added to the decoder's, one
  learnable scalar weight per level, initialised to 1).

``WeightedAutoencoder`` adds MAJL's Dynamic Weight Module as a top-level
``dwm`` child (``config.model.dwm``); the backbone is unchanged.

Public layout is ``[batch, channel, bin, frame]``; internally the network runs
channels-last ``[batch, frame, bin, channel]``, except that with
``conv_impl='direct'`` (the CPU default) the full-resolution level -- input
conv, first encoder block, last decoder block, output conv -- stays in the
public layout (``layers.direct_conv``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from mpe_jax.models import layers
from mpe_jax.models.dwm import DynamicWeightModule

NORMS = ('none', 'post_block', 'pre_activation')


def frequency_sizes(n_bins: int, n_blocks: int = 4) -> list[int]:
  """Bins after each (4, 1) stride-2 valid conv: k -> (k - 4) // 2 + 1."""
  sizes = [n_bins]
  for _ in range(n_blocks):
    sizes.append((sizes[-1] - 4) // 2 + 1)
  return sizes


DEFAULT_DILATIONS = (1, 2, 3)


def residual_dilations(cfg: ml_collections.ConfigDict
                       ) -> tuple[tuple[int, ...], ...]:
  """Dilations of the residual blocks at each encoder level (the decoder
  mirrors them: its last block runs at level 0's resolution).

  ``cfg.residual_dilations`` lists one tuple per level (``len(channels) -
  1``); absent or empty, every level has the published three blocks,
  d = 1, 2, 3. An empty tuple leaves a level without residual blocks (only
  its strided conv), which is what makes a level cheap on a CPU.
  """
  levels = len(cfg.channels) - 1
  value = cfg.get('residual_dilations', None)
  if not value:
    return (DEFAULT_DILATIONS,) * levels
  value = tuple(tuple(int(d) for d in level) for level in value)
  if len(value) != levels or any(d < 1 for level in value for d in level):
    raise ValueError(
        f'model.residual_dilations needs one tuple of dilations >= 1 per '
        f'level ({levels} for channels {tuple(cfg.channels)}), got {value}')
  return value


def _dtype(name: str):
  return {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}[name]


def _to_other_layout(x: jax.Array) -> jax.Array:
  """[B, C, K, T] <-> [B, T, K, C]."""
  return jnp.transpose(x, (0, 3, 2, 1))


class Encoder(nnx.Module):
  """[B, C_in, K, T] -> latent [B, T, 1, latent]."""

  def __init__(self, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    dtype = _dtype(cfg.compute_dtype)
    ch = list(cfg.channels)
    sizes = frequency_sizes(cfg.n_bins, len(ch) - 1)
    self.norm = cfg.norm
    self.remat = layers.resolve_remat(cfg.get('remat', 'none'))
    impl = cfg.get('conv_impl', 'auto')
    # Whether the full-resolution level (conv_in, block 0) is [B, C, K, T].
    cf = self.channels_first = layers.resolve_conv_impl(impl) == 'direct'
    self.conv_in = layers.conv(cfg.in_channels, ch[0], (3, 3), rngs=rngs,
                               dtype=dtype, impl=impl, channels_first=cf)
    self.norm_in = (layers.FrameLayerNorm(sizes[0], ch[0], channels_first=cf)
                    if cfg.norm == 'pre_activation' else None)
    dilations = residual_dilations(cfg)
    self.blocks = nnx.List([
        layers.EncoderBlock(ch[i], ch[i + 1], sizes[i + 1], cfg.norm,
                            rngs=rngs, dtype=dtype, impl=impl,
                            channels_first=cf and i == 0,
                            dilations=dilations[i])
        for i in range(len(ch) - 1)])
    self.block_norms = nnx.List([
        layers.FrameLayerNorm(sizes[i + 1], ch[i + 1],
                              channels_first=cf and i == 0)
        for i in range(len(ch) - 1)]) if cfg.norm == 'post_block' else None
    self.latent = layers.conv(ch[-1], cfg.latent_size, (1, sizes[-1]),
                              padding='VALID', rngs=rngs, dtype=dtype,
                              impl=impl)
    self.latent_norm = (layers.FrameLayerNorm(1, cfg.latent_size)
                        if cfg.norm != 'none' else None)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.features(x)[0]

  def features(self, x: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
    """Latent and the embedding after the input conv and after each block
    (each in its level's layout: ``[B, C, K, T]`` for the full-resolution one
    when ``channels_first``, else ``[B, T, K, C]``)."""
    if not self.channels_first:
      x = _to_other_layout(x)
    x = self.conv_in(x)
    if self.norm_in is not None:
      x = self.norm_in(x)
    x = layers._elu(x)
    embeddings = [x]
    for i, block in enumerate(self.blocks):
      norm = self.block_norms[i] if self.block_norms is not None else None
      x = layers.call_block((block, norm), x, self.remat)
      if i == 0 and self.channels_first:
        x = _to_other_layout(x)
      embeddings.append(x)
    if self.channels_first and not self.blocks:
      x = _to_other_layout(x)
    z = self.latent(x)
    if self.latent_norm is not None:
      z = self.latent_norm(z)
    return z, embeddings


class Decoder(nnx.Module):
  """latent [B, T, 1, latent(+1)] -> [B, C_out, K, T] (no output activation)."""

  def __init__(self, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    dtype = _dtype(cfg.compute_dtype)
    impl = cfg.get('conv_impl', 'auto')
    self.remat = layers.resolve_remat(cfg.get('remat', 'none'))
    # Whether the full-resolution level (last block, conv_out) is [B, C, K, T].
    cf = self.channels_first = layers.resolve_conv_impl(impl) == 'direct'
    last = len(cfg.channels) - 2  # index of the block that ends at full size
    ch = list(cfg.channels)[::-1]
    sizes = frequency_sizes(cfg.n_bins, len(ch) - 1)[::-1]
    latent_in = cfg.latent_size + (1 if cfg.switch_channel else 0)
    # FiLM on the latent:
    # gamma, beta = Linear(one-hot [transcribe, reconstruct]).
    self.film_gamma = (layers.linear(2, cfg.latent_size, rngs=rngs)
                       if cfg.film else None)
    self.film_beta = (layers.linear(2, cfg.latent_size, rngs=rngs)
                      if cfg.film else None)
    # One weight per encoder embedding (input conv + each block).
    self.skip_weights = (nnx.Param(jnp.ones((len(ch),), jnp.float32))
                         if cfg.skip_connections else None)
    self.conv_in = layers.ConvTransposeFreq(latent_in, ch[0], sizes[0], 1, 0,
                                            rngs=rngs, dtype=dtype, impl=impl)
    self.norm_in = (layers.FrameLayerNorm(sizes[0], ch[0])
                    if cfg.norm != 'none' else None)
    self.pre_activation = cfg.norm == 'pre_activation'
    blocks, norms = [], []
    dilations = residual_dilations(cfg)[::-1]
    for i in range(len(ch) - 1):
      pad = sizes[i + 1] - (2 * sizes[i] + 2)  # 0 or 1 (odd bin counts)
      blocks.append(layers.DecoderBlock(ch[i], ch[i + 1], sizes[i + 1], pad,
                                        cfg.norm, rngs=rngs, dtype=dtype,
                                        impl=impl,
                                        channels_first=cf and i == last,
                                        dilations=dilations[i]))
      if cfg.norm == 'post_block':
        norms.append(layers.FrameLayerNorm(sizes[i + 1], ch[i + 1],
                                           channels_first=cf and i == last))
    self.blocks = nnx.List(blocks)
    self.block_norms = nnx.List(norms) if norms else None
    self.conv_out = layers.conv(ch[-1], cfg.out_channels, (3, 3), rngs=rngs,
                                dtype=dtype, impl=impl, channels_first=cf)

  def __call__(self, z: jax.Array,
               skips: list[jax.Array] | None = None) -> jax.Array:
    """``skips``: the encoder embeddings (``Encoder.features``), used when the
    decoder has skip connections: level ``i`` from the end is added, times its
    weight, after the input conv and after each block."""
    last = len(self.blocks) - 1
    x = self.conv_in(z)
    if self.norm_in is not None and self.pre_activation:
      x = self.norm_in(x)
    x = layers._elu(x)
    if self.norm_in is not None and not self.pre_activation:
      x = self.norm_in(x)
    x = self._skip(x, skips, -1)
    for i, block in enumerate(self.blocks):
      if i == last and self.channels_first:
        x = _to_other_layout(x)
      norm = self.block_norms[i] if self.block_norms is not None else None
      x = layers.call_block((block, norm), x, self.remat)
      x = self._skip(x, skips, -2 - i)
    if self.channels_first and not self.blocks:
      x = _to_other_layout(x)
    y = self.conv_out(x)
    return y if self.channels_first else _to_other_layout(y)

  def _skip(self, x: jax.Array, skips: list[jax.Array] | None,
            level: int) -> jax.Array:
    if self.skip_weights is None:
      return x
    if skips is None:
      raise ValueError('this decoder has skip connections: pass the encoder '
                       'embeddings (Autoencoder.encode).')
    w = self.skip_weights[...][level]
    return x + (w * skips[level]).astype(x.dtype)

  def condition(self, z: jax.Array, switch: jax.Array) -> jax.Array:
    """FiLM of latent ``[B, T, 1, D]`` by switch ``[B]`` (1 = reconstruct)."""
    one_hot = jnp.stack([1.0 - switch, switch], axis=-1).astype(jnp.float32)
    gamma = self.film_gamma(one_hot)[:, None, None, :]  # [B, 1, 1, D]
    beta = self.film_beta(one_hot)[:, None, None, :]
    return (z * gamma + beta).astype(z.dtype)


class Autoencoder(nnx.Module):
  """Salience autoencoder: ``[B, C_in, K, T] -> logits``.

  Returns ``[B, K, T]`` when ``out_channels == 1`` and ``[B, C_out, K, T]``
  otherwise. With ``switch_channel`` or ``film`` the call takes ``switch``
  (0 = transcribe, 1 = reconstruct; scalar or ``[B]``): appended to the latent
  as one constant channel, or turned into FiLM scale/shift of the latent.
  ``encode``/``decode`` split the call so that one encoding can be decoded in
  both modes.
  """

  def __init__(self, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    if cfg.norm not in NORMS:
      raise ValueError(f'model.norm must be one of {NORMS}, got {cfg.norm!r}')
    if cfg.film and cfg.switch_channel:
      raise ValueError('model.film replaces the switch channel: set '
                       'model.switch_channel=False when model.film=True.')
    self.encoder = Encoder(cfg, rngs=rngs)
    self.decoder = Decoder(cfg, rngs=rngs)
    self.switch_channel = bool(cfg.switch_channel)
    self.film = bool(cfg.film)
    self.skip_connections = bool(cfg.skip_connections)
    self.out_channels = int(cfg.out_channels)
    self.compute_dtype = _dtype(cfg.compute_dtype)

  @property
  def conditioned(self) -> bool:
    """Whether calls need ``switch`` (switch channel or FiLM)."""
    return self.switch_channel or self.film

  def encode(self, x: jax.Array) -> tuple[jax.Array, list[jax.Array] | None]:
    """``[B, C_in, K, T]`` -> (latent ``[B, T, 1, D]``, encoder embeddings).

    The embeddings (``Encoder.features``) are returned only with skip
    connections.
    """
    h = x.astype(self.compute_dtype)
    if not self.skip_connections:
      return self.encoder(h), None
    return self.encoder.features(h)

  def decode(self, z: jax.Array, switch: jax.Array | float | None = None,
             skips: list[jax.Array] | None = None) -> jax.Array:
    """Latent (+ embeddings) -> output, in the layout of ``__call__``."""
    if self.conditioned:
      if switch is None:
        raise ValueError('this model needs switch= (0 transcribe, '
                         '1 reconstruct)')
      s = jnp.broadcast_to(jnp.asarray(switch, jnp.float32).reshape(-1),
                           (z.shape[0],))
      if self.film:
        z = self.decoder.condition(z, s)
      else:
        s = jnp.broadcast_to(s.astype(z.dtype)[:, None, None, None],
                             z.shape[:-1] + (1,))
        z = jnp.concatenate([z, s], axis=-1)
    y = self.decoder(z, skips).astype(jnp.float32)  # [B, C_out, K, T]
    return y[:, 0] if self.out_channels == 1 else y

  def __call__(self, x: jax.Array, switch: jax.Array | float | None = None
               ) -> jax.Array:
    z, skips = self.encode(x)
    return self.decode(z, switch, skips)


class WeightedAutoencoder(Autoencoder):
  """The autoencoder plus MAJL's Dynamic Weight Module (``self.dwm``).

  The DWM is a top-level child next to ``encoder`` and ``decoder``, so its
  parameters form their own group ('dwm') with its own learning rate. It is
  built after the backbone from the same ``rngs``: the backbone's parameters
  are the ones ``Autoencoder`` draws for the same key. Calls, ``encode`` and
  ``decode`` are the backbone's (inference never touches the DWM).
  """

  def __init__(self, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    super().__init__(cfg, rngs=rngs)
    self.dwm = DynamicWeightModule(cfg.dwm, rngs=rngs)
