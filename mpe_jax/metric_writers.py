"""Scalars to TensorBoard and to ``metrics.jsonl`` (process 0 only)."""

from __future__ import annotations

import json
import math
import os
from typing import Mapping

import jax


class MetricWriter:
  """Writes ``{name: scalar}`` per step; a no-op on processes other than 0.

  ``WORKDIR/metrics.jsonl`` gets one JSON object per call:
  ``{"step": ..., "<name>": value, ...}``; TensorBoard events go to
  ``WORKDIR/tensorboard``.
  """

  def __init__(self, workdir: str):
    self.active = jax.process_index() == 0
    self._tb = None
    self._jsonl = None
    if not self.active:
      return
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self._tf = tf
    self._tb = tf.summary.create_file_writer(
        os.path.join(workdir, 'tensorboard'))

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    if not self.active:
      return
    clean = {k: float(v) for k, v in scalars.items()}
    record = {'step': int(step)}
    record.update({k: (v if math.isfinite(v) else str(v))
                   for k, v in clean.items()})
    self._jsonl.write(json.dumps(record) + '\n')
    self._jsonl.flush()
    with self._tb.as_default(step=int(step)):
      for k, v in clean.items():
        self._tf.summary.scalar(k, v)
    self._tb.flush()

  def close(self) -> None:
    if self._jsonl is not None:
      self._jsonl.close()
    if self._tb is not None:
      self._tb.close()
