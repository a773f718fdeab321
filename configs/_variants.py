"""Comma-combined config variants (``--config=configs/x.py:quick,naive``):
one registry per config file, parsed and applied here.

Not a config (no ``get_config``): the config files import it.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import ml_collections

Variant = Callable[[ml_collections.ConfigDict], None]


class WithNames:
  """A variant that also reads the names chosen with it:
  ``fn(config, names)`` (e.g. a demo that picks modules only where the
  command line named none)."""

  def __init__(self, fn: Callable[[ml_collections.ConfigDict, list[str]],
                                  None]):
    self.fn = fn

  def __call__(self, config: ml_collections.ConfigDict,
               names: list[str]) -> None:
    self.fn(config, names)


def parse(arg: str | None, file: str, variants: Mapping[str, Variant],
          exclusive: Sequence[tuple[str, ...]] = (),
          aliases: Mapping[str, tuple[str, ...]] | None = None,
          hint: str = '') -> list[str]:
  """The variant names of ``arg`` in registry order, each once.

  ``aliases`` name combinations (e.g. a paper's table rows) that expand to
  their variants before anything is checked; ``hint`` replaces the list of
  choices in the error for an unknown name.

  Raises:
    ValueError: an unknown name, or two names of one ``exclusive`` group
      (one line naming the file and the choices).
  """
  names = []
  for a in (a.strip() for a in arg.split(',')) if arg else []:
    names += list(aliases[a]) if aliases and a in aliases else [a]
  unknown = [a for a in names if a not in variants]
  if unknown:
    pairs = [(a, b) for i, a in enumerate(variants)
             for b in list(variants)[i + 1:]
             if not any(a in g and b in g for g in exclusive)]
    example = ','.join(pairs[0] if pairs else list(variants)[:1])
    raise ValueError(f'unknown {file} variant(s) {unknown}; choose from '
                     f'{hint or list(variants)} (comma-combined, e.g. '
                     f'{example!r}).')
  for group in exclusive:
    chosen = sorted({n for n in names if n in group}, key=group.index)
    if len(chosen) > 1:
      raise ValueError(f'{file}: {chosen} are alternatives; pick one of '
                       f'{list(group)}.')
  order = list(variants)
  return sorted(set(names), key=order.index)


def apply(config: ml_collections.ConfigDict, arg: str | None, file: str,
          variants: Mapping[str, Variant],
          exclusive: Sequence[tuple[str, ...]] = (),
          aliases: Mapping[str, tuple[str, ...]] | None = None,
          hint: str = '') -> list[str]:
  """Applies the variants of ``arg`` to ``config`` in registry order;
  returns their names."""
  names = parse(arg, file, variants, exclusive, aliases, hint)
  with config.unlocked():
    for name in names:
      variant = variants[name]
      if isinstance(variant, WithNames):
        variant(config, names)
      else:
        variant(config)
  return names


def dwhs_weighting(method: str) -> Variant:
  """MAJL's 'none' / 'naive' rows (``configs/majl_*.py``): the per-item
  weighting ``config.dwhs.method`` instead of the Dynamic Weight Module,
  which is then not built."""
  def weighting(config: ml_collections.ConfigDict) -> None:
    config.dwhs.method = method
    config.model.dwm.enabled = False  # no DWM is built
  return weighting
