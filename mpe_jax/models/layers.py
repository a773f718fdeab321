"""Building blocks of the Timbre-Trap convolutional autoencoder.

All tensors are channels-last and time-major: ``[batch, frame, bin, channel]``.
Frequency (``bin``) is the only axis that is ever resampled; time keeps its
length through the whole network ('same' padding, width-1 strided kernels).

Initialisation follows PyTorch's defaults (uniform in ``±1/sqrt(fan_in)`` for
kernels and biases), the setting the published systems were trained with.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from flax.nnx.nn import dtypes as nnx_dtypes


def _elu(x: jax.Array) -> jax.Array:
  """ELU(alpha=1) written with exp on the clamped negative part."""
  return jnp.where(x > 0, x, jnp.exp(jnp.minimum(x, 0.0)) - 1.0)


def _torch_uniform(fan_in: int) -> nnx.Initializer:
  """PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(max(fan_in, 1))

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


# ------------------------------------------------------ convolution paths ---
# XLA:CPU turns the weight gradients of the frequency-strided (1, 4) kernels
# (down- and up-sampling) into convolutions whose window is the whole feature
# map, its slowest operations in this network (bench/profile_step.py), and
# runs the 3x3 kernels on the 4-channel full-resolution maps at 4-7 GFLOP/s.
# CONV_IMPLS names the ways to run them: 'xla' is lax.conv_general_dilated /
# conv_transpose throughout; 'gemm' evaluates 1x1 kernels, (1, k) 'VALID'
# frequency-strided kernels and their transposes as matrix products over
# strided slices (whose gradients are matrix products too), and leaves the
# 3x3 kernels to XLA; 'direct' is 'gemm' plus the full-resolution level (the
# input convolution, the first encoder block, the last decoder block, the
# output convolution) run in the public layout [batch, channel, bin, frame]
# with every convolution written out as a sum of weight x shifted slice, which
# XLA fuses into one vectorised loop over the contiguous frame axis (about 10x
# faster than its convolution there; bench/RESULTS.md). All compute the same
# function and gradients; 'auto' picks 'direct' on CPU and 'xla' elsewhere.
CONV_IMPLS = ('auto', 'xla', 'gemm', 'direct')
_NHWC = ('NHWC', 'HWIO', 'NHWC')


def _frequency_conv(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
  """A (1, k) 'VALID' kernel with frequency stride ``stride`` as one matmul."""
  _, k, c_in, c_out = w.shape
  bins = (x.shape[2] - k) // stride + 1
  span = stride * (bins - 1) + 1
  cols = jnp.concatenate([x[:, :, d:d + span:stride] for d in range(k)],
                         axis=-1)  # [B, T, bins, k * C_in]
  return jnp.einsum('btkp,po->btko', cols, w.reshape(k * c_in, c_out))


def frequency_conv_transpose(x: jax.Array, w: jax.Array, stride: int
                             ) -> jax.Array:
  """``nnx.ConvTranspose`` with kernel (1, k), stride (1, s), 'VALID' padding.

  Tap ``d`` of the kernel carries input bin ``i`` to output bin
  ``s * i + k - 1 - d``. When ``s > 1`` divides ``k``, one matmul gives every
  tap's product; with ``e = k - 1 - d = s * j + r``, output bin ``s * m + r``
  sums the products of bins ``m - j`` for ``j < k / s``, so each ``j`` is a
  shifted block and the residues ``r`` interleave by a reshape. Otherwise
  each tap is one matmul placed by interior padding (whose gradient, strided
  slices, was 2-3x slower on XLA:CPU). ``x``: ``[B, T, K, C_in]``; ``w``:
  ``[1, k, C_in, C_out]``; returns ``[B, T, s * (K - 1) + k, C_out]``.
  """
  _, k, _, c_out = w.shape
  batch, frames, bins, _ = x.shape
  if bins == 1:  # the latent: output bin k - 1 - d is tap d, one matmul
    return jnp.einsum('btc,dco->btdo', x[:, :, 0], w[0, ::-1])
  if stride > 1 and k % stride == 0:
    per = k // stride
    z = jnp.einsum('btkc,eco->btkeo', x, w[0, ::-1])  # [B, T, K, k, O] by e
    y = None
    for j in range(per):
      zj = jnp.pad(z[:, :, :, stride * j:stride * (j + 1)],
                   ((0, 0), (0, 0), (j, per - 1 - j), (0, 0), (0, 0)))
      y = zj if y is None else y + zj
    return y.reshape(batch, frames, (bins + per - 1) * stride, c_out)
  out_bins = stride * (bins - 1) + k
  zero = jnp.zeros((), x.dtype)
  y = None
  for d in range(k):
    z = jnp.einsum('btkc,co->btko', x, w[0, d])
    low = k - 1 - d
    high = out_bins - low - (stride * (bins - 1) + 1)
    z = jax.lax.pad(z, zero, ((0, 0, 0), (0, 0, 0), (low, high, stride - 1),
                              (0, 0, 0)))
    y = z if y is None else y + z
  return y


def gemm_conv_general_dilated(lhs, rhs, window_strides, padding,
                              lhs_dilation=None, rhs_dilation=None,
                              dimension_numbers=None, feature_group_count=1,
                              precision=None, **kwargs):
  """``lax.conv_general_dilated`` with the 'gemm' paths where they apply."""
  strides = tuple(window_strides)
  dilation = tuple(rhs_dilation or (1, 1))
  plain = (lhs.ndim == 4 and feature_group_count == 1 and not kwargs.get(
      'preferred_element_type') and tuple(lhs_dilation or (1, 1)) == (1, 1)
           and dimension_numbers == jax.lax.conv_dimension_numbers(
               lhs.shape, rhs.shape, _NHWC))
  kh, kw = rhs.shape[:2]
  if (plain and strides == (1, 1) and (kh, kw) == (1, 1)
      and padding in ('SAME', 'VALID')):
    return jnp.einsum('btkc,co->btko', lhs, rhs[0, 0])
  if (plain and padding == 'VALID' and kh == 1 and strides[0] == 1
      and dilation == (1, 1)):
    return _frequency_conv(lhs, rhs, strides[1])
  return jax.lax.conv_general_dilated(
      lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
      rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
      feature_group_count=feature_group_count, precision=precision, **kwargs)


# ------------------------------------- channels-first direct convolutions ---
# Layout [batch, channel, bin, frame]; kernels keep the channels-last model's
# HWIO layout [frame tap, bin tap, C_in, C_out] so that parameters (and
# checkpoints) do not depend on conv_impl. Forward passes and input gradients
# are unrolled sums of weight x shifted slice (one fused loop); weight
# gradients are XLA's own convolution gradients in this layout, which are fast,
# except the 1x1 kernels', which are per-item matrix products.
_CKT = ('NCHW', 'HWIO', 'NCHW')  # H = bin, W = frame


def _direct_sum(x: jax.Array, w: jax.Array, dilation: int, stride: int,
                same: bool) -> jax.Array:
  """sum_{c, a, b} w[a, b, c, o] * x[:, c, stride * k + b * dilation, t + a *
  dilation] for every output channel ``o``; zero padding of ``(kernel - 1) //
  2 * dilation`` on both axes when ``same``."""
  _, c_in, bins, frames = x.shape
  kt, kk, _, c_out = w.shape
  if same:
    pk, pt = (kk - 1) // 2 * dilation, (kt - 1) // 2 * dilation
    x = jnp.pad(x, ((0, 0), (0, 0), (pk, pk), (pt, pt)))
    out_frames = frames
  else:
    out_frames = frames - (kt - 1) * dilation
  out_bins = (x.shape[2] - (kk - 1) * dilation - 1) // stride + 1
  span = stride * (out_bins - 1) + 1
  slices = {(a, b, c): x[:, c, b * dilation:b * dilation + span:stride,
                         a * dilation:a * dilation + out_frames]
            for a in range(kt) for b in range(kk) for c in range(c_in)}
  outs = []
  for o in range(c_out):
    acc = None
    for (a, b, c), xs in slices.items():
      term = w[a, b, c, o] * xs
      acc = term if acc is None else acc + term
    outs.append(acc)
  return jnp.stack(outs, axis=1)


def _direct_transpose(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
  """``frequency_conv_transpose`` in ``[B, C, K, T]``: tap ``d`` carries bin
  ``i`` to bin ``stride * i + k - 1 - d``. Output bins ``stride * (K - 1) +
  k``; needs ``k % stride == 0``. Each output residue mod ``stride`` is a
  direct sum over its taps; the residues are interleaved by a reshape."""
  batch, c_in, bins, frames = x.shape
  _, k, _, c_out = w.shape
  per = k // stride  # taps per residue
  n = bins - 1 + per  # output bins per residue
  xp = jnp.pad(x, ((0, 0), (0, 0), (per - 1, per - 1), (0, 0)))
  residues = []
  for r in range(stride):
    taps = [d for d in range(k) if (k - 1 - d) % stride == r]
    outs = []
    for o in range(c_out):
      acc = None
      for d in taps:
        q = (k - 1 - d) // stride  # out[s * j + r] <- x[j - q]
        for c in range(c_in):
          term = w[0, d, c, o] * xp[:, c, per - 1 - q:per - 1 - q + n]
          acc = term if acc is None else acc + term
      outs.append(acc)
    residues.append(jnp.stack(outs, axis=1))  # [B, O, n, T]
  y = jnp.stack(residues, axis=3)  # [B, O, n, stride, T]
  return y.reshape(batch, c_out, n * stride, frames)


def _lax_ckt(x: jax.Array, w: jax.Array, dilation: int, stride: int,
             same: bool) -> jax.Array:
  """``_direct_sum`` by ``lax.conv_general_dilated`` (for weight gradients)."""
  return jax.lax.conv_general_dilated(
      x, jnp.transpose(w, (1, 0, 2, 3)), (stride, 1),
      'SAME' if same else 'VALID', rhs_dilation=(dilation, dilation),
      dimension_numbers=_CKT)


def _flip_transpose(w: jax.Array) -> jax.Array:
  """Kernel of the adjoint: taps reversed, C_in and C_out swapped."""
  return jnp.transpose(w[::-1, ::-1], (0, 1, 3, 2))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def direct_conv(x: jax.Array, w: jax.Array, dilation: int = 1,
                stride: int = 1, same: bool = True) -> jax.Array:
  """Convolution of ``x [B, C_in, K, T]`` with ``w [kt, kk, C_in, C_out]``
  (frame, bin taps) -> ``[B, C_out, K', T']``, as unrolled sums.

  Two cases: odd kernels with 'SAME' padding, stride 1 and ``dilation`` on
  both axes (the 3x3 and 1x1 convolutions), or 'VALID' (``same=False``)
  kernels with frequency stride ``stride`` and no dilation (the (1, 4)
  down-sampling). Same function as ``lax.conv_general_dilated``.

  Raises:
    ValueError: another kind of kernel (its gradient would be wrong).
  """
  _check_direct(w.shape, dilation, stride, same)
  return _direct_sum(x, w, dilation, stride, same)


def _check_direct(shape: tuple[int, ...], dilation: int, stride: int,
                  same: bool) -> None:
  kt, kk = shape[:2]
  if same:
    ok = kt % 2 == 1 and kk % 2 == 1 and stride == 1
  else:
    ok = kt == 1 and dilation == 1 and kk % stride == 0
  if not ok:
    raise ValueError(
        f'direct_conv handles odd "SAME" kernels with stride 1, or (1, k) '
        f'"VALID" kernels with k % stride == 0; got kernel {(kt, kk)}, '
        f'dilation {dilation}, stride {stride}, same={same}.')


def _direct_conv_fwd(x, w, dilation, stride, same):
  _check_direct(w.shape, dilation, stride, same)
  return _direct_sum(x, w, dilation, stride, same), (x, w)


def _direct_conv_bwd(dilation, stride, same, saved, g):
  x, w = saved
  if same:
    dx = _direct_sum(g, _flip_transpose(w), dilation, 1, True)
  else:  # frequency-strided 'VALID' (1, k): the adjoint is the transpose
    dx = _direct_transpose(g, _flip_transpose(w), stride)
    dx = jnp.pad(dx, ((0, 0), (0, 0), (0, x.shape[2] - dx.shape[2]), (0, 0)))
  if w.shape[:2] == (1, 1):
    dw = _pointwise_weight_grad(x, g)[None, None]
  else:
    dw = jax.vjp(lambda v: _lax_ckt(x, v, dilation, stride, same), w)[1](g)[0]
  return dx.astype(x.dtype), dw.astype(w.dtype)


def _pointwise_weight_grad(x: jax.Array, g: jax.Array) -> jax.Array:
  """Gradient ``[C_in, C_out]`` of a 1x1 kernel: sum over batch, bins and
  frames of ``x [B, C_in, K, T]`` times ``g [B, C_out, K, T]``, one matrix
  product per item over the flattened bins x frames (no layout change; XLA's
  convolution gradient took 2-4x longer at ``[12, 4, 440, 345]``)."""
  b, c_in = x.shape[:2]
  per_item = jax.lax.dot_general(
      x.reshape(b, c_in, -1), g.reshape(b, g.shape[1], -1),
      (((2,), (2,)), ((0,), (0,))), preferred_element_type=jnp.float32)
  return per_item.sum(0)


direct_conv.defvjp(_direct_conv_fwd, _direct_conv_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def direct_conv_transpose(x: jax.Array, w: jax.Array, stride: int
                          ) -> jax.Array:
  """``frequency_conv_transpose`` for ``x [B, C_in, K, T]``, kernel
  ``w [1, k, C_in, C_out]`` (``k % stride == 0``) -> ``[B, C_out,
  stride * (K - 1) + k, T]``."""
  return _direct_transpose(x, w, stride)


def _direct_conv_transpose_fwd(x, w, stride):
  return _direct_transpose(x, w, stride), (x, w)


def _direct_conv_transpose_bwd(stride, saved, g):
  x, w = saved
  # <T_w x, g> = <x, S_v g>: S_v the strided convolution with v = the
  # adjoint kernel; so dx = S_v g, and dw is dv mapped back the same way.
  adjoint = _flip_transpose(w)  # [1, k, C_out, C_in]
  dx = _direct_sum(g, adjoint, 1, stride, False)
  dv = jax.vjp(lambda v: _lax_ckt(g, v, 1, stride, False), adjoint)[1](x)[0]
  return dx.astype(x.dtype), _flip_transpose(dv).astype(w.dtype)


direct_conv_transpose.defvjp(_direct_conv_transpose_fwd,
                             _direct_conv_transpose_bwd)


class ChannelsFirstConv(nnx.Conv):
  """``nnx.Conv`` (same parameters and initialisation) applied to
  ``[B, C, K, T]`` by ``direct_conv``: 'SAME' odd kernels with stride 1, or
  'VALID' kernels with frequency stride and no time extent beyond 1."""

  def __call__(self, x: jax.Array) -> jax.Array:
    x, kernel, bias = nnx_dtypes.promote_dtype(
        (x, self.kernel[...], self.bias[...]), dtype=self.dtype)
    strides = tuple(self.strides or (1, 1))
    dilation = self.kernel_dilation
    d = int(dilation if isinstance(dilation, int) else (dilation or (1,))[0])
    y = direct_conv(x, kernel, d, int(strides[1]), self.padding == 'SAME')
    return y + bias[:, None, None]


# ------------------------------------------------------ rematerialisation ---
# REMATS names what the backward pass recomputes instead of keeping: 'none'
# keeps every activation; 'blocks' keeps only each encoder/decoder block's
# input and recomputes the block (three residual blocks, the strided conv and
# the LayerNorm after it) when the backward pass reaches it. Same function and
# gradients, about one more forward pass of compute, a fraction of the
# activation memory; reverse-mode differentiation only (a custom VJP).
#
# Not jax.checkpoint: XLA:CPU drops its optimisation barriers before
# scheduling and then runs every recomputation right after the forward pass,
# keeping all of them alive (SS-MPE step at batch 4: temporaries 7.07 ->
# 6.84 GB). Here the backward rule makes the block's input depend on the
# incoming cotangent (adding 0 * one cotangent value per item), so the
# recomputation cannot run before the cotangent exists: 1.54 GB.
# 'auto' is 'blocks' on CPU, where it measured no slower as well as smaller
# (bench/RESULTS.md), and 'none' on accelerators (not measured there).
REMATS = ('auto', 'none', 'blocks')


def _apply(modules: tuple[nnx.Module, ...], x: jax.Array) -> jax.Array:
  for module in modules:
    x = module(x)
  return x


def _recomputed_call(modules: tuple[nnx.Module, ...], x: jax.Array
                     ) -> jax.Array:
  graphdef, state = nnx.split(modules)

  def apply(state, x):
    return _apply(nnx.merge(graphdef, state), x)

  @jax.custom_vjp
  def run(state, x):
    return apply(state, x)

  def run_fwd(state, x):
    return apply(state, x), (state, x)

  def run_bwd(saved, cotangent):
    state, x = saved
    # [B, 1, 1, 1]: per item, so a batch-sharded step stays local.
    after = cotangent[:, :1, :1, :1].astype(x.dtype) * 0
    return jax.vjp(apply, state, x + after)[1](cotangent)

  run.defvjp(run_fwd, run_bwd)
  return run(state, x)


def _resolve_auto(key: str, value: str, choices: tuple[str, ...], cpu: str,
                  accelerator: str) -> str:
  """``value`` checked against ``choices``; 'auto' becomes ``cpu`` on the CPU
  backend and ``accelerator`` elsewhere."""
  if value not in choices:
    raise ValueError(f'config.model.{key} must be one of {choices}, '
                     f'got {value!r}')
  if value == 'auto':
    return cpu if jax.default_backend() == 'cpu' else accelerator
  return value


def resolve_remat(remat: str) -> str:
  """'auto' -> 'blocks' on CPU, 'none' on accelerators."""
  return _resolve_auto('remat', remat, REMATS, 'blocks', 'none')


def call_block(modules: Sequence[nnx.Module | None], x: jax.Array,
               remat: str) -> jax.Array:
  """The ``modules`` applied in turn to ``x [B, T, K, C]`` (``None`` skipped);
  with ``remat='blocks'`` their activations are recomputed in the backward
  pass instead of kept (reverse-mode differentiation only)."""
  modules = tuple(m for m in modules if m is not None)
  if remat == 'blocks':
    return _recomputed_call(modules, x)
  return _apply(modules, x)


def resolve_conv_impl(impl: str) -> str:
  """'auto' -> 'direct' on CPU, 'xla' on accelerators."""
  return _resolve_auto('conv_impl', impl, CONV_IMPLS, 'direct', 'xla')


def conv(in_ch: int, out_ch: int, kernel: Sequence[int], *, rngs: nnx.Rngs,
         strides: Sequence[int] = (1, 1), dilation: Sequence[int] = (1, 1),
         padding: str | Sequence[tuple[int, int]] = 'SAME',
         dtype=None, impl: str = 'auto',
         channels_first: bool = False) -> nnx.Conv:
  """A 2-D convolution over ``[frame, bin]`` with PyTorch-style init.

  ``impl`` is one of ``CONV_IMPLS`` (how it is evaluated, not what). With
  ``channels_first`` it takes and returns ``[B, C, K, T]`` (a
  ``ChannelsFirstConv``, same parameters) instead of ``[B, T, K, C]``.
  """
  fan_in = in_ch * int(kernel[0]) * int(kernel[1])
  routine = (jax.lax.conv_general_dilated if resolve_conv_impl(impl) == 'xla'
             else gemm_conv_general_dilated)
  return (ChannelsFirstConv if channels_first else nnx.Conv)(
      in_ch, out_ch, tuple(kernel), strides=tuple(strides), padding=padding,
      kernel_dilation=tuple(dilation), kernel_init=_torch_uniform(fan_in),
      bias_init=_torch_uniform(fan_in), dtype=dtype, rngs=rngs,
      conv_general_dilated=routine)


def linear(in_features: int, out_features: int, *, rngs: nnx.Rngs,
           dtype=None) -> nnx.Linear:
  """A dense layer with PyTorch's default ``nn.Linear`` init."""
  return nnx.Linear(in_features, out_features,
                    kernel_init=_torch_uniform(in_features),
                    bias_init=_torch_uniform(in_features), dtype=dtype,
                    rngs=rngs)


class ConvTransposeFreq(nnx.Module):
  """Transposed convolution that upsamples frequency by ``stride``.

  Matches ``torch.nn.ConvTranspose2d(kernel=(k, 1), stride=(s, 1),
  output_padding=(p, 0))``: output bins = (bins - 1) * s + k + p, where the
  ``p`` trailing bins receive the bias only. ``[B, T, K, C]``, or
  ``[B, C, K, T]`` with ``channels_first``.
  """

  def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int,
               output_padding: int, *, rngs: nnx.Rngs, dtype=None,
               impl: str = 'auto', channels_first: bool = False):
    # PyTorch computes fan_in of a transposed conv from weight.size(1) * k,
    # i.e. from the *output* channels.
    fan_in = out_ch * kernel
    self.conv = nnx.ConvTranspose(
        in_ch, out_ch, (1, kernel), strides=(1, stride), padding='VALID',
        use_bias=False, kernel_init=_torch_uniform(fan_in), dtype=dtype,
        rngs=rngs)
    self.bias = nnx.Param(_torch_uniform(fan_in)(rngs.params(), (out_ch,)))
    self.output_padding = output_padding
    self.stride = stride
    self.gemm = resolve_conv_impl(impl) != 'xla'
    self.channels_first = channels_first

  def __call__(self, x: jax.Array) -> jax.Array:
    if self.channels_first:
      x, kernel, bias = nnx_dtypes.promote_dtype(
          (x, self.conv.kernel[...], self.bias[...]), dtype=self.conv.dtype)
      y = direct_conv_transpose(x, kernel, self.stride)
      if self.output_padding:
        y = jnp.pad(y, ((0, 0), (0, 0), (0, self.output_padding), (0, 0)))
      return y + bias[:, None, None]
    if self.gemm:
      x, kernel = nnx_dtypes.promote_dtype((x, self.conv.kernel[...]),
                                           dtype=self.conv.dtype)
      y = frequency_conv_transpose(x, kernel, self.stride)
    else:
      y = self.conv(x)
    if self.output_padding:
      y = jnp.pad(y, ((0, 0), (0, 0), (0, self.output_padding), (0, 0)))
    return y + self.bias[...].astype(y.dtype)


class FrameLayerNorm(nnx.Module):
  """LayerNorm of each frame over ``[bin, channel]`` jointly.

  The affine parameters have shape ``[bins, channels]`` (elementwise), as in
  the reference's permuted ``LayerNorm([C, K])``; eps = 1e-5. Input
  ``[B, T, K, C]``, or ``[B, C, K, T]`` with ``channels_first``.
  """

  def __init__(self, bins: int, channels: int, *, eps: float = 1e-5,
               channels_first: bool = False):
    self.scale = nnx.Param(jnp.ones((bins, channels), jnp.float32))
    self.bias = nnx.Param(jnp.zeros((bins, channels), jnp.float32))
    self.eps = eps
    self.channels_first = channels_first

  def __call__(self, x: jax.Array) -> jax.Array:
    # Statistics in float32 even under bf16 compute.
    xf = x.astype(jnp.float32)
    scale, bias = self.scale[...], self.bias[...]
    if self.channels_first:  # [B, C, K, T]; [K, C] -> [C, K, 1]
      # Statistics as contractions with a constant vector: XLA:CPU's fused
      # reductions over axes (1, 2) gave wrong input gradients for all but the
      # first item inside a compiled autoencoder (tests/test_models.py).
      n = xf.shape[1] * xf.shape[2]
      ones = jnp.full((xf.shape[1], xf.shape[2]), 1.0 / n, jnp.float32)
      mean = jnp.einsum('bckt,ck->bt', xf, ones)[:, None, None]
      centred = xf - mean
      var = jnp.einsum('bckt,ck->bt', jnp.square(centred), ones)[:, None, None]
      scale, bias = scale.T[:, :, None], bias.T[:, :, None]
    else:
      mean = jnp.mean(xf, axis=(-2, -1), keepdims=True)
      centred = xf - mean
      var = jnp.mean(jnp.square(centred), axis=(-2, -1), keepdims=True)
    y = centred * jax.lax.rsqrt(var + self.eps)
    y = y * scale + bias
    return y.astype(x.dtype)


class ResidualBlock(nnx.Module):
  """Conv 3x3 (dilation d on both axes) -> ELU -> Conv 1x1 -> ELU, + input."""

  def __init__(self, channels: int, dilation: int, *, rngs: nnx.Rngs,
               dtype=None, impl: str = 'auto', channels_first: bool = False):
    self.conv1 = conv(channels, channels, (3, 3), dilation=(dilation, dilation),
                      rngs=rngs, dtype=dtype, impl=impl,
                      channels_first=channels_first)
    self.conv2 = conv(channels, channels, (1, 1), rngs=rngs, dtype=dtype,
                      impl=impl, channels_first=channels_first)

  def __call__(self, x: jax.Array) -> jax.Array:
    y = _elu(self.conv1(x))
    y = _elu(self.conv2(y))
    return x + y


class EncoderBlock(nnx.Module):
  """Residual blocks (dilations ``dilations``, default d = 1, 2, 3) then a
  (4, 1) stride-2 conv.

  ``norm`` is ``'pre_activation'`` to put a LayerNorm between the strided conv
  and its ELU (ISMIR 2025 placement); any other value leaves it out (the
  SS-MPE placement normalises after the whole block, outside this module).
  ``channels_first``: the block takes and returns ``[B, C, K, T]``.
  """

  def __init__(self, in_ch: int, out_ch: int, out_bins: int, norm: str, *,
               rngs: nnx.Rngs, dtype=None, impl: str = 'auto',
               channels_first: bool = False,
               dilations: tuple[int, ...] = (1, 2, 3)):
    self.res = nnx.List([ResidualBlock(in_ch, d, rngs=rngs, dtype=dtype,
                                       impl=impl,
                                       channels_first=channels_first)
                         for d in dilations])
    self.down = conv(in_ch, out_ch, (1, 4), strides=(1, 2), padding='VALID',
                     rngs=rngs, dtype=dtype, impl=impl,
                     channels_first=channels_first)
    self.norm = (FrameLayerNorm(out_bins, out_ch,
                                channels_first=channels_first)
                 if norm == 'pre_activation' else None)

  def __call__(self, x: jax.Array) -> jax.Array:
    for block in self.res:
      x = block(x)
    x = self.down(x)
    if self.norm is not None:
      x = self.norm(x)
    return _elu(x)


class DecoderBlock(nnx.Module):
  """A (4, 1) stride-2 transposed conv, ELU, then residual blocks
  (dilations ``dilations``, default d = 1, 2, 3).

  ``channels_first``: the block takes and returns ``[B, C, K, T]``.
  """

  def __init__(self, in_ch: int, out_ch: int, out_bins: int,
               output_padding: int, norm: str, *, rngs: nnx.Rngs, dtype=None,
               impl: str = 'auto', channels_first: bool = False,
               dilations: tuple[int, ...] = (1, 2, 3)):
    self.up = ConvTransposeFreq(in_ch, out_ch, 4, 2, output_padding,
                                rngs=rngs, dtype=dtype, impl=impl,
                                channels_first=channels_first)
    self.norm = (FrameLayerNorm(out_bins, out_ch,
                                channels_first=channels_first)
                 if norm == 'pre_activation' else None)
    self.res = nnx.List([ResidualBlock(out_ch, d, rngs=rngs, dtype=dtype,
                                       impl=impl,
                                       channels_first=channels_first)
                         for d in dilations])

  def __call__(self, x: jax.Array) -> jax.Array:
    x = self.up(x)
    if self.norm is not None:
      x = self.norm(x)
    x = _elu(x)
    for block in self.res:
      x = block(x)
    return x
