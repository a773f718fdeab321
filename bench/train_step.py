"""Training-step throughput against the PyTorch reference's measured figures.

One full SS-MPE step (HCQT of the clean audio, clean + EQ + geometric
branches, all five losses, backward, clipping, AdamW), jitted with the state
donated, on random 4-s excerpts, warm (compilation excluded), in one process.
Devices as the trainer sets them up: on a CPU one device per core (as many
as divide the batch; ``--cpu_devices=1`` for a single device), the batch
sharded over them (``parallel.jit_train_step``).

Anchor: the released PyTorch SS-MPE code measured on this same 2-core CPU
(it cannot run in this environment, so the figures are constants here):
6.67 s/step at batch 4 (0.60 samples/s) and 39.9 s/step at batch 20 with
jemalloc (0.50 samples/s; 90.3 s with the default allocator); peak RSS
3.9 GB / 14.3 GB.

  python bench/train_step.py --config=configs/ssmpe.py --batch_size=4
  python bench/train_step.py --config=configs/ssmpe.py --batch_size=20
  python bench/train_step.py --batch_size=4 --remat=none  # keep activations
  python bench/train_step.py --batch_size=4 --conv_impl=gemm  # 3x3 in XLA
  python bench/train_step.py --batch_size=64 --compute_dtype=bfloat16  # GPU

On a GPU or TPU (or with ``--peak_tflops``) it also prints the model FLOPs
utilisation: the analytic FLOPs per step (``bench/flops.py``) per second over
the device's dense bf16 peak, against the 40 % goal, as
``RESULT train_step_mfu_b<N>``.

Ends with ``RESULT train_step_b<N> ours=<samples/s> anchor=<samples/s>
ratio=<ours/anchor> unit=samples/s`` (ratio > 1 means mpe_jax is faster) and
a ``RESULT train_step_rss_b<N>`` line (peak resident memory of this process,
anchor / ours, so > 1 means less memory than the reference).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

import flops  # pylint: disable=g-import-not-at-top

from mpe_jax import parallel, systems, train  # pylint: disable=g-import-not-at-top

# PyTorch reference on this CPU: batch -> (s/step, peak RSS GB).
REFERENCE = {4: (6.67, 3.9), 20: (39.9, 14.3)}
# Dense bf16 peak TFLOP/s of one device, by a substring of its device_kind
# (first match wins), for model FLOPs utilisation; the goal is 40 %.
PEAK_TFLOPS = (('H100 PCIe', 756.0), ('H100', 989.0), ('H200', 989.0),
               ('A100', 312.0), ('TPU v4', 275.0), ('TPU v5 lite', 197.0),
               ('TPU v5e', 197.0), ('TPU v5p', 459.0), ('TPU v6 lite', 918.0))
MFU_GOAL = 0.40


def device_peak_tflops(device_kind: str) -> float | None:
  """The table's dense bf16 peak of ``device_kind``, or None."""
  for name, peak in PEAK_TFLOPS:
    if name.lower() in device_kind.lower():
      return peak
  return None


def load_config(spec: str):
  path, _, arg = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location('bench_config', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


def setup(spec: str, batch_size: int, seconds: float,
          remat: str | None = None, conv_impl: str | None = None,
          compute_dtype: str | None = None):
  """``(config, tx, scheds, graphdef, state, frontend)`` for a bench step."""
  config = load_config(spec)
  with config.unlocked():
    config.train.batch_size = batch_size
    config.data.excerpt_seconds = seconds
    if remat is not None:
      config.model.remat = remat
    if conv_impl is not None:
      config.model.conv_impl = conv_impl
    if compute_dtype is not None:
      config.model.compute_dtype = compute_dtype
  tx, scheds = train.build_optimizer(config)
  graphdef, state = train.init_train_state(config, tx)
  frontend = systems.get_system(config).make_frontend(config)
  return config, tx, scheds, graphdef, state, frontend


def random_batch(config, rng: np.random.Generator) -> dict:
  """Noise excerpts without labels or drums, shaped as the pipeline's."""
  b = config.train.batch_size
  n = int(config.data.excerpt_seconds * config.hcqt.sample_rate)
  n_frames = 1 + n // config.hcqt.hop_length
  return {'audio': 0.1 * rng.standard_normal((b, n)).astype(np.float32),
          'labels': np.zeros((b, config.hcqt.n_bins, n_frames), np.uint8),
          'has_label': np.zeros((b,), bool),
          'drums': np.zeros((b, n), np.float32)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='configs/ssmpe.py')
  parser.add_argument('--batch_size', type=int, default=4)
  parser.add_argument('--seconds', type=float, default=4.0)
  parser.add_argument('--steps', type=int, default=5, help='timed steps')
  parser.add_argument('--peak_tflops', type=float, default=None,
                      help='device peak for MFU (default: PEAK_TFLOPS by '
                      'device kind; none for CPUs)')
  parser.add_argument('--remat', default=None,
                      help="config.model.remat ('auto', 'none', 'blocks'); "
                      "default: the config's")
  parser.add_argument('--conv_impl', default=None,
                      help="config.model.conv_impl ('auto', 'xla', 'gemm', "
                      "'direct'); default: the config's")
  parser.add_argument('--compute_dtype', default=None,
                      help="config.model.compute_dtype ('float32', "
                      "'bfloat16'); default: the config's")
  parser.add_argument('--cpu_devices', type=int, default=None,
                      help='config.train.cpu_devices (CPU backend: 0 = one '
                      'per core dividing the batch, as the trainer does; '
                      "1 = one device); default: the config's")
  args = parser.parse_args()

  # The trainer's device set-up (mpe_jax.main), before JAX starts.
  requested = args.cpu_devices
  if requested is None:
    requested = int(load_config(args.config).train.get('cpu_devices', 0))
  parallel.set_cpu_devices(parallel.cpu_device_count(
      args.batch_size, parallel.available_cpus(), requested))
  config, tx, scheds, graphdef, state, frontend = setup(
      args.config, args.batch_size, args.seconds, args.remat, args.conv_impl,
      args.compute_dtype)
  # The trainer's step: batch sharded over every device, state replicated
  # and donated.
  mesh = parallel.make_mesh()
  state = parallel.replicate(state, mesh)
  step = parallel.jit_train_step(
      train.make_train_step(graphdef, frontend, tx, scheds, config), mesh)
  rng = np.random.default_rng(0)

  def batch():
    return parallel.to_global(random_batch(config, rng), mesh)

  t0 = time.perf_counter()
  state, metrics = step(state, batch())
  jax.block_until_ready(metrics)
  first = time.perf_counter() - t0
  times = []
  for _ in range(args.steps):
    b = batch()
    t0 = time.perf_counter()
    state, metrics = step(state, b)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t0)
  best, med = min(times), statistics.median(times)
  rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
  ours = args.batch_size / med
  ref_s, ref_rss = REFERENCE.get(args.batch_size, (None, None))
  print(f'device: {jax.devices()[0].device_kind} x {jax.device_count()}, '
        f'{os.cpu_count()} CPUs; '
        f'config {args.config}, batch {args.batch_size} x {args.seconds:g} s, '
        f'remat {config.model.remat}, conv_impl {config.model.conv_impl}, '
        f'compute {config.model.compute_dtype}; '
        f'allocator {os.environ.get("LD_PRELOAD") or "glibc (default)"}')
  print(f'ours: best {best:.2f} s/step, median {med:.2f} s/step '
        f'({ours:.2f} samples/s), first call (compile + step) {first:.1f} s, '
        f'peak RSS {rss_gb:.2f} GB')
  # Model FLOPs: the analytic count (frames of the batches timed), without
  # remat's recomputation.
  n_frames = b['labels'].shape[-1]
  model_flops = flops.step_flops(config, args.batch_size, n_frames).total
  kind = jax.devices()[0].device_kind
  peak = args.peak_tflops or device_peak_tflops(kind)
  achieved = model_flops / med / 1e12
  if peak:
    mfu = achieved / peak
    print(f'model FLOPs {model_flops / 1e9:.1f} GFLOP/step, {achieved:.4f} '
          f'TFLOP/s = {100 * mfu:.2f} % of {peak:g} TFLOP/s ({kind})')
    print(f'RESULT train_step_mfu_b{args.batch_size} ours={mfu:.4f} '
          f'anchor={MFU_GOAL} ratio={mfu / MFU_GOAL:.3f} unit=fraction_of_peak')
  else:
    print(f'model FLOPs {model_flops / 1e9:.1f} GFLOP/step, {achieved:.4f} '
          f'TFLOP/s (no peak figure for {kind!r}: pass --peak_tflops)')
  if ref_s is None:
    print(f'RESULT train_step_b{args.batch_size} ours={ours:.3f} anchor=nan '
          'ratio=nan unit=samples/s  # no reference figure at this batch')
    return
  anchor = args.batch_size / ref_s
  print(f'anchor (PyTorch reference, measured figure): {ref_s:.2f} s/step '
        f'({anchor:.2f} samples/s), peak RSS {ref_rss:.1f} GB')
  print(f'RESULT train_step_b{args.batch_size} ours={ours:.3f} '
        f'anchor={anchor:.3f} ratio={ours / anchor:.2f} unit=samples/s')
  print(f'RESULT train_step_rss_b{args.batch_size} ours={rss_gb:.2f} '
        f'anchor={ref_rss:.1f} ratio={ref_rss / rss_gb:.2f} unit=GB')


if __name__ == '__main__':
  main()
