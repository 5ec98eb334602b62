"""The import graph of quantlab/ follows the layers of ARCHITECTURE.md: data flows one way, from the data
through the model, the trial, the store and the rows to the analysis and the book, with the CLI on top.

The imports are read from the source (ast, nothing is imported), every import counts: at the top of a
module, inside a function (a lazy import is an edge all the same) and ``importlib.import_module("quantlab.x")``.
A module may import from its own layer or a lower one; the graph has no cycle; every module has a layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "quantlab"

LAYERS = [
    # 0. the words and tools every layer shares (standard library only); the package and subpackage
    #    __init__ modules (docstrings only)
    ["quantlab", "quantlab.vocabulary", "quantlab.fileio", "quantlab.formatting", "quantlab.numerics",
     "quantlab.nn", "quantlab.training", "quantlab.experiments", "quantlab.analysis", "quantlab.deploy"],
    # 1. data, and what determines a trial (config: standard library, data's names when a config is built)
    ["quantlab.data", "quantlab.config", "quantlab.nn.shapes"],
    # 2. numerics: the quantizer, weight memory and ECR; the fast layers
    ["quantlab.numerics.quantize", "quantlab.numerics.rules", "quantlab.numerics.signals", "quantlab.numerics.packing",
     "quantlab.numerics.compression", "quantlab.nn.conv", "quantlab.nn.dense"],
    # 3. model: the networks, their integer forward pass and their files
    ["quantlab.nn.models", "quantlab.nn.integer", "quantlab.deploy.fileformat", "quantlab.deploy.onnxgraph",
     "quantlab.deploy.sizes"],
    # 4. trial: divergence, training, compiling ahead, the float-network cache, one trial as stages
    ["quantlab.training.divergence", "quantlab.training.train", "quantlab.training.compilecache",
     "quantlab.training.compiletime", "quantlab.training.phases", "quantlab.training.warmup",
     "quantlab.training.netcache", "quantlab.training.calibrate",
     "quantlab.training.experiment"],
    # 5. store: specs, records (with their locks and provenance), where trials run, sweeps (the only writer
    #    of the store)
    ["quantlab.experiments.spec", "quantlab.experiments.lock", "quantlab.experiments.environment",
     "quantlab.experiments.store", "quantlab.experiments.preflight", "quantlab.experiments.executors",
     "quantlab.experiments.sweep", "quantlab.deploy.export"],
    # 6. rows: tidy rows read from the store (reading only) and the one seed summary
    ["quantlab.analysis.rows"],
    # 7. analysis: statistics, anomalies, verdicts
    ["quantlab.analysis.inference", "quantlab.analysis.anomalies", "quantlab.analysis.stats",
     "quantlab.analysis.report", "quantlab.analysis.maps"],
    # 8. presentation: charts (style first, then one module per subject), tables, notebooks and the book
    ["quantlab.charts.style", "quantlab.charts.sweeps", "quantlab.charts.training", "quantlab.charts.quantizer",
     "quantlab.charts.memory", "quantlab.charts.maps", "quantlab.charts", "quantlab.tables", "quantlab.notebooks",
     "quantlab.book"],
    # 9. the command line
    ["quantlab.__main__"],
]
LAYER = {module: i for i, modules in enumerate(LAYERS) for module in modules}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str) -> str | None:
    """The quantlab module ``name`` (a module or a name inside one) lives in, or None outside quantlab."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> set[str]:
    """The quantlab modules ``module`` imports anywhere in its source."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{a.name}" for a in node.names]  # a submodule, or a name in `base`
            names.append(base)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
            names = [node.args[0].value]
        for name in names:
            if isinstance(name, str) and (name == "quantlab" or name.startswith("quantlab.")):
                target = resolve(name)
                if target and target != module:
                    out.add(target)
    return out  # `from quantlab.x import y` also names the package "quantlab" (layer 0): harmless


GRAPH = {m: imports(m) for m in MODULES}


def test_every_module_has_a_layer():
    assert set(MODULES) - set(LAYER) == set(), "place new modules in LAYERS (and ARCHITECTURE.md)"
    assert set(LAYER) - set(MODULES) == set(), "LAYERS names modules that do not exist"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    upward = sorted(t for t in GRAPH[module] if LAYER[t] > LAYER[module])
    assert not upward, f"{module} (layer {LAYER[module]}) imports from a higher layer: " + ", ".join(
        f"{t} (layer {LAYER[t]})" for t in upward)


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m, path):
        state[m] = 1
        for t in sorted(GRAPH[m]):
            if state.get(t) == 1:
                cycle = path[path.index(t):] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])


def test_the_walker_sees_lazy_and_importlib_imports():
    # importlib.import_module inside a method
    assert "quantlab.training.compiletime" in GRAPH["quantlab.experiments.executors"]
    assert "quantlab.nn.shapes" in GRAPH["quantlab.experiments.sweep"]  # an import inside a function
    assert "quantlab.analysis.rows" in GRAPH["quantlab.analysis.stats"]  # from quantlab.analysis.rows import ...
