"""One call from Python: ``mpe_jax.transcribe_file`` and
``mpe_jax.transcribe_array``, with the shipped model and no config.

    import mpe_jax
    result = mpe_jax.transcribe_file('song.wav')
    result.notes            # [outputs.Note(pitch, start, end, velocity)]
    result.multipitch       # per frame, the active frequencies (Hz)
    result.salience         # [bins, frames] in [0, 1]
    result.write_midi('song.mid', tempo_bpm=96)
    result.write_notes('song.notes.csv'); result.write_txt('song.txt')

The model is loaded on the first call and kept for the next ones (one per
``checkpoint``); the persistent caches of ``compile_cache`` make later
processes start faster (``cache=False`` leaves JAX's settings alone).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from mpe_jax import outputs



@functools.lru_cache(maxsize=2)
def _predictor(checkpoint: str | None, cache: bool):
  from mpe_jax import compile_cache  # pylint: disable=g-import-not-at-top
  from mpe_jax import inference  # pylint: disable=g-import-not-at-top
  cache_dir = compile_cache.enable(cache) if cache else None
  return inference.load_predictor(checkpoint, cache_dir=cache_dir)


def transcribe_array(audio: Any, sample_rate: int, *,
                     checkpoint: str | None = None,
                     threshold: float | None = None,
                     min_note_seconds: float = outputs.MIN_NOTE_SECONDS,
                     onset_threshold: float | None = outputs.ONSET_DB,
                     min_frequency: float | None = None,
                     max_frequency: float | None = None,
                     cache: bool = True, adapt: Any = False):
  """Transcribes ``audio`` (``[N]`` mono, ``[N, C]`` or ``[C, N]``, any
  rate).

  Args:
    audio: samples (float; channels are averaged, resampled to the model
      rate and divided by their peak, as the command does). A 2-D array is
      ``[N, C]`` or ``[C, N]`` by which axis is at most 8 long
      (``transcribe.to_mono``); another shape is a ``ValueError``.
    sample_rate: Hz of ``audio``.
    checkpoint: None (the shipped model), a shipped model's name, or a
      training run / checkpoint folder.
    threshold: peak threshold (default: the model's calibrated one).
    min_note_seconds: shortest note kept (s).
    onset_threshold: rise (dB) at a sounding note's harmonics that starts
      it again (a repeated note); None never splits.
    min_frequency, max_frequency: pitches outside ``[min, max]`` Hz are
      left out (None: no limit).
    cache: keep compiled programs on disk for the next process
      (``compile_cache``; JAX's own settings are not touched).
    adapt: True (default settings) or an ``adapt.AdaptSettings``: adapt a
      copy of the model to this recording first (``mpe_jax.adapt``; the
      result's ``adaptation`` says what it did); False: no adaptation.

  Returns:
    A ``transcribe.Transcription``.

  Raises:
    ValueError: empty audio, an ambiguous shape, NaN/Inf samples, a bad
      frequency range.
  """
  from mpe_jax import transcribe  # pylint: disable=g-import-not-at-top
  mono = transcribe.to_mono(audio)  # the layout is checked before loading
  predictor = _predictor(None if checkpoint is None else os.fspath(checkpoint),
                         bool(cache))
  settings = None
  if adapt is not False and adapt is not None:
    from mpe_jax import adapt as adapt_lib  # pylint: disable=g-import-not-at-top
    settings = adapt_lib.AdaptSettings() if adapt is True else adapt
  return transcribe.transcribe_audio(
      mono, int(sample_rate), predictor, threshold=threshold,
      min_note_seconds=min_note_seconds, onset_threshold=onset_threshold,
      min_frequency=min_frequency, max_frequency=max_frequency,
      adapt=settings)


def transcribe_file(path: str | os.PathLike[str], *,
                    checkpoint: str | None = None,
                    threshold: float | None = None,
                    min_note_seconds: float = outputs.MIN_NOTE_SECONDS,
                    onset_threshold: float | None = outputs.ONSET_DB,
                    min_frequency: float | None = None,
                    max_frequency: float | None = None,
                    cache: bool = True, adapt: Any = False):
  """Transcribes an audio file (what libsndfile reads: WAV, FLAC, OGG,
  MP3, ...; other formats through ffmpeg, when installed). The options are
  ``transcribe_array``'s.

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
                          threshold=threshold,
                          min_note_seconds=min_note_seconds,
                          onset_threshold=onset_threshold,
                          min_frequency=min_frequency,
                          max_frequency=max_frequency, cache=cache,
                          adapt=adapt)
