"""FLOPs of one training step: analytic count vs XLA's count of the program.

For each model configuration this prints, per item and per step:
* the HCQT front end (FFTs + the dense spectral-kernel matmuls of the actual
  filterbank),
* the autoencoder forward pass of one branch (every convolution, counted from
  the layer shapes: 2 FLOPs per multiply-add; transposed convolutions by their
  true multiply-adds),
* forward + backward of every branch the step runs (clean, EQ, geometric when
  their loss weights are non-zero): backward = 2x forward (input and weight
  gradients) minus the input gradient of the first layer,
and, with ``--xla``, XLA's own count (``compiled.cost_analysis()``) of the
same programs on this machine, printed as ``anchor`` (analytic), ``ours``
(XLA) and their ``ratio``. XLA also counts element-wise work (ELU, LayerNorm,
dB scaling, augmentation, losses, AdamW) and the zeros a strided transposed
convolution multiplies, which the analytic count leaves out.

Run:
  python bench/flops.py                  # analytic, every configuration
  python bench/flops.py --xla            # + XLA counts (compiles; minutes)
  python bench/flops.py --batch=32 --seconds=4
  python bench/flops.py --per_audio_second=configs/pretrained.py,configs/pretrained_v2.py:lean

The numbers feed docs/scaling.md (step-time estimates per accelerator).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import ml_collections  # pylint: disable=g-import-not-at-top

from configs import ssmpe  # pylint: disable=g-import-not-at-top
from mpe_jax import cli, systems, train  # pylint: disable=g-import-not-at-top
from mpe_jax.features import hcqt as hcqt_lib  # pylint: disable=g-import-not-at-top
from mpe_jax.models import build_model, count_params, frequency_sizes  # pylint: disable=g-import-not-at-top
from mpe_jax.models.autoencoder import residual_dilations  # pylint: disable=g-import-not-at-top
from mpe_jax.objectives import salience  # pylint: disable=g-import-not-at-top

GIGA = 1e9


@dataclasses.dataclass(frozen=True)
class Layer:
  name: str
  flops: float  # per item, forward


# ------------------------------------------------------------ analytic ---


def model_layers(model: ml_collections.ConfigDict, n_frames: int
                 ) -> list[Layer]:
  """Every convolution of the autoencoder, forward FLOPs for one item."""
  t = n_frames
  ch = list(model.channels)
  k = frequency_sizes(model.n_bins, len(ch) - 1)
  out = [Layer('enc.conv_in 3x3',
               2 * t * k[0] * model.in_channels * ch[0] * 9)]

  dilations = residual_dilations(model)

  def residual(prefix, c, bins, level):
    res = []
    for d in dilations[level]:
      res.append(Layer(f'{prefix}.res{d}.conv3x3', 2 * t * bins * c * c * 9))
      res.append(Layer(f'{prefix}.res{d}.conv1x1', 2 * t * bins * c * c))
    return res

  for i in range(len(ch) - 1):
    out += residual(f'enc.block{i}', ch[i], k[i], i)
    out.append(Layer(f'enc.block{i}.down(1x4,s2)',
                     2 * t * k[i + 1] * ch[i] * ch[i + 1] * 4))
  out.append(Layer('enc.latent', 2 * t * ch[-1] * model.latent_size * k[-1]))
  rch, rk = ch[::-1], k[::-1]
  latent_in = model.latent_size + (1 if model.switch_channel else 0)
  out.append(Layer('dec.conv_in(transposed)',
                   2 * t * latent_in * rch[0] * rk[0]))
  for i in range(len(rch) - 1):
    out.append(Layer(f'dec.block{i}.up(transposed 4,s2)',
                     2 * t * rk[i] * rch[i] * rch[i + 1] * 4))
    out += residual(f'dec.block{i}', rch[i + 1], rk[i + 1],
                    len(rch) - 2 - i)
  out.append(Layer('dec.conv_out 3x3',
                   2 * t * k[0] * ch[0] * model.out_channels * 9))
  return out


def hcqt_flops(hcqt: ml_collections.ConfigDict, n_frames: int) -> float:
  """FFTs (~2.5 N log2 N per real FFT of size N) + kernel matmuls + folds, per item."""
  fb = hcqt_lib.make_filterbank(hcqt_lib.HCQTConfig.from_config(hcqt))
  total = 0.0
  for group in fb.groups:
    total += n_frames * 2.5 * group.n_fft * math.log2(group.n_fft)
    for chunk in group.chunks:
      m, f = chunk.kernel.shape
      total += 2 * n_frames * m * f
  for group in fb.folds:  # block folding: a real FFT per block
    blocks = -(-n_frames // group.frames)
    total += blocks * 2.5 * group.size * math.log2(group.size)
    for chunk in group.chunks:
      period, rows, cols = chunk.kernel.shape  # real form of complex
      f = cols // 2
      total += blocks * (2 * period * rows * cols  # per-residue products
                         + f * 5 * period * math.log2(period))  # complex FFTs
  return total


@dataclasses.dataclass(frozen=True)
class StepFlops:
  hcqt: float  # per step
  model_forward_item: float  # one branch, one item
  branches: tuple[str, ...]
  model_train: float  # per step: fwd + bwd of every branch
  total: float


def step_flops(config: ml_collections.ConfigDict, batch: int,
               n_frames: int) -> StepFlops:
  layers = model_layers(config.model, n_frames)
  fwd = sum(l.flops for l in layers)
  first = layers[0].flops
  terms = salience.enabled_terms(config.loss_weights)
  branches = ('clean',) + tuple(b for b in ('timbre', 'geometric')
                                if b in terms)
  per_item_train = fwd + (2 * fwd - first)
  model_train = batch * len(branches) * per_item_train
  hcqt = batch * hcqt_flops(config.hcqt, n_frames)
  return StepFlops(hcqt, fwd, branches, model_train, hcqt + model_train)


# ----------------------------------------------------------------- XLA ---


def _xla_cost(fn, *args) -> tuple[float, float, float]:
  """(flops, bytes accessed, temporary buffer bytes) of the compiled ``fn``."""
  compiled = jax.jit(fn).lower(*args).compile()
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  memory = compiled.memory_analysis()
  temp = float(getattr(memory, 'temp_size_in_bytes', 0.0) or 0.0)
  return (float(cost.get('flops', 0.0)), float(cost.get('bytes accessed', 0.0)),
          temp)


def xla_step_costs(config: ml_collections.ConfigDict, batch: int
                   ) -> dict[str, tuple[float, float, float]]:
  """XLA (flops, bytes accessed, temp bytes) of the HCQT, one model forward
  (all items of the batch, one branch) and the whole train step."""
  n = int(round(config.data.excerpt_seconds * config.hcqt.sample_rate))
  audio = jnp.zeros((batch, n), jnp.float32)
  frontend = systems.get_system(config).make_frontend(config)
  tx, scheds = train.build_optimizer(config)
  graphdef, state = train.init_train_state(config, tx)
  feats = jax.eval_shape(lambda a: hcqt_lib.hcqt_features(frontend, a)['db'],
                         audio)
  x = jnp.zeros(feats.shape, feats.dtype)

  def forward(params, x):
    from flax import nnx  # pylint: disable=g-import-not-at-top
    return nnx.merge(graphdef, params)(x)

  step = train.make_train_step(graphdef, frontend, tx, scheds, config)
  return {
      'hcqt': _xla_cost(lambda a: hcqt_lib.hcqt_features(frontend, a)['db'],
                        audio),
      'model_forward': _xla_cost(forward, state.params, x),
      'train_step': _xla_cost(step, state, {'audio': audio}),
  }


# ---------------------------------------------------------------- main ---


def _model_variant(base: ml_collections.ConfigDict, **overrides
                   ) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict(base.to_dict())
  config.model.update(overrides)
  return config


def configurations() -> dict[str, ml_collections.ConfigDict]:
  """Model configurations on the SS-MPE step (HCQT, 3 branches)."""
  base = ssmpe.get_config()
  return {
      'ssmpe': base,
      'ssmpe:energy (1 branch)': ssmpe.get_config('energy'),
      'ismir25-size model (8..128 ch, pre-activation LN)': _model_variant(
          base, channels=(8, 16, 32, 64, 128), norm='pre_activation'),
  }


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch', type=int, default=20,
                      help='global batch (items per step)')
  parser.add_argument('--seconds', type=float, default=4.0,
                      help='excerpt length in seconds')
  parser.add_argument('--xla', action='store_true',
                      help="also compile and print XLA's counts")
  parser.add_argument('--layers', action='store_true',
                      help='print the per-layer forward FLOPs of ssmpe')
  parser.add_argument('--only', default='',
                      help='only the configuration of this name (e.g. ssmpe)')
  parser.add_argument('--per_audio_second', default='',
                      help='comma-separated FILE[:VARIANT] configs: print '
                      'the inference GFLOP per second of audio (HCQT + one '
                      'model forward) of each, and nothing else')
  args = parser.parse_args(argv)
  if args.per_audio_second:
    for spec in args.per_audio_second.split(','):
      config = cli.load_config_file(spec)
      n_frames = 1 + config.hcqt.sample_rate // config.hcqt.hop_length
      hcqt = hcqt_flops(config.hcqt, n_frames)
      model = sum(l.flops for l in model_layers(config.model, n_frames))
      print(f'{spec}: {(hcqt + model) / GIGA:.3f} GFLOP per audio-second '
            f'(HCQT {hcqt / GIGA:.3f}, model {model / GIGA:.3f})')
    return

  for name, config in configurations().items():
    if args.only and name != args.only:
      continue
    with config.unlocked():
      config.data.excerpt_seconds = args.seconds
      config.train.batch_size = args.batch
    n = int(round(args.seconds * config.hcqt.sample_rate))
    n_frames = 1 + n // config.hcqt.hop_length
    params = count_params(build_model(config.model,
                                      jax.random.key(0, impl='rbg')))
    f = step_flops(config, args.batch, n_frames)
    print(f'== {name}: {params:,} parameters; batch {args.batch} x '
          f'{args.seconds:g} s ({n_frames} frames); branches '
          f'{", ".join(f.branches)}')
    print(f'  hcqt            {f.hcqt / args.batch / GIGA:9.3f} GFLOP/item  '
          f'{f.hcqt / GIGA:10.2f} GFLOP/step')
    print(f'  model forward   {f.model_forward_item / GIGA:9.3f} GFLOP/item '
          f'per branch')
    print(f'  model fwd+bwd   {f.model_train / args.batch / GIGA:9.3f} '
          f'GFLOP/item  {f.model_train / GIGA:10.2f} GFLOP/step')
    print(f'  train step      {f.total / args.batch / GIGA:9.3f} GFLOP/item  '
          f'{f.total / GIGA:10.2f} GFLOP/step (analytic)')
    if args.layers and name == 'ssmpe':
      for layer in model_layers(config.model, n_frames):
        print(f'    {layer.name:<34}{layer.flops / GIGA:8.4f} GFLOP/item')
    if args.xla:
      costs = xla_step_costs(config, args.batch)
      anchors = {'hcqt': f.hcqt,
                 'model_forward': f.model_forward_item * args.batch,
                 'train_step': f.total}
      for part, (flops, nbytes, temp) in costs.items():
        print(f'  {part:<14} anchor (analytic) {anchors[part] / GIGA:10.2f} '
              f'GFLOP  ours (XLA) {flops / GIGA:10.2f} GFLOP  ratio '
              f'{flops / anchors[part]:6.3f}  XLA bytes accessed '
              f'{nbytes / GIGA:8.2f} GB  temp buffers {temp / GIGA:6.2f} GB')
  tt = _model_variant(ssmpe.get_config(), in_channels=2, out_channels=2,
                      n_bins=540, switch_channel=True, norm='none')
  n_frames = 1 + int(round(args.seconds * 22050)) // 256
  fwd = sum(l.flops for l in model_layers(tt.model, n_frames))
  print(f'== timbre_trap-size model (2 ch, 540 bins, switch, no LN): model '
        f'forward {fwd / GIGA:.3f} GFLOP/item per branch at {n_frames} '
        f'frames (its CQT front end is not part of this count)')


if __name__ == '__main__':
  main()
