"""SFZ instruments: the regions of a ``.sfz`` file as ``library.Sample``s.

The parts of the SFZ format (sfzformat.com) that say which recorded note a
region plays:

* headers ``<control>``, ``<global>``, ``<master>``, ``<group>``,
  ``<region>``; a region's opcodes override its group's, which override the
  master's and the global's (other headers end the current region and are
  otherwise ignored);
* ``sample`` (a path relative to the ``.sfz`` file, after ``<control>``'s
  ``default_path``; it may hold spaces; backslashes are folder separators),
  ``key`` (= ``lokey`` = ``hikey`` = ``pitch_keycenter``), ``lokey``,
  ``hikey``, ``pitch_keycenter``, ``lovel``, ``hivel``, ``tune`` (cents),
  ``transpose`` (semitones), ``offset`` (samples), ``loop_mode``,
  ``loop_start`` / ``loop_end`` (also ``loopstart`` / ``loopend``),
  ``trigger`` (``release`` regions are release samples);
* keys as numbers or note names (``c4`` = 60, ``f#3``, ``db5``);
* ``//`` and ``/* */`` comments, ``#define $NAME value`` (and ``$NAME`` in
  later text), ``#include "file.sfz"`` (relative to the including file).

Two parsers on PyPI were looked at: ``sfzen`` 2.6.2 reads includes,
defines and inheritance, but is GPL-3.0-or-later (its terms would pass to
this package) and 17,000 lines; ``sfzlint`` 0.1.4 (MIT, last released in
2022) is a linter on the deprecated ``lark-parser``. The subset needed
here is a few dozen lines, written here with tests
(``tests/test_real_samples.py``).
"""

from __future__ import annotations

import os
import re
from typing import Any

from data_pipelines.real_samples import library

_TOKEN = re.compile(r'<(\w+)>|([A-Za-z_][\w]*)=')
_DEFINE = re.compile(r'^\s*#define\s+(\$\w+)\s+(.*?)\s*$')
_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$')
_LEVELS = ('global', 'master', 'group')


def _text(path: str, defines: dict[str, str], depth: int = 0) -> str:
  """The file's text with comments removed, defines applied and includes
  inlined (``#include`` paths relative to the including file)."""
  if depth > 16:
    raise library.LibraryError(f'{path}: #include nested more than 16 deep')
  try:
    with open(path, encoding='utf-8', errors='replace') as f:
      raw = f.read()
  except OSError as error:
    raise library.LibraryError(
        f'{path}: cannot read the SFZ file ({error.strerror or error})'
    ) from error
  raw = re.sub(r'/\*.*?\*/', ' ', raw, flags=re.S)
  lines = []
  for line in raw.splitlines():
    line = line.split('//', 1)[0]
    match = _DEFINE.match(line)
    if match:
      defines[match.group(1)] = match.group(2)
      continue
    for name in sorted(defines, key=len, reverse=True):
      line = line.replace(name, defines[name])
    match = _INCLUDE.match(line)
    if match:
      included = os.path.join(os.path.dirname(path),
                              match.group(1).replace('\\', '/'))
      lines.append(_text(included, defines, depth + 1))
      continue
    lines.append(line)
  return '\n'.join(lines)


def parse(path: str) -> list[dict[str, Any]]:
  """Each region's opcodes, its global's, master's and group's included
  (the region's win), in file order, with ``'_default_path'``: the
  ``<control>`` ``default_path`` in force where the region is.

  Raises:
    library.LibraryError: an unreadable file or include.
  """
  regions: list[dict[str, Any]] = []
  scopes: dict[str, dict[str, str]] = {k: {} for k in _LEVELS}
  control: dict[str, str] = {}
  header, current = '', None

  def close():
    if current is not None:
      merged: dict[str, Any] = {}
      for level in _LEVELS:
        merged.update(scopes[level])
      merged.update(current)
      merged['_default_path'] = control.get('default_path', '')
      regions.append(merged)

  for line in _text(path, {}).splitlines():
    matches = list(_TOKEN.finditer(line))
    for i, match in enumerate(matches):
      if match.group(1) is not None:  # a header ends the open region
        close()
        current = None
        header = match.group(1).lower()
        if header == 'region':
          current = {}
        elif header in _LEVELS:  # a new scope clears it and those below
          for level in _LEVELS[_LEVELS.index(header):]:
            scopes[level] = {}
        continue
      # A value runs to the next opcode or header (sample paths have spaces).
      end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
      name, value = match.group(2).lower(), line[match.end():end].strip()
      if current is not None:
        current[name] = value
      elif header in _LEVELS:
        scopes[header][name] = value
      elif header == 'control':
        control[name] = value
  close()
  return regions


def _key(value: str) -> int:
  return library.note_to_midi(value)


def read(path: str, *, instrument: str, family: str,
         library_name: str | None = None) -> list[library.Sample]:
  """The regions of the ``.sfz`` file ``path`` as samples (release regions
  included, marked; regions without a sample left out).

  Raises:
    library.LibraryError: an unreadable file, a region whose sample is not
      on disk, or a key that is not a note.
  """
  name = library_name or os.path.splitext(os.path.basename(path))[0]
  folder = os.path.dirname(os.path.abspath(path))
  samples = []
  for region in parse(path):
    if not region.get('sample'):
      continue
    relative = (region['_default_path'] + region['sample']).replace('\\', '/')
    sample_path = os.path.normpath(os.path.join(folder, relative))
    if not os.path.isfile(sample_path):
      raise library.LibraryError(
          f'{path}: region sample {relative} not found ({sample_path}).')
    try:
      key = region.get('key')
      lo = _key(region.get('lokey', key if key is not None else 0))
      hi = _key(region.get('hikey', key if key is not None else 127))
      centre = region.get('pitch_keycenter', key)
      midi = _key(centre) if centre is not None else (lo if lo == hi
                                                      else None)
    except ValueError as error:
      raise library.LibraryError(f'{path}: {error}') from error
    loop = None
    start = region.get('loop_start', region.get('loopstart'))
    stop = region.get('loop_end', region.get('loopend'))
    if region.get('loop_mode', '') in ('loop_continuous', 'loop_sustain') \
        and start is not None and stop is not None:
      loop = (int(float(start)), int(float(stop)))
    samples.append(library.Sample(
        path=sample_path, library=name, instrument=instrument, family=family,
        midi=midi,
        velocity=(int(region.get('lovel', 1)), int(region.get('hivel', 127))),
        key_range=(lo, hi),
        tune_cents=float(region.get('tune', 0)) + 100.0 * float(
            region.get('transpose', 0)),
        offset=int(float(region.get('offset', 0))), loop=loop,
        release=region.get('trigger', 'attack').lower() == 'release'))
  return samples
