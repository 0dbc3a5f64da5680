#!/usr/bin/env python3
"""Checks the layers of src/: every `crate::` import goes down, never up or sideways.

  entry        src/entry/*           Postgres calls in here; the only modules that dispatch
  capability   one file each         none imports another (truncate_guard and distributed may use drop_guard)
  service      shared by capabilities
  foundation   used by everything

Services may import services, and foundation modules foundation ones, as long as the imports
between them form no cycle. Prints each violation; exits 1 if there is one.
"""
import pathlib
import re
import sys

LAYERS = {
    "entry": ["entry"],
    "capability": ["audit", "backup", "distributed", "drop_guard", "memory_notes",
                   "search_path_lint", "temp_dependency", "truncate_guard", "type_change"],
    "service": ["checksum", "extension", "findings", "frames", "ledger", "moved", "probe",
                "references", "shards", "tables"],
    "foundation": ["catalog", "ffi", "gucs", "report", "session"],
}
RANK = {"entry": 0, "capability": 1, "service": 2, "foundation": 3}
ALLOWED_SIDEWAYS = {("truncate_guard", "drop_guard"), ("distributed", "drop_guard")}

src = pathlib.Path(__file__).resolve().parent.parent / "src"
layer_of = {m: layer for layer, mods in LAYERS.items() for m in mods}


def module_of(path: pathlib.Path) -> str:
    rel = path.relative_to(src)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imports(text: str) -> set:
    found = set(re.findall(r"crate::(\w+)", text))
    for group in re.findall(r"use crate::\{([^}]*)\}", text, re.S):
        found.update(re.findall(r"(?:^|[,\s])(\w+)", group))
    return found


problems = []
graph = {}
for path in sorted(src.rglob("*.rs")):
    module = module_of(path)
    if module == "lib":
        continue
    if module not in layer_of:
        problems.append(f"{path.relative_to(src)}: module {module} is in no layer (add it to {pathlib.Path(__file__).name})")
        continue
    for dep in imports(path.read_text()):
        if dep == module or dep not in layer_of:
            continue
        graph.setdefault(module, set()).add(dep)
        a, b = layer_of[module], layer_of[dep]
        if RANK[b] < RANK[a]:
            problems.append(f"{module} ({a}) imports {dep} ({b}): an upward import")
        elif a == b == "capability" and (module, dep) not in ALLOWED_SIDEWAYS:
            problems.append(f"{module} imports {dep}: capabilities never import each other")

# No cycle among the rest.
state = {}


def visit(node, stack):
    state[node] = 1
    for dep in sorted(graph.get(node, ())):
        if state.get(dep) == 1:
            cycle = stack[stack.index(dep):] + [dep]
            problems.append("import cycle: " + " -> ".join(cycle))
        elif dep not in state:
            visit(dep, stack + [dep])
    state[node] = 2


for node in sorted(graph):
    if node not in state:
        visit(node, [node])

for p in problems:
    print(p)
if problems:
    sys.exit(1)
print(f"layers ok: {sum(len(v) for v in graph.values())} imports across {len(graph)} modules, no cycle")
