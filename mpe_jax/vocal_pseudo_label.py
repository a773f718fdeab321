"""Stage-I pseudo-labels for MAJL's single-labelled vocal sets (Eqs. 4-7).

    python -m mpe_jax.vocal_pseudo_label --checkpoint=runs/mv1 \\
        --sets=musdb18/train,mir_st500/train --output_dir=runs/mv1_pseudo \\
        [--dataset_dirs=musdb18=/data/musdb18hq,mir_st500=/data/MIR-ST500] \\
        [--prefer=best|latest] [--threshold=0.5]

Restores a 'majl_vocal' checkpoint with its own config and runs its cascade
over every whole track of each set (in the evaluation's segments). Per
track it keeps the set's own labels (confidence 1, Eq. 5) and adds the
missing one:

* a set with stems but no pitch (MUSDB18, Eq. 6): the f0 of the cascade's
  salience (the strongest bin of each frame, 0 Hz where it is below
  ``--threshold``) with ``confi_pe`` = Eq. 4 of that frame;
* a set with pitch but no stems (MIR-ST500, Eq. 7): the separated vocals,
  with ``confi_mss`` = Eq. 4 of the cascade's pitch in that frame.

Each set is written to ``<output_dir>/<corpus>/<split>/`` (the folder format
of ``data_pipelines.vocal``, its manifest naming the checkpoint), which the
Stage-II source ``'pseudo/<corpus>/<split>'`` reads with
``--config.data.pseudo_label_dir=<output_dir>``. A set is written whole and
replaced on a rerun.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

import numpy as np

from mpe_jax import cli

USAGE = """Pseudo-label single-labelled vocal sets with a Stage-I model.

Usage: python -m mpe_jax.vocal_pseudo_label --checkpoint=DIR
           --sets=CORPUS/SPLIT[,...] --output_dir=DIR
           [--dataset_dirs=NAME=PATH[,...]] [--threshold=T]
"""


def frame_confidence(salience: np.ndarray, threshold: float) -> np.ndarray:
  """Eq. 4 per frame of a ``[K, T]`` salience (``objectives.confidence``),
  float32 ``[T]``."""
  from mpe_jax.objectives import confidence  # pylint: disable=g-import-not-at-top
  return np.asarray(confidence.confidence(salience, threshold), np.float32)


def salience_f0(salience: np.ndarray, bin_freqs: np.ndarray,
                threshold: float) -> np.ndarray:
  """``[K, T]`` -> ``[T]`` Hz of the strongest bin, 0 where it is below
  ``threshold`` (``evaluation.melody.estimate_melody``)."""
  from mpe_jax.evaluation import melody  # pylint: disable=g-import-not-at-top
  return np.maximum(melody.estimate_melody(salience, bin_freqs, threshold),
                    0.0).astype(np.float32)


def pseudo_record(record, separated: np.ndarray, salience: np.ndarray,
                  bin_freqs: np.ndarray, threshold: float):
  """A ``VocalRecord`` with its missing label filled in (module docstring).

  Raises:
    ValueError: a record that has both labels (nothing to pseudo-label) or
      neither.
  """
  import dataclasses  # pylint: disable=g-import-not-at-top
  t = len(record.confi_pe)
  sal = salience[:, :t]
  conf = frame_confidence(sal, threshold)
  if record.vocals is not None and record.f0 is None:
    return dataclasses.replace(record, f0=salience_f0(sal, bin_freqs,
                                                      threshold),
                               confi_pe=conf)
  if record.vocals is None and record.f0 is not None:
    return dataclasses.replace(record, vocals=separated.astype(np.float32),
                               confi_mss=conf)
  raise ValueError(f'track {record.name!r} has '
                   f'{"both" if record.vocals is not None else "neither"} '
                   'stems and pitch: only single-labelled sets are '
                   'pseudo-labelled.')


def label_set(predictor, config, corpus: str, split: str, output_dir: str,
              *, threshold: float, progress=None) -> dict:
  """Pseudo-labels one set.

  Returns:
    Its summary: ``tracks``, ``frames``, ``voiced_fraction`` (frames whose
    salience reaches ``threshold``: voiced pseudo-pitch, or the frames of a
    pseudo-stem that the cascade hears singing), ``mean_confidence`` (Eq. 4)
    and ``confident_fraction`` (frames whose confidence reaches
    ``config.dwhs.confidence_threshold``, the th of Eq. 8).
  """
  from data_pipelines import vocal  # pylint: disable=g-import-not-at-top
  from mpe_jax.objectives import majl_vocal  # pylint: disable=g-import-not-at-top

  source = vocal.open_vocal_corpus(config, corpus)
  if source.has_stems == source.has_pitch:
    raise ValueError(f'{corpus} is {"fully" if source.has_stems else "not"} '
                     'labelled: pseudo-labels are for sets with stems only '
                     '(MUSDB18) or pitch only (MIR-ST500).')
  if split not in source.splits:
    raise ValueError(f'{source.title} has no split {split!r}; splits: '
                     f'{", ".join(source.splits)}.')
  runner = majl_vocal.make_segment_runner(predictor._bucketed.graphdef,  # pylint: disable=protected-access
                                          predictor.frontend, config)
  freqs = predictor.frontend.bin_frequencies()
  g = config.hcqt
  confidences, voiced = [], []

  def records():
    for name in source.track_ids(split):
      r = source.load_vocal(name, sample_rate=int(g.sample_rate),
                            hop_length=int(g.hop_length))
      sep, sal = runner(predictor.params, r.mixture)
      out = pseudo_record(r, sep, sal, freqs, threshold)
      confidences.append(out.confi_pe if r.f0 is None else out.confi_mss)
      voiced.append(sal[:, :len(r.confi_pe)].max(axis=0) >= threshold)
      if progress is not None:
        progress.update(1)
      yield out

  directory = os.path.join(output_dir, corpus, split)
  vocal.write_folder(directory, records(), corpus=corpus, split=split,
                     sample_rate=int(g.sample_rate),
                     hop_length=int(g.hop_length), has_stems=True,
                     has_pitch=True,
                     extra={'pseudo_labels': {
                         'checkpoint': predictor.step_dir,
                         'threshold': threshold,
                         'labelled': 'pitch' if source.has_stems else
                                     'stems'}})
  conf = np.concatenate(confidences or [np.zeros(0, np.float32)])
  heard = np.concatenate(voiced or [np.zeros(0, bool)])
  th = float(config.dwhs.confidence_threshold)
  return {'tracks': len(confidences), 'frames': int(conf.size),
          'voiced_fraction': _mean(heard), 'mean_confidence': _mean(conf),
          'confident_fraction': _mean(conf >= th), 'filter_threshold': th}


def _mean(x: np.ndarray) -> float:
  return float(np.mean(x)) if x.size else 0.0


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  fv = flags.FlagValues()
  flags.DEFINE_string('checkpoint', None, "Stage-I 'majl_vocal' checkpoint "
                      '(workdir, checkpoints/ or a step folder).',
                      flag_values=fv)
  flags.DEFINE_enum('prefer', 'latest', ['best', 'latest'], 'In a workdir, '
                    'the best or the latest checkpoint.', flag_values=fv)
  flags.DEFINE_list('sets', None, "Sets to label: '<corpus>/<split>', e.g. "
                    'musdb18/train,mir_st500/train.', flag_values=fv)
  flags.DEFINE_string('output_dir', None, 'Folder for the pseudo-labels '
                      '(<output_dir>/<corpus>/<split>/).', flag_values=fv)
  flags.DEFINE_list('dataset_dirs', [], 'NAME=PATH overrides of '
                    'config.data.dataset_dirs.', flag_values=fv)
  flags.DEFINE_float('threshold', None, "Voicing threshold of Eq. 4 "
                     "(default: the checkpoint's config.eval.threshold).",
                     flag_values=fv)
  flags.DEFINE_bool('verbose', False, 'Tracebacks and library logs.',
                    flag_values=fv)
  return fv


def run(argv: Sequence[str]) -> int:
  """The command line; returns the exit status (0 or 2)."""
  fv = _define_flags()

  def body() -> int:
    rest = cli.parse(fv, argv, USAGE)
    if rest:
      raise cli.UsageError(f'unexpected arguments {rest}')
    cli.require(fv, 'checkpoint', 'sets', 'output_dir')
    with cli.quiet_logging(fv.verbose):
      return command()

  def command() -> int:
    from tqdm import auto as tqdm  # pylint: disable=g-import-not-at-top
    from mpe_jax import inference  # pylint: disable=g-import-not-at-top
    predictor = inference.load_predictor(fv.checkpoint, prefer=fv.prefer)
    config = predictor.config
    if config.system != 'majl_vocal':
      raise cli.UsageError(f'{fv.checkpoint} holds a {config.system!r} '
                           "model; pseudo-labels need 'majl_vocal'")
    config = config.copy_and_resolve_references()
    with config.unlocked():
      for item in fv.dataset_dirs:
        name, sep, path = item.partition('=')
        if not sep or name not in config.data.dataset_dirs:
          raise cli.UsageError(f'--dataset_dirs entry {item!r} is not '
                               f'NAME=PATH with NAME in '
                               f'{sorted(config.data.dataset_dirs)}')
        config.data.dataset_dirs[name] = path
    threshold = float(config.eval.threshold if fv.threshold is None
                      else fv.threshold)
    for item in fv.sets:
      corpus, sep, split = item.partition('/')
      if not sep:
        raise cli.UsageError(f'--sets entry {item!r} is not <corpus>/<split>')
      with tqdm.tqdm(unit='track', desc=item, dynamic_ncols=True) as bar:
        summary = label_set(predictor, config, corpus, split,
                            fv.output_dir, threshold=threshold, progress=bar)
      print(f'{item}: {summary["tracks"]} tracks into '
            f'{os.path.join(fv.output_dir, corpus, split)}: '
            f'{100 * summary["voiced_fraction"]:.1f}% of '
            f'{summary["frames"]} frames voiced, mean confidence '
            f'{summary["mean_confidence"]:.3f}, '
            f'{100 * summary["confident_fraction"]:.1f}% of frames >= '
            f'{summary["filter_threshold"]:g}.')
    return cli.OK

  return cli.run_command('mpe_jax.vocal_pseudo_label', body,
                         lambda: bool(fv['verbose'].value))


def main() -> None:
  sys.exit(run(sys.argv))


if __name__ == '__main__':
  main()
