"""The book's tables: analysis results as HTML, as :mod:`quantlab.charts` draws them as charts.

Each function takes what the analysis computed (nothing is computed or judged here), formats its
numbers (:mod:`quantlab.formatting`) and returns the HTML of :func:`quantlab.formatting.html_table`
for ``IPython.display.HTML``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from quantlab.formatting import format_bytes, html_table
from quantlab.vocabulary import weight_label

_BOUND = {">=": "≥ ", "<=": "≤ ", "=": ""}

ECR_COLUMNS = {"net": "network", "bits": "weights", "params": "parameters", "err": "test error (%)",
               "nf": "N_F (parameters)", "mem": "memory M_Q (bits)", "ecr": "ECR"}
FRONT_COLUMNS = {"net": "network", "method": "method", "bits": "weights", "mem": "memory (bits)",
                 "kib": "memory (KiB)", "err": "test error (%)"}
FILE_COLUMNS = {"net": "FFDNN", "params": "parameters", "float32": "float32 file", "bits_2": "ternary: ECR count",
                "packed_2": "ternary: 2-bit file", "base3": "ternary: base-3 file", "packed_3": "3-bit: file",
                "onnx": "ONNX, int8 codes"}


def ecr(table: Sequence[Mapping[str, Any]]) -> str:
    """The rows of :func:`quantlab.analysis.stats.ecr_table`, by bits then size: the network, its
    test error, N_F (with its bound, "≥" / "≤"), its memory and its ECR."""
    rows = [{"net": t["trial"], "bits": weight_label(t["bits"]), "params": f"{t['params']:,}",
             "err": f"{100 * t['test_error']:.2f}", "nf": _BOUND.get(t["relation"], "") + f"{t['float_params']:,.0f}",
             "mem": f"{t['weight_bits']:,}", "ecr": t["ecr_text"].replace(">=", "≥").replace("<=", "≤")}
            for t in sorted(table, key=lambda t: (t["bits"], t["params"]))]
    return html_table(rows, ECR_COLUMNS, numeric=("params", "err", "nf", "mem", "ecr"))


def depth_gaps(extremes: Sequence[Mapping[str, Any]]) -> str:
    """The rows of :func:`quantlab.analysis.stats.depth_extremes`: per width, the shallowest and the
    deepest network, its float test error (%) and each bit width's retrained gap to the float control
    (percentage points, mean ± standard error over seeds)."""
    bits = list(extremes[0]["gaps"]) if extremes else []
    columns = {"width": "width", "depth": "layers", "params": "parameters", "err": "float error",
               **{f"gap_{b}": f"{weight_label(b)} gap" for b in bits}}
    rows = [{"width": e["width"], "depth": e["depth"], "params": f"{e['params']:,}",
             "err": f"{100 * e['float_error']:.2f}%",
             **{f"gap_{b}": f"{100 * g.mean:+.2f} ± {100 * (g.se or 0):.2f}" for b, g in e["gaps"].items()}}
            for e in extremes]
    return html_table(rows, columns, numeric=list(columns))


def memory_front(points: Sequence[Mapping[str, Any]]) -> str:
    """The Pareto-front members of :func:`quantlab.analysis.stats.memory_points`, by memory."""
    front = sorted((p for p in points if p["pareto"]), key=lambda p: p["weight_bits"])
    rows = [{"net": p["trial"], "method": p["method"], "bits": weight_label(p["bits"]),
             "mem": f"{p['weight_bits']:,}", "kib": f"{p['weight_bits'] / 8192:,.1f}",
             "err": f"{100 * p['test_error']:.2f}"} for p in front]
    return html_table(rows, FRONT_COLUMNS, numeric=("mem", "kib", "err"))


def file_sizes(files: Mapping[tuple, Mapping[str, int]]) -> str:
    """FFDNN ``(width, depth)`` -> :func:`quantlab.deploy.sizes.file_bytes`, by size: parameters, the
    float32 file, the ternary ECR count beside its 2-bit and base-3 files, the 3-bit file and the ONNX
    graph (binary units)."""
    sizes = [k for k in FILE_COLUMNS if k not in ("net", "params")]
    rows = [{"net": f"{w}x{d}", "params": f"{f['params']:,}", **{k: format_bytes(f[k]) for k in sizes}}
            for (w, d), f in sorted(files.items())]
    return html_table(rows, FILE_COLUMNS, numeric=("params", *sizes))


__all__ = ["ECR_COLUMNS", "FILE_COLUMNS", "FRONT_COLUMNS", "ecr", "file_sizes", "memory_front"]
