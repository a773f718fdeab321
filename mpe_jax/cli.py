"""Command-line plumbing shared by the commands (``transcribe``, ``evaluate``,
``main``, ``pretrained``, ``resynthesize``, the pseudo-labellers).

User errors end as one line on stderr (``<prog>: error: ...``) and a non-zero
exit status; ``--verbose`` shows tracebacks. Each command defines its flags on
its own ``FlagValues`` so the commands can be imported (and run, for tests and
notebooks) in one process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging as py_logging
import os
import re
import sys
from typing import Callable, Sequence

from absl import flags, logging

# Exit statuses.
OK, FAILURES, USAGE = 0, 1, 2


class UsageError(ValueError):
  """A bad command line (flag value, missing argument)."""


def one_line(error: BaseException) -> str:
  """``Type: first line of the message`` (at most 400 characters)."""
  lines = str(error).strip().splitlines()
  text = ' '.join(lines[0].split()) if lines else ''
  name = type(error).__name__
  return f'{name}: {text[:400]}' if text else name


def parse(fv: flags.FlagValues, argv: Sequence[str], usage: str
          ) -> list[str]:
  """Parses ``argv`` (program name first); returns the positional arguments.

  Raises:
    UsageError: unknown flag, bad value, missing required flag.
    SystemExit(0): ``--help`` (the help text is printed).
  """
  argv = list(argv)
  if any(a in ('-h', '--help', '-help', '--helpfull') for a in argv[1:]):
    print(usage.strip() + '\n\nFlags:\n' + fv.get_help(), file=sys.stdout)
    raise SystemExit(OK)
  try:
    rest = fv(argv)
  except flags.Error as e:
    raise UsageError(' '.join(str(e).split())) from e
  flags.FLAGS.mark_as_parsed()  # absl logging: no "before flag parsing" note
  return rest[1:]


@contextlib.contextmanager
def quiet_logging(verbose: bool):
  """INFO logs (and library chatter) only with ``--verbose``; the previous
  levels come back on exit (the commands also run inside notebooks/tests)."""
  names = ('jax', 'orbax', 'tensorflow')
  saved = (logging.get_verbosity(),
           [py_logging.getLogger(n).level for n in names])
  logging.set_verbosity(logging.INFO if verbose else logging.WARNING)
  for name in names:
    py_logging.getLogger(name).setLevel(py_logging.INFO if verbose
                                        else py_logging.ERROR)
  if not verbose:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  try:
    yield
  finally:
    logging.set_verbosity(saved[0])
    for name, level in zip(names, saved[1]):
      py_logging.getLogger(name).setLevel(level)


def require(fv: flags.FlagValues, *names: str) -> None:
  """A ``UsageError`` naming every flag of ``names`` when any is unset
  ('--a and --b are required')."""
  if all(fv[name].value for name in names):
    return
  flags_ = [f'--{name}' for name in names]
  listed = (flags_[0] if len(flags_) == 1
            else f'{", ".join(flags_[:-1])} and {flags_[-1]}')
  raise UsageError(f'{listed} {"is" if len(flags_) == 1 else "are"} required')


def run_command(prog: str, body: Callable[[], int], verbose: Callable[[], bool]
                ) -> int:
  """Runs ``body``; user errors become one line on stderr and status 2."""
  try:
    return body()
  except UsageError as e:
    print(f'{prog}: error: {e} (see --help)', file=sys.stderr)
    return USAGE
  except (OSError, ValueError, KeyError, RuntimeError) as e:
    if verbose():
      raise
    print(f'{prog}: error: {one_line(e)}', file=sys.stderr)
    return USAGE


# ------------------------------------------------ --config.<key> overrides --


def load_config_file(spec: str):
  """``path.py[:arg]`` -> the ConfigDict its ``get_config(arg)`` returns (the
  ``--config`` flag's syntax, for notebooks and scripts)."""
  path, _, arg = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location('_mpe_jax_config',
                                                       path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def unknown_override(argv: Sequence[str], flag: str = 'config'
                     ) -> str | None:
  """One line naming the first ``--config.a.b=`` override whose key does not
  exist, with the valid keys at that level; ``None`` when all exist (or the
  config file itself cannot be loaded)."""
  spec = None
  overrides = []
  for arg in argv:
    m = re.match(rf'^--?{flag}(=(.*))?$', arg)
    if m and m.group(2) is not None:
      spec = m.group(2)
    m = re.match(rf'^--?{flag}\.([^=]+)', arg)
    if m:
      overrides.append(m.group(1))
  if spec is None or not overrides:
    return None
  try:
    config = load_config_file(spec)
  except Exception:  # pylint: disable=broad-except  (reported by absl later)
    return None
  for path in overrides:
    node, walked = config, flag
    for part in path.split('.'):
      keys = sorted(node.keys()) if hasattr(node, 'keys') else []
      if part not in keys:
        if not keys:
          return (f'unknown config key --{flag}.{path}: {walked} is a value, '
                  'not a group of keys')
        return (f'unknown config key --{flag}.{path}; valid keys of '
                f'{walked}: {", ".join(keys)}')
      node, walked = node[part], f'{walked}.{part}'
  return None


def config_flags_parser(fv: flags.FlagValues, flag: str = 'config'
                        ) -> Callable[[list[str]], list[str]]:
  """An ``app.run(flags_parser=...)`` that reports config-key typos in one
  line (with the valid keys) before anything heavy is imported."""

  def parser(argv: list[str]) -> list[str]:
    prog = os.path.basename(argv[0])
    message = unknown_override(argv, flag)
    for arg in argv:
      m = re.match(rf'^--?{flag}=([^:]*)', arg)
      if m and not os.path.isfile(m.group(1)):
        message = f'config file {m.group(1)} not found (--{flag}=FILE[:ARG])'
    if message is not None:
      print(f'{prog}: error: {message}', file=sys.stderr)
      raise SystemExit(USAGE)
    try:
      return fv(argv)
    except (flags.Error, AttributeError, KeyError, ValueError) as e:
      text = str(e)
      if 'Traceback (most recent call last)' in text:  # keep the error line
        lines = [l for l in text.splitlines() if l.strip()]
        head = text.split(': Error whilst')[0].split(': Traceback')[0]
        text = f'{head}: {lines[-1].strip()}'
      print(f'{prog}: error: {" ".join(text.split())} (see --help)',
            file=sys.stderr)
      raise SystemExit(USAGE) from e

  return parser
