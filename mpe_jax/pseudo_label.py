"""Pseudo-label training items with a Stage-I checkpoint (MAJL two-stage).

    python -m mpe_jax.pseudo_label --checkpoint=runs/stage1 \\
        --source=synthetic_mixtures/train --num_items=2000 \\
        --output_dir=pseudo/stage1 [--prefer=best|latest] \\
        [--excerpt_seconds=4] [--batch_size=8] [--shard_items=256]

Restores the checkpoint with its own config, reads items ``0 .. N-1`` of the
named training source without labels (``pipeline.open_source``; items of the
checkpoint's seed unless ``--seed``), computes the system's salience of every
item (whole excerpt, batches of ``--batch_size``), and stores per item:

* the label grid on the ``config.hcqt`` label grid: the salience peaks at the
  checkpoint's ``config.eval.threshold`` (the peak picking of evaluation),
  each mapped to the label bin nearest its frequency, each label frame taking
  the nearest salience frame in time (the system's own bin frequencies and
  frame times, so HCQT and CQT systems both fit);
* the per-frame confidence of MAJL Eq. 4 (``objectives.confidence``, with the
  same threshold as voicing threshold), resampled to the label frames the
  same way.

The folder (``data_pipelines.pseudo_labels``: a manifest and atomically
written shards) is the Stage-II source ``'pseudo_labels/train'``
(``config.data.pseudo_label_dir``). Running the same command again resumes:
finished shards are kept. A folder holding other pseudo-labels is refused.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Sequence

import numpy as np

from mpe_jax import cli

USAGE = """Pseudo-label training items with a Stage-I checkpoint.

Usage: python -m mpe_jax.pseudo_label --checkpoint=DIR --source=NAME
           --num_items=N --output_dir=DIR [--excerpt_seconds=S]
           [--batch_size=B] [--prefer=best|latest]
"""


def nearest_frames(source_times: np.ndarray,
                   target_times: np.ndarray) -> np.ndarray:
  """``[T]`` index of the ``source_times`` entry nearest each target time.

  Ties go to the earlier frame; times outside the source range take its
  first / last frame.
  """
  src = np.asarray(source_times, np.float64).reshape(-1)
  tgt = np.asarray(target_times, np.float64).reshape(-1)
  if src.size == 0:
    raise ValueError('nearest_frames needs at least one source frame.')
  bounds = 0.5 * (src[:-1] + src[1:])
  return np.searchsorted(bounds, tgt, side='left').astype(np.int64)


def salience_to_labels(salience: np.ndarray, confidence: np.ndarray,
                       bin_freqs: np.ndarray, frame_times: np.ndarray, *,
                       threshold: float, n_frames: int, hop_length: int,
                       sample_rate: int, fmin: float, bins_per_octave: int,
                       n_bins: int) -> tuple[np.ndarray, np.ndarray]:
  """One item's pseudo-labels on the label grid.

  Args:
    salience: ``[K, S]`` in [0, 1] on the system's grid.
    confidence: ``[S]`` per-frame confidence (Eq. 4).
    bin_freqs: ``[K]`` Hz of the salience bins.
    frame_times: ``[S]`` s of the salience frames.
    threshold: peak threshold.
    n_frames: label frames ``T`` (at ``n * hop_length / sample_rate``).
    hop_length, sample_rate, fmin, bins_per_octave, n_bins: the label grid.

  Returns:
    ``[n_bins, T]`` uint8 label grid and ``[T]`` float32 confidence.
  """
  from data_pipelines import labels as labels_lib  # pylint: disable=g-import-not-at-top
  from mpe_jax.evaluation import peaks  # pylint: disable=g-import-not-at-top

  active = peaks.peak_mask(salience, threshold)  # [K, S]
  freqs = np.asarray(bin_freqs, np.float64)
  times = labels_lib.frame_times(n_frames, hop_length, sample_rate)
  idx = nearest_frames(frame_times, times)  # [T]
  grid = labels_lib.frequencies_to_grid(
      [freqs[active[:, s]] for s in idx], fmin=fmin,
      bins_per_octave=bins_per_octave, n_bins=n_bins)
  return grid, np.asarray(confidence, np.float32)[idx]


class Labeller:
  """A checkpoint's system as a batched (audio -> labels, confidence) map.

  Attributes:
    predictor: the ``inference.Predictor`` (config, params, front end).
    threshold: peak and voicing threshold (``config.eval.threshold``).
    grid: the ``config.hcqt`` label grid (sample_rate, hop_length, fmin,
      bins_per_octave, n_bins).
  """

  def __init__(self, predictor, threshold: float | None = None):
    import jax  # pylint: disable=g-import-not-at-top
    from flax import nnx  # pylint: disable=g-import-not-at-top
    from mpe_jax.models import build_model  # pylint: disable=g-import-not-at-top
    from mpe_jax.objectives import confidence as confidence_lib  # pylint: disable=g-import-not-at-top

    self.predictor = predictor
    config = predictor.config
    self.threshold = float(config.eval.threshold if threshold is None
                           else threshold)
    hcqt = config.hcqt
    self.grid = dict(sample_rate=int(hcqt.sample_rate),
                     hop_length=int(hcqt.hop_length), fmin=float(hcqt.fmin),
                     bins_per_octave=int(hcqt.bins_per_octave),
                     n_bins=int(hcqt.n_bins))
    graphdef = nnx.graphdef(nnx.eval_shape(
        lambda: build_model(config.model, jax.random.key(0, impl='rbg'))))
    system, thr = predictor.system, self.threshold

    def infer(params, frontend, audio):
      sal = system.salience(nnx.merge(graphdef, params), audio, frontend,
                            config)  # [B, K, S]
      return sal, confidence_lib.confidence(sal, thr)  # [B, S]

    self._infer = jax.jit(infer)

  def __call__(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[B, N]`` audio -> ``[B, n_bins, T]`` uint8 labels, ``[B, T]``
    float32 confidence (``T = 1 + N // hop_length``)."""
    p = self.predictor
    sal, conf = self._infer(p.params, p.frontend,
                            np.asarray(audio, np.float32))
    sal, conf = np.asarray(sal), np.asarray(conf)
    times = p.frame_times(sal.shape[-1])
    n_frames = 1 + audio.shape[-1] // self.grid['hop_length']
    out = [salience_to_labels(s, c, p.bin_frequencies, times,
                              threshold=self.threshold, n_frames=n_frames,
                              **self.grid) for s, c in zip(sal, conf)]
    return (np.stack([g for g, _ in out]),
            np.stack([c for _, c in out]).astype(np.float32))


def label_items(labeller: Labeller, source, directory: str,
                manifest: dict[str, Any], *, batch_size: int,
                progress: Any = None) -> int:
  """Writes every missing shard of ``manifest``; returns the number of
  shards that were already complete (kept as they are).

  Args:
    labeller: the Stage-I model.
    source: the training source (audio only) whose items are labelled.
    directory: the pseudo-label folder (its manifest already written).
    manifest: ``pseudo_labels.new_manifest(settings)``.
    batch_size: items per model call (the last call is zero-padded).
    progress: optional tqdm-like object; ``update(items)``.
  """
  from data_pipelines import pseudo_labels  # pylint: disable=g-import-not-at-top

  settings = manifest['settings']
  n_samples = settings['excerpt_samples']
  ranges = pseudo_labels.shard_ranges(settings['num_items'],
                                      settings['shard_items'])
  kept = 0
  for shard, (lo, hi) in enumerate(ranges):
    if pseudo_labels.shard_is_complete(directory, manifest, shard):
      kept += 1
      if progress is not None:
        progress.update(hi - lo)
      continue
    audio = np.stack([np.asarray(source.item(i, n_samples)[0], np.float32)
                      for i in range(lo, hi)])
    labels, confidence = [], []
    for b in range(0, hi - lo, batch_size):
      part = audio[b:b + batch_size]
      batch = np.zeros((batch_size, n_samples), np.float32)
      batch[:len(part)] = part  # one compiled shape
      grid, conf = labeller(batch)
      labels.append(grid[:len(part)])
      confidence.append(conf[:len(part)])
      if progress is not None:
        progress.update(len(part))
    pseudo_labels.write_shard(directory, shard, pseudo_labels.pack_records(
        audio, np.concatenate(labels), np.concatenate(confidence)))
  return kept


def prepare_output_dir(directory: str, settings: dict[str, Any]
                       ) -> dict[str, Any]:
  """The manifest to continue in ``directory`` (created, or the existing
  one when it describes the same items).

  Raises:
    pseudo_labels.PseudoLabelError: the folder holds other pseudo-labels,
      or other files.
    OSError: the folder cannot be created or written.
  """
  from data_pipelines import pseudo_labels  # pylint: disable=g-import-not-at-top

  existing = (pseudo_labels.read_manifest(directory)
              if os.path.isdir(directory) else None)
  if existing is not None:
    pseudo_labels.check_settings(existing, settings, directory)
    return existing
  if os.path.isdir(directory) and any(not name.startswith('.')
                                      for name in os.listdir(directory)):
    raise pseudo_labels.PseudoLabelError(
        f'{directory} is not empty and holds no pseudo-label manifest; '
        'choose a new or empty --output_dir.')
  os.makedirs(directory, exist_ok=True)
  manifest = pseudo_labels.new_manifest(settings)
  pseudo_labels.write_manifest(directory, manifest)
  return manifest


def summary_line(manifest: dict[str, Any], directory: str, kept: int) -> str:
  """The closing line of a run."""
  s, m = manifest['settings'], manifest['summary']
  resumed = f'; {kept} of {len(manifest["shards"])} shards were already done' \
      if kept else ''
  return (f'Pseudo-labelled {s["num_items"]} items of {s["source"]} '
          f'({s["excerpt_seconds"]:.4g} s each) with step {s["step"]} of '
          f'{s["checkpoint"]} into {directory}: mean confidence '
          f'{m["mean_confidence"]:.3f}, {100 * m["confident_fraction"]:.1f}% '
          f'of frames >= {m["filter_threshold"]:g}{resumed}.')


# -------------------------------------------------------------------- CLI ---


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top

  fv = flags.FlagValues()
  flags.DEFINE_string('checkpoint', None, 'Stage-I checkpoint: a training '
                      'workdir, its checkpoints/ folder, or one step folder.',
                      flag_values=fv)
  flags.DEFINE_enum('prefer', 'best', ['best', 'latest'], 'In a workdir, use '
                    'the best (validation) or the latest checkpoint.',
                    flag_values=fv)
  flags.DEFINE_string('source', None, "Training source to label, e.g. "
                      "'synthetic_mixtures/train' or '<corpus>/<split>' "
                      '(read without labels).', flag_values=fv)
  flags.DEFINE_integer('num_items', None, 'Items 0 .. N-1 of the source.',
                       flag_values=fv)
  flags.DEFINE_string('output_dir', None, 'Folder for the pseudo-labels '
                      '(created; rerun the same command to resume).',
                      flag_values=fv)
  flags.DEFINE_float('excerpt_seconds', None, 'Item length (default: the '
                     "checkpoint's config.data.excerpt_seconds).",
                     flag_values=fv)
  flags.DEFINE_integer('batch_size', 8, 'Items per model call.',
                       flag_values=fv)
  flags.DEFINE_integer('shard_items', 256, 'Items per shard file.',
                       flag_values=fv)
  flags.DEFINE_integer('seed', None, "Seed of the source's items (default: "
                       "the checkpoint's config.seed).", flag_values=fv)
  flags.DEFINE_string('data_dir', None, 'Overrides config.data.data_dir '
                      '(prepared corpora).', flag_values=fv)
  flags.DEFINE_string('dataset_dir', None, "Overrides the raw corpus folder "
                      "of --source's corpus (config.data.dataset_dirs).",
                      flag_values=fv)
  flags.DEFINE_bool('progress', None, 'Progress bar (default: when stderr '
                    'is a terminal).', flag_values=fv)
  flags.DEFINE_bool('verbose', False, 'Tracebacks and library logs.',
                    flag_values=fv)
  return fv


def _check_flags(fv) -> None:
  if not fv.checkpoint:
    raise cli.UsageError('--checkpoint is required')
  if not fv.source:
    raise cli.UsageError('--source is required (e.g. '
                         'synthetic_mixtures/train)')
  if fv.num_items is None or fv.num_items <= 0:
    raise cli.UsageError(f'--num_items must be a positive number of items, '
                         f'got {fv.num_items}')
  if not fv.output_dir:
    raise cli.UsageError('--output_dir is required')
  if fv.batch_size < 1 or fv.shard_items < 1:
    raise cli.UsageError(f'--batch_size ({fv.batch_size}) and --shard_items '
                         f'({fv.shard_items}) must be >= 1')
  if fv.excerpt_seconds is not None and fv.excerpt_seconds <= 0:
    raise cli.UsageError(f'--excerpt_seconds must be > 0, got '
                         f'{fv.excerpt_seconds}')


def _source_config(config, fv):
  """The checkpoint's config with the data overrides of the flags."""
  from data_pipelines import catalog  # pylint: disable=g-import-not-at-top

  config = config.copy_and_resolve_references()
  with config.unlocked():
    if fv.seed is not None:
      config.seed = fv.seed
    if fv.data_dir is not None:
      config.data.data_dir = fv.data_dir
    if fv.dataset_dir is not None:
      try:
        cls, _ = catalog.split_set_name(fv.source)
      except ValueError as e:
        raise cli.UsageError(f'--dataset_dir needs a corpus --source '
                             f'(<corpus>/<split>): {e}') from e
      config.data.dataset_dirs[cls.name] = fv.dataset_dir
  return config


def run(argv: Sequence[str]) -> int:
  """The command line; returns the exit status (0 or 2)."""
  fv = _define_flags()
  prog = 'mpe_jax.pseudo_label'

  def body() -> int:
    rest = cli.parse(fv, argv, USAGE)
    if rest:
      raise cli.UsageError(f'unexpected arguments {rest}')
    with cli.quiet_logging(fv.verbose):
      return command()

  def command() -> int:
    _check_flags(fv)
    # pylint: disable=g-import-not-at-top
    from tqdm import auto as tqdm
    from data_pipelines import pipeline
    from data_pipelines import pseudo_labels
    from mpe_jax import checkpointing, inference
    from mpe_jax.models.skeleton import config_from_dict
    # pylint: enable=g-import-not-at-top

    step_dir = checkpointing.find_checkpoint(fv.checkpoint, prefer=fv.prefer)
    config = config_from_dict(checkpointing.read_checkpoint_config(step_dir))
    data_config = _source_config(config, fv)
    pipeline.hide_gpus_from_tensorflow()
    source = pipeline.open_source(data_config, fv.source, use_labels=False)
    hcqt = config.hcqt
    seconds = float(fv.excerpt_seconds or config.data.excerpt_seconds)
    n_samples = int(round(seconds * hcqt.sample_rate))
    settings = {
        'source': fv.source, 'seed': int(data_config.seed),
        'num_items': int(fv.num_items), 'shard_items': int(fv.shard_items),
        'checkpoint': step_dir, 'step': int(os.path.basename(step_dir)),
        'system': config.system,
        'sample_rate': int(hcqt.sample_rate),
        'hop_length': int(hcqt.hop_length), 'fmin': float(hcqt.fmin),
        'bins_per_octave': int(hcqt.bins_per_octave),
        'n_bins': int(hcqt.n_bins), 'excerpt_samples': n_samples,
        'excerpt_seconds': n_samples / hcqt.sample_rate,
        'n_frames': 1 + n_samples // hcqt.hop_length,
        'threshold': float(config.eval.threshold)}
    directory = os.path.abspath(fv.output_dir)
    manifest = prepare_output_dir(directory, settings)
    missing = [k for k in range(len(manifest['shards']))
               if not pseudo_labels.shard_is_complete(directory, manifest, k)]
    kept = len(manifest['shards']) - len(missing)
    if missing:
      labeller = Labeller(inference.load_predictor(step_dir))
      disable = None if fv.progress is None else not fv.progress
      with tqdm.tqdm(total=fv.num_items, unit='item', desc='pseudo-label',
                     disable=disable, dynamic_ncols=True) as bar:
        label_items(labeller, source, directory, manifest,
                    batch_size=fv.batch_size, progress=bar)
    if missing or not manifest['complete']:
      manifest = dict(manifest, complete=True,
                      summary=pseudo_labels.summarize(directory, manifest))
      pseudo_labels.write_manifest(directory, manifest)
    print(summary_line(manifest, directory, kept))
    return cli.OK

  return cli.run_command(prog, body, lambda: bool(fv['verbose'].value))


def main() -> None:
  sys.exit(run(sys.argv))


if __name__ == '__main__':
  main()
