"""mpe_jax: multi-pitch estimation in JAX/Flax (SS-MPE, ISMIR 2025,
Timbre-Trap, MAJL).

``mpe_jax.transcribe_file(path)`` and ``mpe_jax.transcribe_array(audio,
sample_rate)`` transcribe with the shipped model (``mpe_jax.api``); the
command line is ``python -m mpe_jax.transcribe``.
"""


def transcribe_file(path, **kwargs):
  """See ``mpe_jax.api.transcribe_file`` (imports JAX on first use)."""
  from mpe_jax import api  # pylint: disable=g-import-not-at-top
  return api.transcribe_file(path, **kwargs)


def transcribe_array(audio, sample_rate, **kwargs):
  """See ``mpe_jax.api.transcribe_array`` (imports JAX on first use)."""
  from mpe_jax import api  # pylint: disable=g-import-not-at-top
  return api.transcribe_array(audio, sample_rate, **kwargs)
