"""Comma-combined config variants (``--config=configs/x.py:quick,naive``):
one registry per config file, parsed and applied here.

Not a config (no ``get_config``): the config files import it.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import ml_collections

Variant = Callable[[ml_collections.ConfigDict], None]


def parse(arg: str | None, file: str, variants: Mapping[str, Variant],
          exclusive: Sequence[tuple[str, ...]] = ()) -> list[str]:
  """The variant names of ``arg`` in registry order.

  Raises:
    ValueError: an unknown name, or two names of one ``exclusive`` group
      (one line naming the file and the choices).
  """
  names = [a.strip() for a in arg.split(',')] if arg else []
  unknown = [a for a in names if a not in variants]
  if unknown:
    example = ','.join(list(variants)[:2])
    raise ValueError(f'unknown {file} variant(s) {unknown}; choose from '
                     f'{list(variants)} (comma-combined, e.g. '
                     f'{example!r}).')
  for group in exclusive:
    chosen = [n for n in names if n in group]
    if len(chosen) > 1:
      raise ValueError(f'{file}: {chosen} are alternatives; pick one of '
                       f'{list(group)}.')
  order = list(variants)
  return sorted(names, key=order.index)


def apply(config: ml_collections.ConfigDict, arg: str | None, file: str,
          variants: Mapping[str, Variant],
          exclusive: Sequence[tuple[str, ...]] = ()) -> list[str]:
  """Applies the variants of ``arg`` to ``config`` in registry order;
  returns their names."""
  names = parse(arg, file, variants, exclusive)
  with config.unlocked():
    for name in names:
      variants[name](config)
  return names


def dwhs_weighting(method: str) -> Variant:
  """MAJL's 'none' / 'naive' rows (``configs/majl_*.py``): the per-item
  weighting ``config.dwhs.method`` instead of the Dynamic Weight Module,
  which is then not built."""
  def weighting(config: ml_collections.ConfigDict) -> None:
    config.dwhs.method = method
    config.model.dwm.enabled = False  # no DWM is built
  return weighting
