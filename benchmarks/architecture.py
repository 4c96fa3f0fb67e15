"""Counts that show how the engine is layered (issue "One model engine for every outcome").

    python benchmarks/architecture.py [--root mejax]

Prints, for the package's source tree:
- files that branch on a family's name (``family.name ==`` / ``in``, and the like);
- function-local imports of the package's own modules (imports hidden inside functions,
  usually to dodge an import cycle);
- private names (``_x``) imported from another subpackage;
- import cycles between subpackages (from grimp's import graph, which import-linter uses);
- members that a subclass of a concrete class (one that is not abstract: no ``abc.ABC``,
  ``Protocol`` or abstract method) defines again (vary by wrapping, not by overriding).
"""

from __future__ import annotations

import argparse
import ast
import itertools
import re
from pathlib import Path

FAMILY_BRANCH = re.compile(r"fam\w*\.(name|link|dispersion)\s*(==|!=|not in|in)\s")


def _modules(root: Path):
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def _subpackage(root: Path, path: Path) -> str:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _resolve(root: Path, path: Path, node: ast.ImportFrom) -> str | None:
    """The top-level subpackage an ``from .x import y`` refers to (None for outside imports)."""
    if node.level == 0:
        mod = node.module or ""
        return mod.split(".")[1] if mod.startswith(root.name + ".") else None
    base = list(path.relative_to(root).parts[:-1])
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    target = base + (node.module.split(".") if node.module else [])
    return target[0] if target else None


def family_branches(root: Path) -> list[str]:
    return [str(p) for p in sorted(root.rglob("*.py"))
            if "families" not in p.parts and FAMILY_BRANCH.search(p.read_text())]


def local_imports(root: Path) -> int:
    count = 0
    for path, tree in _modules(root):
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.ImportFrom) and _resolve(root, path, node):
                        count += 1
    return count


def private_cross_imports(root: Path) -> list[str]:
    out = []
    for path, tree in _modules(root):
        here = _subpackage(root, path)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            there = _resolve(root, path, node)
            if there is None or there == here:
                continue
            out += [f"{path}: {a.name}" for a in node.names if a.name.startswith("_")
                    and not a.name.startswith("__")]
    return out


def package_cycles(root: Path) -> list[tuple[str, str]]:
    import grimp

    graph = grimp.build_graph(root.name, exclude_type_checking_imports=True)
    packages = sorted({m.split(".")[1] for m in graph.modules if m.count(".") >= 1})
    cycles = []
    for a, b in itertools.combinations(packages, 2):
        ma, mb = f"{root.name}.{a}", f"{root.name}.{b}"
        if ma not in graph.modules or mb not in graph.modules:
            continue
        if (graph.chain_exists(importer=ma, imported=mb, as_packages=True)
                and graph.chain_exists(importer=mb, imported=ma, as_packages=True)):
            cycles.append((a, b))
    return cycles


def _class_members(node: ast.ClassDef) -> set[str]:
    out = set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            out.add(item.target.id)
        elif isinstance(item, ast.Assign):
            out |= {t.id for t in item.targets if isinstance(t, ast.Name)}
    return out - {"__init__", "__post_init__"}


def _base_names(node: ast.ClassDef) -> list[str]:
    return [b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
            for b in node.bases]


def _raises_not_implemented(fn: ast.FunctionDef) -> bool:
    body = [s for s in fn.body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return (len(body) == 1 and isinstance(body[0], ast.Raise) and body[0].exc is not None
            and "NotImplementedError" in ast.unparse(body[0].exc))


def _is_abstract(node: ast.ClassDef) -> bool:
    """ABC, Protocol, NamedTuple or equinox ``Abstract*`` bases, an abstract method, or
    one that raises NotImplementedError (an informal abstract base)."""
    bases = _base_names(node)
    if {"ABC", "Protocol", "NamedTuple"} & set(bases) or any(
            b.startswith("Abstract") for b in bases):
        return True
    methods = [item for item in node.body if isinstance(item, ast.FunctionDef)]
    return any(_raises_not_implemented(fn) or any(
        (getattr(d, "id", None) or getattr(d, "attr", None)) == "abstractmethod"
        for d in fn.decorator_list) for fn in methods)


def concrete_overrides(root: Path) -> list[str]:
    """``Sub(Base): members`` for each class that redefines members of a concrete base."""
    classes = {node.name: node for _, tree in _modules(root) for node in ast.walk(tree)
               if isinstance(node, ast.ClassDef)}
    out = []
    for node in classes.values():
        for base in _base_names(node):
            parent = classes.get(base)
            if parent is None or _is_abstract(parent):
                continue
            again = sorted(_class_members(node) & _class_members(parent))
            if again:
                out.append(f"{node.name}({base}): {len(again)}: {', '.join(again)}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent / "mejax"))
    root = Path(parser.parse_args().root)
    branches = family_branches(root)
    private = private_cross_imports(root)
    cycles = package_cycles(root)
    print(f"files branching on a family's name: {len(branches)}")
    for name in branches:
        print(f"    {name}")
    print(f"function-local imports of mejax modules: {local_imports(root)}")
    print(f"private names imported across subpackages: {len(private)}")
    for line in private:
        print(f"    {line}")
    print(f"import cycles between subpackages: {len(cycles)}")
    for a, b in cycles:
        print(f"    {a} <-> {b}")
    overrides = concrete_overrides(root)
    count = sum(int(line.split(": ")[1]) for line in overrides)
    print(f"members overridden in subclasses of concrete classes: {count}")
    for line in overrides:
        print(f"    {line}")


if __name__ == "__main__":
    main()
