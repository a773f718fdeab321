"""Resynthesis with a Timbre-Trap checkpoint: reconstructed and timbre-less audio.

  python -m mpe_jax.resynthesize --checkpoint=WORKDIR AUDIO [AUDIO ...] \\
      --output_dir=OUT

For every input ``NAME.ext`` it writes ``OUT/NAME.reconstruction.wav`` (the
reconstruction-mode coefficients) and ``OUT/NAME.timbreless.wav`` (the
transcription-mode coefficients, whose magnitude is the pitch salience)
through the inverse CQT, at the model's sample rate, 32-bit float, each
peak-normalised (as the released code does; ``--nonormalize`` keeps the raw
level), and prints the SDR of the reconstruction against the input.

Audio is read as mono at the model rate and processed in chunks of whole CQT
slices (``--chunk_seconds``); the model sees each chunk on its own.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import flags  # pylint: disable=g-import-not-at-top
import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import ml_collections  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from flax import nnx  # pylint: disable=g-import-not-at-top

from mpe_jax import checkpointing, cli, systems  # pylint: disable=g-import-not-at-top
from mpe_jax.evaluation import separation  # pylint: disable=g-import-not-at-top
from mpe_jax.models import build_model  # pylint: disable=g-import-not-at-top
from mpe_jax.objectives import timbre_trap  # pylint: disable=g-import-not-at-top

OUTPUTS = ('reconstruction', 'timbreless')
USAGE = """Resynthesize audio with a Timbre-Trap checkpoint.

Usage: python -m mpe_jax.resynthesize --checkpoint=DIR --output_dir=DIR
           AUDIO [AUDIO ...]
"""


class Resynthesizer:
  """A restored Timbre-Trap model and its jitted resynthesis function."""

  def __init__(self, checkpoint: str, *, prefer: str = 'best'):
    """Restores ``checkpoint`` (a workdir, checkpoints dir or step dir).

    Raises:
      checkpointing.CheckpointError: no checkpoint there.
      ValueError: the checkpoint is not a complex-CQT Timbre-Trap model.
    """
    from mpe_jax import train_state  # pylint: disable=g-import-not-at-top
    self.step_dir = checkpointing.find_checkpoint(checkpoint, prefer=prefer)
    config = ml_collections.ConfigDict(
        checkpointing.read_checkpoint_config(self.step_dir))
    if config.system != 'timbre_trap':
      raise ValueError(f'{self.step_dir} holds a {config.system!r} model; '
                       'resynthesis needs a Timbre-Trap checkpoint '
                       '(configs/timbre_trap.py).')
    if config.cqt.representation != 'complex':
      raise ValueError(f'{self.step_dir} models magnitude CQT '
                       f'({config.cqt.representation!r}); only complex '
                       'coefficients can be resynthesised.')
    system = systems.get_system(config)
    system.validate(config)
    self.config = config
    self.cqt = system.make_frontend(config)
    self.sample_rate = int(config.cqt.sample_rate)
    # Onto this process's first device, whatever topology saved it.
    abstract = train_state.abstract_state(
        config, jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))
    self.params = checkpointing.restore_params_from(self.step_dir,
                                                    abstract).params
    graphdef = nnx.graphdef(nnx.eval_shape(
        lambda: build_model(config.model, jax.random.key(0, impl='rbg'))))
    cqt = self.cqt

    @jax.jit
    def run(params, audio):
      model = nnx.merge(graphdef, params)
      return timbre_trap.resynthesize(model, audio, cqt, config)

    self._run = run

  def __call__(self, audio: np.ndarray, *, chunk_seconds: float = 30.0
               ) -> dict[str, np.ndarray]:
    """Mono audio ``[N]`` at ``sample_rate`` -> ``{'reconstruction',
    'timbreless'}`` ``[N]`` float32 (not normalised)."""
    audio = np.asarray(audio, np.float32).reshape(-1)
    block = self.cqt.block_length
    chunk = max(1, int(round(chunk_seconds * self.sample_rate / block))) * block
    pieces = {k: [] for k in OUTPUTS}
    for start in range(0, max(len(audio), 1), chunk):
      part = audio[start:start + chunk]
      padded = np.zeros(chunk if len(audio) > chunk else len(part), np.float32)
      padded[:len(part)] = part  # one compiled shape for all full chunks
      out = self._run(self.params, jnp.asarray(padded)[None])
      for k in OUTPUTS:
        pieces[k].append(np.asarray(out[k])[0, :len(part)])
    return {k: np.concatenate(v) for k, v in pieces.items()}


def _write(path: str, audio: np.ndarray, sample_rate: int,
           normalize: bool) -> None:
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  from data_pipelines import audio as audio_lib  # pylint: disable=g-import-not-at-top
  if normalize:
    audio = audio_lib.peak_normalize(audio)
  sf.write(path, audio.astype(np.float32), sample_rate, subtype='FLOAT')


def resynthesize_file(resynthesizer: Resynthesizer, path: str,
                      output_dir: str, *, normalize: bool = True,
                      chunk_seconds: float = 30.0) -> dict[str, str | float]:
  """Writes both outputs of one file; returns their paths and the SDR.

  Raises:
    data_pipelines.audio.AudioError: the input cannot be read.
  """
  from data_pipelines import audio as audio_lib  # pylint: disable=g-import-not-at-top
  audio = audio_lib.load_audio(path, resynthesizer.sample_rate)
  out = resynthesizer(audio, chunk_seconds=chunk_seconds)
  name = os.path.splitext(os.path.basename(path))[0]
  entry = {'input': path,
           'sdr': separation.sdr(audio, out['reconstruction']),
           'sdr_filtered': separation.sdr_filtered(audio,
                                                   out['reconstruction'])}
  os.makedirs(output_dir, exist_ok=True)
  for k in OUTPUTS:
    entry[k] = os.path.join(output_dir, f'{name}.{k}.wav')
    _write(entry[k], out[k], resynthesizer.sample_rate, normalize)
  return entry


def resynthesize_files(resynthesizer: Resynthesizer, paths: list[str],
                       output_dir: str, *, normalize: bool = True,
                       chunk_seconds: float = 30.0
                       ) -> list[dict[str, str | float]]:
  """``resynthesize_file`` for every path, in order."""
  return [resynthesize_file(resynthesizer, p, output_dir, normalize=normalize,
                            chunk_seconds=chunk_seconds) for p in paths]


# -------------------------------------------------------------------- CLI ---


def _define_flags():
  fv = flags.FlagValues()
  flags.DEFINE_string('checkpoint', None, 'Timbre-Trap workdir, checkpoints '
                      'dir or step dir.', flag_values=fv)
  flags.DEFINE_string('output_dir', None, 'Directory for the written audio.',
                      flag_values=fv)
  flags.DEFINE_enum('prefer', 'best', ['best', 'latest'], 'Checkpoint of a '
                    'workdir to use.', flag_values=fv)
  flags.DEFINE_bool('normalize', True, 'Peak-normalise the written audio.',
                    flag_values=fv)
  flags.DEFINE_float('chunk_seconds', 30.0, 'Audio processed per model call '
                     '(rounded to whole CQT slices).', flag_values=fv)
  flags.DEFINE_bool('verbose', False, 'Tracebacks and library logs.',
                    flag_values=fv)
  return fv


def run(argv: Sequence[str]) -> int:
  """The command line; returns the exit status (0 or 2)."""
  fv = _define_flags()

  def body() -> int:
    paths = cli.parse(fv, argv, USAGE)
    cli.require(fv, 'checkpoint', 'output_dir')
    if not paths:
      raise cli.UsageError('give at least one audio file')
    with cli.quiet_logging(fv.verbose):
      return command(paths)

  def command(paths: list[str]) -> int:
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
      raise FileNotFoundError(f'audio file(s) not found: {", ".join(missing)}')
    resynth = Resynthesizer(fv.checkpoint, prefer=fv.prefer)
    print(f'Restored {resynth.step_dir}', flush=True)
    for path in paths:
      entry = resynthesize_file(resynth, path, fv.output_dir,
                                normalize=fv.normalize,
                                chunk_seconds=fv.chunk_seconds)
      print(f'{path}: reconstruction SDR {entry["sdr"]:.2f} dB (filtered '
            f'{entry["sdr_filtered"]:.2f} dB) -> {entry["reconstruction"]}, '
            f'{entry["timbreless"]}', flush=True)
    return cli.OK

  return cli.run_command('mpe_jax.resynthesize', body,
                         lambda: bool(fv['verbose'].value))


def main() -> None:
  sys.exit(run(sys.argv))


if __name__ == '__main__':
  main()
