r"""Exports a training run's checkpoint as a shipped model.

  python -m mpe_jax.pretrained --export=runs/pretrained --name=gm_joint_v1

writes ``mpe_jax/pretrained/<name>/`` (params.npz, config.json,
params.sha256) from the run's best checkpoint and prints the hash for the
model card; ``--check=<name>`` loads a shipped model and prints its hash.
"""

from __future__ import annotations

from collections.abc import Sequence
import os
import sys

from absl import app
from absl import flags

_EXPORT = flags.DEFINE_string('export', '', 'A run (workdir or step dir).')
_NAME = flags.DEFINE_string('name', '', 'Name of the shipped model.')
_PREFER = flags.DEFINE_enum('prefer', 'best', ('best', 'latest'),
                            'Which checkpoint of a workdir.')
_CHECK = flags.DEFINE_string('check', '', 'Load and verify a shipped model.')


def main(argv: Sequence[str]) -> None:
  del argv
  from mpe_jax import checkpointing  # pylint: disable=g-import-not-at-top
  from mpe_jax import pretrained  # pylint: disable=g-import-not-at-top
  try:
    if _CHECK.value:
      pretrained.load(_CHECK.value)
      directory = pretrained.model_dir(_CHECK.value)
    elif _EXPORT.value and _NAME.value:
      directory = pretrained.export(_EXPORT.value, _NAME.value,
                                    prefer=_PREFER.value)
    else:
      sys.exit('Usage: python -m mpe_jax.pretrained --export=RUN --name=NAME '
               '| --check=NAME')
  except (pretrained.PretrainedError, checkpointing.CheckpointError) as error:
    sys.exit(f'Error: {" ".join(str(error).split())}')
  npz = os.path.join(directory, 'params.npz')
  print(f'{directory}: params.npz {os.path.getsize(npz) / 1e6:.2f} MB, '
        f'sha256 {pretrained.sha256_of(npz)}')


if __name__ == '__main__':
  app.run(main)
