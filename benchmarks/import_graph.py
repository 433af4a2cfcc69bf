"""Measures bayes_zoo's own import graph: modules, levels, import arrows, circles.

An arrow is an `import` of one of the package's modules by another, at any
depth in the importing file (a function's lazy import counts). With
`--top`, a subpackage (`layers`, `tasks`, `zoo`, `architectures`) counts as one
module, as issue 16 counted the package before its restructuring.

    python benchmarks/import_graph.py [--top] [--arrows] [--package FOLDER]
"""

import argparse
import ast
import os
import sys

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bayes_zoo")


def _module_files(package_dir):
    """{dotted module name: file} of every module under `package_dir`."""
    parent = os.path.dirname(package_dir)
    modules = {}
    for folder, _, files in os.walk(package_dir):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, parent)[:-3].replace(os.sep, ".")
                modules[dotted.removesuffix(".__init__")] = path
    return modules


def _imported(path, name, modules):
    """The package's modules that the file `path` (module `name`) imports."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                # `from pkg import module` imports the module, else the names of `pkg`.
                candidate = f"{base}.{alias.name}"
                targets.add(candidate if candidate in modules else base)
    found = set()
    for target in targets:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name and "." in target:
            found.add(target)
    return found


def import_graph(package_dir=PACKAGE, top=False):
    """{module: set of modules it imports}, the package root (`bayes_zoo`) left out."""
    modules = _module_files(package_dir)
    graph = {name: _imported(path, name, modules)
             for name, path in modules.items() if "." in name}
    if top:
        merged = {}
        for name, targets in graph.items():
            node = ".".join(name.split(".")[:2])
            merged.setdefault(node, set()).update(
                ".".join(target.split(".")[:2]) for target in targets)
        graph = {name: targets - {name} for name, targets in merged.items()}
    return graph


def circles(graph):
    """The strongly connected groups of more than one module (Tarjan), each a sorted list."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def levels(graph):
    """{module: level}: 1 for a module importing none of the package, else 1 + its imports' highest."""
    level = {}

    def visit(node, path=()):
        if node in level:
            return level[node]
        if node in path:  # a circle: counted once
            return 0
        level[node] = 1 + max((visit(target, path + (node,)) for target in graph.get(node, ())),
                              default=0)
        return level[node]

    for node in graph:
        visit(node)
    return level


def summary(graph, package_dir=PACKAGE):
    """A dict: modules, levels, arrows, circles, and the six largest modules by lines."""
    files = _module_files(package_dir)
    sizes = sorted(((sum(1 for _ in open(files[name], encoding="utf-8")), name)
                    for name in graph if name in files), reverse=True)
    return {
        "modules": len(graph),
        "levels": max(levels(graph).values()),
        "arrows": sum(len(targets) for targets in graph.values()),
        "circles": circles(graph),
        "largest": [(name, lines) for lines, name in sizes[:6]],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", action="store_true", help="a subpackage counts as one module")
    parser.add_argument("--arrows", action="store_true", help="list every module's imports")
    parser.add_argument("--package", default=PACKAGE, help="the package folder (default: ours)")
    args = parser.parse_args(argv)
    graph = import_graph(args.package, top=args.top)
    result = summary(graph, args.package)
    print(f"{result['modules']} modules on {result['levels']} levels, {result['arrows']} import "
          f"arrows, {len(result['circles'])} circle(s) {result['circles']}")
    print("largest: " + ", ".join(f"{name} ({lines} lines)" for name, lines in result["largest"]))
    if args.arrows:
        level = levels(graph)
        for name in sorted(graph, key=lambda name: (level[name], name)):
            print(f"{level[name]:>2} {name} -> {', '.join(sorted(graph[name])) or '-'}")


if __name__ == "__main__":
    main()
