"""One call from Python: ``mpe_jax.transcribe_file`` and
``mpe_jax.transcribe_array``, with the shipped model and no config.

    import mpe_jax
    result = mpe_jax.transcribe_file('song.wav')
    result.notes            # [outputs.Note(pitch, start, end, velocity)]
    result.multipitch       # per frame, the active frequencies (Hz)
    result.salience         # [bins, frames] in [0, 1]
    result.write_midi('song.mid'); result.write_txt('song.multipitch.txt')

The model is loaded on the first call and kept for the next ones (one per
``checkpoint``); the persistent caches of ``compile_cache`` make later
processes start faster (``cache=False`` leaves JAX's settings alone).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np


@functools.lru_cache(maxsize=2)
def _predictor(checkpoint: str | None, cache: bool):
  from mpe_jax import compile_cache  # pylint: disable=g-import-not-at-top
  from mpe_jax import inference  # pylint: disable=g-import-not-at-top
  cache_dir = compile_cache.enable(cache) if cache else None
  return inference.load_predictor(checkpoint, cache_dir=cache_dir)


def transcribe_array(audio: Any, sample_rate: int, *,
                     checkpoint: str | None = None,
                     threshold: float | None = None,
                     cache: bool = True, adapt: Any = False):
  """Transcribes ``audio`` (``[N]`` mono or ``[N, C]``, any rate).

  Args:
    audio: samples (float; channels are averaged, resampled to the model
      rate and divided by their peak, as the command does).
    sample_rate: Hz of ``audio``.
    checkpoint: None (the shipped model), a shipped model's name, or a
      training run / checkpoint folder.
    threshold: peak threshold (default: the model's calibrated one).
    cache: use the persistent compilation caches (``compile_cache``).
    adapt: True (default settings) or an ``adapt.AdaptSettings``: adapt a
      copy of the model to this recording first (``mpe_jax.adapt``; the
      result's ``adaptation`` says what it did); False: no adaptation.

  Returns:
    A ``transcribe.Transcription``.

  Raises:
    ValueError: empty audio or NaN/Inf samples.
  """
  from mpe_jax import transcribe  # pylint: disable=g-import-not-at-top
  predictor = _predictor(None if checkpoint is None else os.fspath(checkpoint),
                         bool(cache))
  settings = None
  if adapt is not False and adapt is not None:
    from mpe_jax import adapt as adapt_lib  # pylint: disable=g-import-not-at-top
    settings = adapt_lib.AdaptSettings() if adapt is True else adapt
  return transcribe.transcribe_audio(np.asarray(audio), int(sample_rate),
                                     predictor, threshold=threshold,
                                     adapt=settings)


def transcribe_file(path: str | os.PathLike[str], *,
                    checkpoint: str | None = None,
                    threshold: float | None = None, cache: bool = True,
                    adapt: Any = False):
  """Transcribes an audio file (any format libsndfile or ffmpeg reads).

  Raises:
    data_pipelines.audio.AudioError: the file is missing or not audio (one
      line naming it).
    ValueError: NaN/Inf samples.
  """
  from data_pipelines import audio as audio_lib  # pylint: disable=g-import-not-at-top
  predictor = _predictor(None if checkpoint is None else os.fspath(checkpoint),
                         bool(cache))
  audio = audio_lib.load_audio(os.fspath(path), predictor.sample_rate)
  return transcribe_array(audio, predictor.sample_rate, checkpoint=checkpoint,
                          threshold=threshold, cache=cache, adapt=adapt)
