"""No import cycle among the modules of ``mpe_jax`` and ``data_pipelines``.

Read statically from the source (nothing is imported): every ``import`` and
``from ... import`` anywhere in a file, those deferred into functions
included, is an arrow from the file's module to the module it names (``from
package import name`` points at ``package.name`` when that is a module, else
at ``package``). Any strongly connected group of two or more modules fails,
named with the arrows that tie it.
"""

from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ('mpe_jax', 'data_pipelines')


def modules(root: str = ROOT) -> dict[str, str]:
  """Dotted module name -> file, for every .py file of ``PACKAGES``."""
  out = {}
  for package in PACKAGES:
    for folder, _, files in os.walk(os.path.join(root, package)):
      for name in files:
        if name.endswith('.py'):
          path = os.path.join(folder, name)
          dotted = os.path.relpath(path, root)[:-3].replace(os.sep, '.')
          out[dotted.removesuffix('.__init__')] = path
  return out


def import_graph(mods: dict[str, str]) -> dict[str, set[str]]:
  """Module -> the project modules it imports (anywhere in the file)."""
  def owner(name: str) -> str | None:
    while name and name not in mods:
      name = name.rpartition('.')[0]
    return name or None

  graph = {m: set() for m in mods}
  for module, path in mods.items():
    with open(path, encoding='utf-8') as f:
      tree = ast.parse(f.read(), path)
    package = (module if path.endswith('__init__.py')
               else module.rpartition('.')[0])
    for node in ast.walk(tree):
      targets = []
      if isinstance(node, ast.Import):
        targets = [owner(a.name) for a in node.names]
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ''
        if node.level:  # relative import
          parts = package.split('.')[:len(package.split('.')) - node.level + 1]
          base = '.'.join(parts + ([base] if base else []))
        targets = [f'{base}.{a.name}' if f'{base}.{a.name}' in mods
                   else owner(base) for a in node.names]
      graph[module].update(t for t in targets if t and t != module)
  return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """Strongly connected groups of two or more modules (Tarjan)."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def visit(v: str) -> None:
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph[v]):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      group = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        group.append(w)
        if w == v:
          break
      if len(group) > 1:
        found.append(sorted(group))

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return found


def test_no_import_cycle():
  graph = import_graph(modules())
  groups = cycles(graph)
  described = ['; '.join(f'{a} -> {b}' for a in group for b in sorted(
      graph[a]) if b in group) for group in groups]
  assert not groups, 'import cycles: ' + ' | '.join(described)


def test_the_checker_finds_a_deferred_cycle(tmp_path):
  package = tmp_path / 'mpe_jax'
  package.mkdir()
  (tmp_path / 'data_pipelines').mkdir()
  (package / '__init__.py').write_text('')
  (package / 'a.py').write_text('from mpe_jax import b\n')
  (package / 'b.py').write_text('def f():\n  from mpe_jax.a import g\n')
  (package / 'c.py').write_text('import mpe_jax.a\n')
  graph = import_graph(modules(str(tmp_path)))
  assert graph['mpe_jax.b'] == {'mpe_jax.a'}
  assert cycles(graph) == [['mpe_jax.a', 'mpe_jax.b']]


def test_no_objective_imports_data_code():
  graph = import_graph(modules())
  offenders = sorted(f'{m} -> {t}' for m, targets in graph.items()
                     if m.startswith('mpe_jax.objectives') for t in targets
                     if t.startswith('data_pipelines'))
  assert not offenders, offenders
