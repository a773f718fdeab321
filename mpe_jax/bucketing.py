"""Whole-file salience of tracks of any length from a few compiled shapes.

Whole-file salience compiles one program per input length, about 11 s each
for SS-MPE on a 2-core CPU against 1.2 s to run a 30-s track, so evaluating
a set of tracks of different lengths would spend most of its time compiling.
``BucketedSalience`` runs a track padded to the next length of a geometric
ladder (three per octave), plus one short fixed-length window at its end,
and returns the whole-file result (its docstring says why it is exact): one
compiled program per bucket and one for the end window. The trainer's
evaluation and ``inference.Predictor`` both use it.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from mpe_jax import systems
from mpe_jax.models.skeleton import model_skeleton


BUCKETS_PER_OCTAVE = 3  # config.eval.length_buckets
BUCKET_MULTIPLE = 16


def bucket_frames(n_frames: int, minimum: int,
                  per_octave: int = BUCKETS_PER_OCTAVE,
                  multiple: int = BUCKET_MULTIPLE) -> int:
  """The smallest length of the ladder ``minimum * 2 ** (k / per_octave)``
  (each rounded up to a multiple of ``multiple`` frames) that holds
  ``n_frames`` frames."""
  if min(n_frames, minimum, per_octave, multiple) <= 0:
    raise ValueError(f'bucket_frames needs positive n_frames, minimum, '
                     f'per_octave and multiple; got {n_frames}, {minimum}, '
                     f'{per_octave}, {multiple}')
  growth = 2.0 ** (1.0 / per_octave)
  size = float(minimum)
  while True:
    frames = multiple * math.ceil(size / multiple)
    if frames >= n_frames:
      return frames
    size *= growth


class BucketedSalience:
  """Whole-file salience of tracks of any length from a few compiled shapes.

  ``__call__(params, audio [B, N]) -> [B, K, T]`` (numpy) equals the system's
  whole-file ``salience`` within float32 round-off. For a system that
  declares ``systems.Streaming`` (frame ``n`` reads audio within ``context``
  samples and front-end frames within the model's receptive field ``R``, plus
  one per-file normaliser), a file of ``T`` frames is computed as:

  * head: the audio zero-padded to ``L = bucket_frames(T)`` frames; the
    normaliser is the maximum of the frame statistic over the first ``T``
    frames (padding frames masked), which is the file's; frames
    ``[0, T - R)`` see only real frames and are kept (all ``T`` when
    ``L == T``: then the padded end is the file's end);
  * tail: the last ``W = 2R + ceil(context / hop)`` frames of the file, given
    the same normaliser, whose end is the file's end; frames ``[T - R, T)``
    lie at least ``R + ceil(context / hop)`` frames from the window's start,
    so they see only exact front-end frames (zeros pad the window on the left
    when ``T < W``: the same zeros the file is padded with).

  Files shorter than ``2R`` frames, systems without ``Streaming``, and
  ``per_octave=0`` are computed whole (one compile per length).
  """

  def __init__(self, config: ml_collections.ConfigDict, *,
               system: systems.System | None = None, frontend: Any = None,
               per_octave: int = BUCKETS_PER_OCTAVE, programs: Any = None,
               sizes: tuple[int, ...] = ()):
    """``programs``: a ``compile_cache.Programs`` store for the compiled
    functions (None: traced in every process). ``sizes``: a fixed set of
    head lengths (frames) instead of the ladder, for callers that never
    pass files longer than the largest (the transcriber's chunks), so that
    no input length of ``2R`` frames or more compiles a program of its
    own."""
    self.config = config
    self.system = system or systems.get_system(config)
    self.frontend = (frontend if frontend is not None
                     else self.system.make_frontend(config))
    skeleton = model_skeleton(config.model)
    graphdef = self.graphdef = skeleton.graphdef
    self.receptive_field = skeleton.receptive_field
    if int(per_octave) < 0:
      raise ValueError(f'length buckets per octave must be >= 0 (0: one '
                       f'compile per length), got {per_octave}')
    self.per_octave = int(per_octave)
    self.sizes = tuple(sorted(int(k) for k in sizes))
    self.streaming = self.system.streaming
    system_ = self.system

    def whole(params, frontend, audio):
      return system_.salience(nnx.merge(graphdef, params), audio, frontend,
                              config)

    wrap = programs.wrap if programs is not None else (lambda _, f: f)
    self._whole = wrap('whole', jax.jit(whole))
    self.hop_length = self.tail_frames = 0
    if self.streaming is None:
      return
    streaming = self.streaming
    self.hop_length = int(streaming.hop_length(self.frontend))
    context = int(streaming.context_samples(self.frontend))
    self.tail_frames = (2 * self.receptive_field
                        + -(-context // self.hop_length))

    def head(params, frontend, audio, n_frames):
      stat = streaming.frame_statistic(frontend, audio)  # [B, L]
      valid = jnp.arange(stat.shape[-1])[None] < n_frames[:, None]
      reference = jnp.max(jnp.where(valid, stat, -jnp.inf), axis=-1)
      sal = streaming.salience_given(nnx.merge(graphdef, params), audio,
                                     frontend, config, reference)
      return sal, reference

    def given(params, frontend, audio, reference):
      return streaming.salience_given(nnx.merge(graphdef, params), audio,
                                      frontend, config, reference)

    self._head = wrap('head', jax.jit(head))
    # (params, frontend, audio [B, N], reference [B]) -> [B, K, T], jitted.
    self.given = wrap('given', jax.jit(given))

  def bucket(self, n_frames: int) -> int:
    """Frames of the head call for a file of ``n_frames`` frames (0: whole)."""
    if self.streaming is None or n_frames < 2 * self.receptive_field:
      return 0
    if self.sizes and n_frames <= self.sizes[-1]:
      return min(k for k in self.sizes if k >= n_frames)
    if not self.per_octave:
      return 0
    return bucket_frames(n_frames, self.tail_frames, self.per_octave)

  def whole(self, params: Any, audio: Any) -> np.ndarray:
    """``[B, K, T]`` salience of ``[B, N]`` audio in one call at its own
    length (one compile per length)."""
    return np.asarray(self._whole(params, self.frontend,
                                  jnp.asarray(audio, jnp.float32)))

  def __call__(self, params: Any, audio: Any) -> np.ndarray:
    """``[B, K, T]`` salience of ``[B, N]`` audio, ``T = 1 + N // hop``."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 2 or audio.shape[1] == 0:
      raise ValueError(f'audio must be [batch, samples] with samples > 0, '
                       f'got shape {audio.shape}')
    batch, n = audio.shape
    if self.streaming is None or not (self.per_octave or self.sizes):
      return self.whole(params, audio)
    hop, r, w = self.hop_length, self.receptive_field, self.tail_frames
    frames = 1 + n // hop
    size = self.bucket(frames)
    if not size:
      return self.whole(params, audio)
    padded = np.zeros((batch, size * hop - 1), np.float32)  # -> size frames
    padded[:, :n] = audio
    sal, reference = self._head(params, self.frontend, padded,
                                np.full((batch,), frames, np.int32))
    sal = np.asarray(sal)
    if size == frames:
      return sal
    begin = (frames - w) * hop  # may be negative: zeros before the file
    tail = np.zeros((batch, w * hop - 1), np.float32)
    lo, hi = max(begin, 0), min(begin + tail.shape[1], n)
    tail[:, lo - begin:hi - begin] = audio[:, lo:hi]
    end = np.asarray(self.given(params, self.frontend, tail, reference))
    return np.concatenate([sal[..., :frames - r], end[..., w - r:]], axis=-1)
