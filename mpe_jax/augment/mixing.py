"""Waveform-level mixing for percussion invariance (ISMIR 2025)."""

from __future__ import annotations

import jax


def sample_volumes(key: jax.Array, batch: int, max_volume: float
                   ) -> jax.Array:
  """Per-item drum volumes ``v ~ U(0, max_volume)``, ``[B, 1]``."""
  return max_volume * jax.random.uniform(key, (batch, 1))


def mix(audio: jax.Array, drums: jax.Array, volume: jax.Array) -> jax.Array:
  """``audio + v * drums`` for ``[B, N]`` waveforms (no renormalisation: the
  HCQT's per-item dB reference makes the global scale irrelevant)."""
  return audio + volume * drums
