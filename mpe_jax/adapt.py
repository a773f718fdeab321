"""Test-time adaptation: a copy of the model fine-tuned on the recording it
is about to transcribe, from that recording alone (opt-in).

The recording has no labels, but the model has what SS-MPE and MAJL learn
from unlabelled audio (objectives/salience.py):

* **pseudo-labels** (MAJL's confidence filtering): the unadapted model's own
  decoded peaks, as targets of the supervised BCE, on the excerpts whose
  peaks are confident (mean peak salience >= ``confidence``); the others
  get no pseudo-label term;
* **timbre invariance**: the same output under a random parabolic/Gaussian
  EQ of the HCQT (SS-MPE, Sec. 3.3);
* **geometric equivariance**: pitch shift, time shift and stretch move the
  output with the input (SS-MPE, Sec. 3.4).

Guards against the degeneration the ISMIR 2025 paper observes when these
objectives run on unlabelled audio alone: a bounded number of steps and
seconds, and a monitor on four fixed excerpts of the same recording (blank
rate and mean peak salience) that stops early and keeps the last healthy
parameters when either drifts from the unadapted model's by more than its
bound. The monitor was chosen by measurement (docs/pretrained.md): without
it one of 8 development tracks went blank within 40 steps (F1 60 -> 0); an
L2 pull of the parameters towards the shipped ones (``anchor``, weight 1e-3)
changed no track's F1 by more than 0.03 with or without the monitor, so it
is off by default (the setting stays).

``adapt(predictor, audio, ...)`` returns a new ``inference.Predictor`` on
the adapted copy; the given predictor's parameters, and the shipped files,
are never modified.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from mpe_jax.evaluation import peaks as peaks_lib
from mpe_jax.features import hcqt as hcqt_lib
from mpe_jax.models.skeleton import model_skeleton
from mpe_jax.objectives import combine as combine_lib
from mpe_jax.objectives import salience as salience_objectives


class AdaptError(ValueError):
  """The recording cannot be adapted on (too short or silent)."""


@dataclasses.dataclass(frozen=True)
class AdaptSettings:
  """How far and how long to adapt.

  Attributes:
    max_steps: optimiser steps at most.
    seconds: wall-time budget (s) of the adaptation (compilation included).
    batch_size: excerpts per step.
    excerpt_seconds: length of one excerpt (s).
    learning_rate: Adam step size.
    anchor: weight of the L2 pull towards the shipped parameters (per
      parameter, summed); 0: none (measured inert at 1e-3).
    confidence: mean peak salience an excerpt needs for pseudo-labels.
    weights: loss weights of the terms ('supervised' = pseudo-labels).
    monitor_every: steps between two checks of the degeneration monitor.
    max_blank_rise: stop when the monitored blank rate (voiced frames of
      the unadapted model left empty) exceeds the unadapted one by this.
    max_peak_drop: stop when the monitored mean peak salience falls below
      the unadapted one by this fraction.
    seed: the excerpts' and augmentations' seed.
  """
  max_steps: int = 40
  seconds: float = 60.0
  batch_size: int = 4
  excerpt_seconds: float = 2.0
  learning_rate: float = 1e-4
  anchor: float = 0.0
  confidence: float = 0.6
  weights: tuple[tuple[str, float], ...] = (
      ('supervised', 1.0), ('timbre', 1.0), ('geometric', 1.0))
  monitor_every: int = 10
  max_blank_rise: float = 0.05
  max_peak_drop: float = 0.1
  seed: int = 0


@dataclasses.dataclass
class AdaptReport:
  """What the adaptation did (``line()``: one sentence for the user)."""
  steps: int = 0
  seconds: float = 0.0
  stopped: str = ''
  labelled_share: float = 0.0
  parameter_shift: float = 0.0  # relative L2 distance to the shipped ones
  kept_step: int = 0  # the step whose parameters are returned
  monitor: list[dict[str, float]] = dataclasses.field(default_factory=list)

  def line(self) -> str:
    return (f'adapted for {self.steps} steps in {self.seconds:.1f} s '
            f'({self.stopped}); pseudo-labels on '
            f'{100 * self.labelled_share:.0f}% of excerpts; parameters moved '
            f'{100 * self.parameter_shift:.2f}%')


def loss_config(config: ml_collections.ConfigDict,
                settings: AdaptSettings) -> ml_collections.ConfigDict:
  """The model's config with the adaptation's loss weights (every other
  term off) and its own augmentation settings kept."""
  out = config.copy_and_resolve_references()
  with out.unlocked():
    for term in salience_objectives.TERMS:
      out.loss_weights[term] = 0.0
    for term, weight in settings.weights:
      out.loss_weights[term] = float(weight)
    out.objectives.energy_on_unlabeled_only = False
  return out


def _excerpts(audio: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
  return np.stack([audio[s:s + n] for s in starts]).astype(np.float32)


def _monitor(salience: np.ndarray, voiced: np.ndarray,
             threshold: float) -> dict[str, float]:
  """Blank rate on ``voiced`` frames and mean peak salience of
  ``salience [B, K, T]``."""
  active = peaks_lib.peak_mask(salience, threshold).any(axis=1)  # [B, T]
  blank = float(np.sum(~active & voiced) / max(np.sum(voiced), 1))
  return {'blank_rate': blank,
          'peak_salience': float(salience.max(axis=1).mean())}


def adapt(predictor, audio: np.ndarray,
          settings: AdaptSettings = AdaptSettings(), *,
          progress: Any = None) -> tuple[Any, AdaptReport]:
  """A predictor on a copy of ``predictor``'s model adapted to ``audio``.

  Args:
    predictor: an ``inference.Predictor`` of an HCQT-salience model.
    audio: ``[N]`` mono samples at the model rate, peak-normalised.
    settings: ``AdaptSettings``.
    progress: optional tqdm-like bar (``total`` set here, ``update`` per
      step).

  Returns:
    (adapted predictor, report).

  Raises:
    AdaptError: the audio is shorter than two excerpts, silent, or the
      unadapted model finds no pitch in it (nothing to adapt to).
  """
  t0 = time.perf_counter()
  if predictor.streaming is None:
    raise AdaptError('adaptation needs a streaming HCQT salience model.')
  config = predictor.config
  if 'hcqt' not in config or 'loss_weights' not in config:
    raise AdaptError('adaptation needs an HCQT salience model.')
  rate, hop = predictor.sample_rate, predictor.hop_length
  n = int(round(settings.excerpt_seconds * rate))
  n = (n // hop) * hop + hop - 1  # a whole number of frames
  audio = np.asarray(audio, np.float32)
  if len(audio) < 2 * n:
    raise AdaptError(f'the recording is too short to adapt on '
                     f'({len(audio) / rate:.1f} s; at least '
                     f'{2 * n / rate:.1f} s).')
  if not np.any(np.abs(audio) > 1e-4):
    raise AdaptError('the recording is silent: nothing to adapt to.')
  threshold, low = peaks_lib.decoding(config.eval)

  # The unadapted model's salience and decoded peaks: the pseudo-labels.
  salience = predictor.salience(audio)  # [K, T]
  active = peaks_lib.decode(salience, threshold, low)
  if not active.any():
    raise AdaptError('the model finds no pitch in this recording: nothing '
                     'to adapt to.')
  frames = n // hop + 1
  rng = np.random.default_rng(settings.seed)
  last = len(audio) - n
  # Fixed excerpts for the monitor, evenly spread (training excerpts are
  # drawn anywhere, so they overlap: the monitor watches the output on this
  # recording, it does not measure generalisation).
  held = np.linspace(0, last, 4).astype(np.int64) // hop * hop
  held_frames = held // hop

  def labels_at(starts):
    f = starts // hop
    lab = np.stack([active[:, s:s + frames] for s in f])
    sal = np.stack([salience[:, s:s + frames] for s in f])
    count = lab.reshape(len(f), -1).sum(axis=1)
    total = np.where(lab, sal, 0.0).reshape(len(f), -1).sum(axis=1)
    conf = total / np.maximum(count, 1)  # mean salience of the peaks
    has = (count > 0) & (conf >= settings.confidence)
    return lab, has

  cfg = loss_config(config, settings)
  weights = dict(cfg.loss_weights)
  graphdef = model_skeleton(config.model).graphdef
  frontend = predictor.frontend
  anchor = jax.tree.map(jnp.asarray, predictor.params)
  terms = salience_objectives.enabled_terms(weights)
  tx = optax.adam(settings.learning_rate)

  def loss_fn(params, batch, key):
    model = nnx.merge(graphdef, params)
    fwd = salience_objectives.forward(model, batch, key, frontend, cfg,
                                      terms=terms)
    total, parts = combine_lib.combine(
        salience_objectives.term_losses(fwd, batch, cfg), weights)
    if not settings.anchor:
      return total, parts
    pull = sum(jnp.sum(jnp.square(p - a)) for p, a in zip(
        jax.tree.leaves(params), jax.tree.leaves(anchor)))
    return total + settings.anchor * pull, parts

  @jax.jit
  def step(params, opt_state, batch, key):
    (total, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, batch, key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, total

  @jax.jit
  def held_salience(params, x):
    feats = hcqt_lib.hcqt_features(frontend, x)['db']
    return jax.nn.sigmoid(nnx.merge(graphdef, params)(feats))

  held_audio = jnp.asarray(_excerpts(audio, held, n))
  voiced = np.stack([active[:, s:s + frames].any(axis=0)
                     for s in held_frames])
  report = AdaptReport()
  base = _monitor(np.asarray(held_salience(anchor, held_audio)), voiced,
                  threshold)
  report.monitor.append({'step': 0, **base})
  params, good = anchor, anchor
  opt_state = tx.init(params)
  key = jax.random.key(settings.seed)
  labelled = []
  if progress is not None:
    progress.reset(total=settings.max_steps)
  report.stopped = f'{settings.max_steps} steps'

  def healthy(step_params, at_step: int) -> bool:
    now = _monitor(np.asarray(held_salience(step_params, held_audio)),
                   voiced, threshold)
    report.monitor.append({'step': at_step, **now})
    return (now['blank_rate'] <= base['blank_rate'] + settings.max_blank_rise
            and now['peak_salience'] >= (1 - settings.max_peak_drop)
            * base['peak_salience'])

  step_seconds = 0.0  # the last step's time: the next one is not started
  for i in range(settings.max_steps):  # unless it fits in the budget
    t_step = time.perf_counter()
    if t_step - t0 + step_seconds > settings.seconds:
      report.stopped = f'time budget {settings.seconds:g} s'
      break
    starts = rng.integers(0, last + 1, settings.batch_size) // hop * hop
    lab, has = labels_at(starts)
    labelled.append(has.mean())
    batch = {'audio': jnp.asarray(_excerpts(audio, starts, n)),
             'labels': jnp.asarray(lab), 'has_label': jnp.asarray(has)}
    params, opt_state, _ = step(params, opt_state, batch,
                                jax.random.fold_in(key, i))
    jax.block_until_ready(params)
    step_seconds = time.perf_counter() - t_step
    report.steps = i + 1
    if progress is not None:
      progress.update(1)
    if (i + 1) % settings.monitor_every == 0:
      if not healthy(params, i + 1):
        report.stopped = (f'degeneration monitor at step {i + 1}: kept '
                          f'step {report.kept_step}')
        break
      good, report.kept_step = params, i + 1
  # The steps after the last check are kept if the monitor passes them.
  if (report.steps > report.kept_step
      and not report.stopped.startswith('degeneration')):
    if healthy(params, report.steps):
      good, report.kept_step = params, report.steps
    else:
      report.stopped += (f'; degeneration monitor at step {report.steps}: '
                         f'kept step {report.kept_step}')
  params = good
  report.seconds = time.perf_counter() - t0
  report.labelled_share = float(np.mean(labelled)) if labelled else 0.0
  shift = math.sqrt(sum(float(jnp.sum(jnp.square(p - a))) for p, a in zip(
      jax.tree.leaves(params), jax.tree.leaves(anchor))))
  norm = math.sqrt(sum(float(jnp.sum(jnp.square(a)))
                       for a in jax.tree.leaves(anchor)))
  report.parameter_shift = shift / max(norm, 1e-12)
  # The same compiled programs (they take the parameters as arguments).
  adapted = copy.copy(predictor)
  adapted.params = jax.device_put(params)
  return adapted, report
