"""Every third-party module the project imports is declared in setup.py.

Walks the imports (anywhere in a file, lazy ones included) of the package
(``mpe_jax``, ``data_pipelines``), ``configs``, ``tests``, ``bench``,
``launch`` and the quickstart notebook's code cells, and checks that each
module outside the standard library and the project is provided by a
distribution that ``install_requires`` or an extra of ``setup.py`` names.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCANNED = ('mpe_jax', 'data_pipelines', 'configs', 'tests', 'bench', 'launch')
FIRST_PARTY = {'mpe_jax', 'data_pipelines', 'configs', 'tests', 'bench'}
# Imports that are not the project's to declare, and why.
NOT_DECLARED = {
    # Runs in Basic-Pitch's own virtual environment (bench/inference.py
    # makes it), never in mpe_jax's.
    ('bench/basic_pitch_child.py', 'basic_pitch'),
    ('bench/basic_pitch_child.py', 'librosa'),
    ('bench/basic_pitch_multipitch.py', 'basic_pitch'),
}


def _normalize(name: str) -> str:
  return re.sub(r'[-_.]+', '-', name).lower()


def _requirement_name(spec: str) -> str:
  return _normalize(re.split(r'[\s<>=!~;\[]', spec.strip(), maxsplit=1)[0])


def _requirement_lists(tree: ast.AST) -> dict[str, list[str]]:
  """setup.py's module-level lists of requirement strings, by name."""
  lists: dict[str, list[str]] = {}
  for node in tree.body:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
        node.targets[0], ast.Name) and isinstance(node.value, ast.List):
      lists[node.targets[0].id] = ast.literal_eval(node.value)
  return lists


def _strings(node: ast.AST, lists: dict[str, list[str]]) -> list[str]:
  """A list literal, a named list, or a sum of them, as strings."""
  if isinstance(node, ast.Name):
    return list(lists[node.id])
  if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
    return _strings(node.left, lists) + _strings(node.right, lists)
  return list(ast.literal_eval(node))


def declared(setup_source: str) -> dict[str, str]:
  """Normalised distribution name -> where setup.py declares it."""
  tree = ast.parse(setup_source)
  lists = _requirement_lists(tree)
  out: dict[str, str] = {}
  for spec in lists.get('INSTALL_REQUIRES', []):
    out[_requirement_name(spec)] = 'install_requires'
  for node in ast.walk(tree):
    if isinstance(node, ast.keyword) and node.arg == 'extras_require':
      assert isinstance(node.value, ast.Dict)
      for key, value in zip(node.value.keys, node.value.values):
        for spec in _strings(value, lists):
          out.setdefault(_requirement_name(spec),
                         f'extra {ast.literal_eval(key)!r}')
  return out


def _imports(source: str) -> set[str]:
  names = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names |= {a.name.split('.')[0] for a in node.names}
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
      names.add(node.module.split('.')[0])
  return names


def project_imports() -> dict[str, set[str]]:
  """Top-level module -> the files (relative paths) importing it."""
  found: dict[str, set[str]] = {}
  for top in SCANNED:
    for folder, _, files in os.walk(os.path.join(ROOT, top)):
      local = {f[:-3] for f in files if f.endswith('.py')}
      for name in files:
        if not name.endswith('.py'):
          continue
        path = os.path.join(folder, name)
        rel = os.path.relpath(path, ROOT)
        with open(path, encoding='utf-8') as f:
          modules = _imports(f.read())
        for module in modules - local:  # a sibling script's own modules
          found.setdefault(module, set()).add(rel)
  notebook = os.path.join(ROOT, 'notebooks', 'quickstart.ipynb')
  with open(notebook, encoding='utf-8') as f:
    cells = json.load(f)['cells']
  for cell in cells:
    if cell['cell_type'] == 'code':
      for module in _imports(''.join(cell['source'])):
        found.setdefault(module, set()).add('notebooks/quickstart.ipynb')
  return found


def undeclared(found: dict[str, set[str]], declared_names: dict[str, str]
               ) -> list[str]:
  """One line per third-party module no declared distribution provides."""
  providers = importlib.metadata.packages_distributions()
  problems = []
  for module in sorted(found):
    if module in sys.stdlib_module_names or module in FIRST_PARTY:
      continue
    files = sorted(f for f in found[module]
                   if (f, module) not in NOT_DECLARED)
    if not files:
      continue
    dists = {_normalize(d) for d in providers.get(module, [module])}
    if not dists & set(declared_names):
      problems.append(f'{module} (imported by {", ".join(files[:3])}) is '
                      f'not declared in setup.py (provided by '
                      f'{", ".join(sorted(dists))})')
  return problems


def test_every_imported_module_is_declared():
  with open(os.path.join(ROOT, 'setup.py'), encoding='utf-8') as f:
    names = declared(f.read())
  problems = undeclared(project_imports(), names)
  assert not problems, '\n'.join(problems)


def test_a_deleted_declaration_is_named():
  with open(os.path.join(ROOT, 'setup.py'), encoding='utf-8') as f:
    source = f.read()
  names = declared(source)
  assert names['ipython'] == "extra 'test'"
  del names['mido']
  problems = undeclared(project_imports(), names)
  assert len(problems) == 1 and problems[0].startswith('mido (imported by ')


def test_ci_runs_the_readme_test_command_in_a_new_environment():
  with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
    readme = f.read()
  section = readme.split('\n## Two commands\n', 1)[1].split('\n## ', 1)[0]
  commands = re.findall(r'```bash\n(.*?)\n```', section, re.S)
  assert len(commands) == 2, commands
  with open(os.path.join(ROOT, '.ci', 'run'), encoding='utf-8') as f:
    ci = f.read().splitlines()
  assert commands[1] in ci  # the same line, verbatim
  venv = next(i for i, line in enumerate(ci) if '-m venv' in line)
  assert '--system-site-packages' not in ci[venv]
  assert venv < ci.index(commands[1])
