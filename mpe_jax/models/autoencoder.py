"""The Timbre-Trap fully convolutional 2-D autoencoder and its variants.

One class covers the three published configurations through ``config.model``:

* ``ssmpe``  -- SS-MPE: 6 HCQT channels in, 1 logit channel out, channels
  4..64, latent 128, LayerNorm after each encoder/decoder block
  (``norm='post_block'``); 545,189 parameters.
* ``ismir25`` -- doubled filters (8..128) and LayerNorm between each
  (strided/transposed) conv and its ELU (``norm='pre_activation'``);
  1,303,753 parameters.
* ``timbre_trap`` -- real/imaginary CQT in and out, no LayerNorm
  (``norm='none'``), a constant switch channel appended to the latent.

Public layout is ``[batch, channel, bin, frame]``; internally the network runs
channels-last ``[batch, frame, bin, channel]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from mpe_jax.models import layers

NORMS = ('none', 'post_block', 'pre_activation')


def frequency_sizes(n_bins: int, n_blocks: int = 4) -> list[int]:
  """Bins after each (4, 1) stride-2 valid conv: k -> (k - 4) // 2 + 1."""
  sizes = [n_bins]
  for _ in range(n_blocks):
    sizes.append((sizes[-1] - 4) // 2 + 1)
  return sizes


def _dtype(name: str):
  return {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}[name]


class Encoder(nnx.Module):
  """[B, T, K, C_in] -> latent [B, T, 1, latent]."""

  def __init__(self, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    dtype = _dtype(cfg.compute_dtype)
    ch = list(cfg.channels)
    sizes = frequency_sizes(cfg.n_bins, len(ch) - 1)
    self.norm = cfg.norm
    self.conv_in = layers.conv(cfg.in_channels, ch[0], (3, 3), rngs=rngs,
                               dtype=dtype)
    self.norm_in = (layers.FrameLayerNorm(sizes[0], ch[0])
                    if cfg.norm == 'pre_activation' else None)
    self.blocks = nnx.List([
        layers.EncoderBlock(ch[i], ch[i + 1], sizes[i + 1], cfg.norm,
                            rngs=rngs, dtype=dtype)
        for i in range(len(ch) - 1)])
    self.block_norms = nnx.List([
        layers.FrameLayerNorm(sizes[i + 1], ch[i + 1])
        for i in range(len(ch) - 1)]) if cfg.norm == 'post_block' else None
    self.latent = layers.conv(ch[-1], cfg.latent_size, (1, sizes[-1]),
                              padding='VALID', rngs=rngs, dtype=dtype)
    self.latent_norm = (layers.FrameLayerNorm(1, cfg.latent_size)
                        if cfg.norm != 'none' else None)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = self.conv_in(x)
    if self.norm_in is not None:
      x = self.norm_in(x)
    x = layers._elu(x)
    for i, block in enumerate(self.blocks):
      x = block(x)
      if self.block_norms is not None:
        x = self.block_norms[i](x)
    z = self.latent(x)
    if self.latent_norm is not None:
      z = self.latent_norm(z)
    return z


class Decoder(nnx.Module):
  """latent [B, T, 1, latent(+1)] -> [B, T, K, C_out] (no output activation)."""

  def __init__(self, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    dtype = _dtype(cfg.compute_dtype)
    ch = list(cfg.channels)[::-1]
    sizes = frequency_sizes(cfg.n_bins, len(ch) - 1)[::-1]
    latent_in = cfg.latent_size + (1 if cfg.switch_channel else 0)
    self.conv_in = layers.ConvTransposeFreq(latent_in, ch[0], sizes[0], 1, 0,
                                            rngs=rngs, dtype=dtype)
    self.norm_in = (layers.FrameLayerNorm(sizes[0], ch[0])
                    if cfg.norm != 'none' else None)
    self.pre_activation = cfg.norm == 'pre_activation'
    blocks, norms = [], []
    for i in range(len(ch) - 1):
      pad = sizes[i + 1] - (2 * sizes[i] + 2)  # 0 or 1 (odd bin counts)
      blocks.append(layers.DecoderBlock(ch[i], ch[i + 1], sizes[i + 1], pad,
                                        cfg.norm, rngs=rngs, dtype=dtype))
      if cfg.norm == 'post_block':
        norms.append(layers.FrameLayerNorm(sizes[i + 1], ch[i + 1]))
    self.blocks = nnx.List(blocks)
    self.block_norms = nnx.List(norms) if norms else None
    self.conv_out = layers.conv(ch[-1], cfg.out_channels, (3, 3), rngs=rngs,
                                dtype=dtype)

  def __call__(self, z: jax.Array) -> jax.Array:
    x = self.conv_in(z)
    if self.norm_in is not None and self.pre_activation:
      x = self.norm_in(x)
    x = layers._elu(x)
    if self.norm_in is not None and not self.pre_activation:
      x = self.norm_in(x)
    for i, block in enumerate(self.blocks):
      x = block(x)
      if self.block_norms is not None:
        x = self.block_norms[i](x)
    return self.conv_out(x)


class Autoencoder(nnx.Module):
  """Salience autoencoder: ``[B, C_in, K, T] -> logits``.

  Returns ``[B, K, T]`` when ``out_channels == 1`` and ``[B, C_out, K, T]``
  otherwise. With ``switch_channel`` the call takes ``switch`` (0 = transcribe,
  1 = reconstruct; scalar or ``[B]``), appended to the latent as one channel.
  """

  def __init__(self, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    if cfg.norm not in NORMS:
      raise ValueError(f'model.norm must be one of {NORMS}, got {cfg.norm!r}')
    self.encoder = Encoder(cfg, rngs=rngs)
    self.decoder = Decoder(cfg, rngs=rngs)
    self.switch_channel = bool(cfg.switch_channel)
    self.out_channels = int(cfg.out_channels)
    self.compute_dtype = _dtype(cfg.compute_dtype)

  def __call__(self, x: jax.Array, switch: jax.Array | float | None = None
               ) -> jax.Array:
    h = jnp.transpose(x, (0, 3, 2, 1)).astype(self.compute_dtype)  # [B,T,K,C]
    z = self.encoder(h)  # [B, T, 1, latent]
    if self.switch_channel:
      if switch is None:
        raise ValueError('this model needs switch= (0 transcribe, 1 reconstruct)')
      s = jnp.broadcast_to(jnp.asarray(switch, z.dtype).reshape(-1, 1, 1, 1),
                           z.shape[:-1] + (1,))
      z = jnp.concatenate([z, s], axis=-1)
    y = self.decoder(z).astype(jnp.float32)  # [B, T, K, C_out]
    y = jnp.transpose(y, (0, 3, 2, 1))  # [B, C_out, K, T]
    return y[:, 0] if self.out_channels == 1 else y
