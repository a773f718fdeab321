"""The evaluation loop of a run: validation losses, per-track scores and
their means, and the final table (host side around jitted programs).

``train.train_and_evaluate`` calls these at every validation and at the
end; ``evaluate_tracks`` also scores any salience function on any tracks.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import ml_collections
import numpy as np

from data_pipelines import contracts
from mpe_jax import systems
from mpe_jax.evaluation import multipitch


def host_scalars(metrics: Mapping[str, jax.Array]) -> dict[str, float]:
  """Device scalars -> Python floats (one transfer)."""
  return {k: float(v) for k, v in jax.device_get(metrics).items()}


def evaluate_tracks(predict: Callable, params: Any, tracks: list,
                    system: systems.System, frontend: Any, threshold: float,
                    track_metrics: Callable | None = None,
                    track_evaluator: Callable | None = None, *,
                    low: float = 0.0
                    ) -> tuple[dict[str, float], list[dict[str, float]]]:
  """mir_eval scores of every track and their mean (host side).

  ``predict(params, audio [1, N]) -> salience [1, K, T]`` (the trainer passes
  a ``bucketing.BucketedSalience``: a few compiled shapes for any number of
  track lengths). ``track_metrics(params, track) -> {name: float}`` adds
  system-specific scores (``System.make_track_metrics``),
  ``System.set_metrics`` set-level ones. ``track_evaluator(params, track)``
  (``System.make_track_evaluator``) replaces the salience and multi-pitch
  scores altogether.
  """
  bin_freqs = system.bin_frequencies(frontend)
  per_track = []
  for track in tracks:
    if track_evaluator is not None:
      scores = track_evaluator(params, track)
    else:
      sal = np.asarray(predict(params,
                               np.asarray(track.audio, np.float32)[None]))[0]
      est_freqs = multipitch.salience_to_multipitch(sal, bin_freqs, threshold,
                                                    low)
      est_times = system.frame_times(frontend, sal.shape[-1])
      scores = multipitch.evaluate_multipitch(track.ref_times,
                                              track.ref_freqs, est_times,
                                              est_freqs)
      scores['peak_salience'] = float(sal.max(axis=0).mean())
    if track_metrics is not None:
      scores.update(track_metrics(params, track))
    scores['name'] = track.name
    per_track.append(scores)
  numeric = [{k: v for k, v in t.items() if k != 'name'} for t in per_track]
  means = multipitch.mean_scores(numeric)
  if system.set_metrics is not None:
    means.update(system.set_metrics(numeric, tracks))
  return means, per_track


def validation_losses(eval_loss: Callable, params: Any, tracks: list,
                      n_samples: int, chunk: int, key: jax.Array,
                      config: ml_collections.ConfigDict
                      ) -> dict[str, float]:
  """Item-weighted mean of the losses over chunks of the validation set
  (the system's ``validation_batches``)."""
  sums: dict[str, float] = {}
  make = systems.get_system(config).validation_batches
  batches = contracts.for_system(config.system).checked(
      iter(make(tracks, n_samples, chunk, config)), 'validation batches')
  for batch in batches:
    n = len(next(iter(batch.values())))  # items in this chunk
    for k, v in host_scalars(eval_loss(params, batch, key)).items():
      sums[k] = sums.get(k, 0.0) + n * v
  return {k: v / len(tracks) for k, v in sums.items()}


def print_table(title: str, results: Mapping[str, Mapping[str, float]],
                columns: tuple[tuple[str, str, float], ...] = (
                    systems.System.summary)) -> str:
  """A fixed-width table, logged and returned: one row per set, one column
  per (score, header, scale) of ``columns`` (default P / R / Acc / F1 in
  percent); '-' where a set has no such score."""
  lines = [title, f'{"set":<28}' + ''.join(f'{h:>8}' for _, h, _ in columns)]
  for name, r in results.items():
    lines.append(f'{name:<28}' + ''.join(
        f'{scale * r[k]:8.2f}' if k in r else f'{"-":>8}'
        for k, _, scale in columns))
  text = '\n'.join(lines)
  if jax.process_index() == 0:
    print(text, flush=True)
  return text
