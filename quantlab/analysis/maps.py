"""The resiliency map: how the gap to float depends on network size, bit width and training data.

The paper looks at two precisions (ternary and 3 bits) and one data set. Over sweeps of sizes at 2
to 8 bits, and of sizes at several training-set sizes, built on the paired gaps of
:func:`quantlab.analysis.stats.gaps` (fractions, mean over seeds, as everywhere in the library):

* :func:`gap_grid`: one cell per (network, bits), the gap of a method against a float baseline;
  :func:`signal_grid`: the same per (network, signal bits) at one weight width;
* :func:`signal_gap_display`: the gaps per network and signal width, as a table;
* :func:`activation_table`: the activation-buffer bits per example at each signal width;
* :func:`bits_needed`: per network, the fewest bits whose gap has vanished by claim 2's rule
  (:func:`quantlab.analysis.report.gap_vanished`);
* :func:`memory_front`: the networks (float, or quantized at any bit width) that are best under a
  weight-memory budget, and the stretches of budget on which each bit width wins;
* :func:`needed_text`, :func:`unmeasured_text`, :func:`front_text`: what a chapter says about them;
* :func:`float_by_data`: the float networks' errors per training-set size (data sweeps; claim 5 of
  :mod:`quantlab.analysis.report` judges their gaps);
* :func:`rule_table`, :func:`rules_text`: the quantizer rules of :mod:`quantlab.numerics.rules` side by side;
* :func:`jumps_text`: where a map's retrainings are volatile.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from quantlab import data
from quantlab.analysis import anomalies, inference, report, stats
from quantlab.analysis.rows import network_label
from quantlab.formatting import plural, pp, share
from quantlab.nn import models
from quantlab.numerics import compression
from quantlab.vocabulary import signal_label, weight_label


def quantized_bits(rows: Iterable[Mapping[str, Any]], method: str = "retrain") -> list[int]:
    """The bit widths of ``method`` in tidy ``rows``, ascending."""
    return sorted({int(r["bits"]) for r in rows if r["method"] == method})


def gap_grid(rows: Sequence[Mapping[str, Any]], method: str = "retrain",
             baseline: str = report.BASELINE) -> list[dict]:
    """Per network and bit width of ``method``: the paired gap to the float ``baseline`` of
    :func:`quantlab.analysis.stats.gaps` (``network, params, seeds, float_error, quantized_error,
    gap, gap_std, gap_se``; fractions) plus ``bits`` and ``vanished``
    (:func:`quantlab.analysis.report.gap_vanished`). Sorted by size, then bits."""
    cells = [c for bits in quantized_bits(rows, method) for c in _cells(rows, bits, method, baseline, bits)]
    if not cells:
        raise ValueError(f"rows hold no {method!r} results: no gap grid")
    return sorted(cells, key=lambda c: (c["params"], c["bits"]))


def _cells(rows: Sequence[Mapping[str, Any]], bits: int, method: str, baseline: str, label: int) -> list[dict]:
    """The gap cells of ``method`` at ``bits`` weight bits, one per network, with ``bits = label``."""
    cells = []
    for g in stats.gaps(rows, bits, method=method, baseline=baseline):
        g = {k: v for k, v in g.items() if k != "seed_gaps"}
        outcome = report.gap_vanished(g)
        cells.append({**g, "bits": label, "vanished": outcome == inference.YES, "vanished_test": outcome})
    return cells


def signal_grid(rows: Sequence[Mapping[str, Any]], weight_bits: int = report.TERNARY, method: str = "retrain",
                baseline: str = report.BASELINE) -> list[dict]:
    """The signal-width twin of :func:`gap_grid`: per network and fixed-point signal width of ``rows``
    (float signals left out), the gap of ``method`` at ``weight_bits`` weight bits with those signals to
    the float ``baseline`` (float weights and float signals), with ``bits`` the *signal* bits; so
    :func:`bits_needed` of it gives the fewest signal bits each network needs."""
    groups = report.by_signals(rows)
    cells = [c for sb, rs in groups.items() if sb is not None for c in _cells(rs, weight_bits, method, baseline, sb)]
    if not cells:
        raise ValueError("rows hold no trials with fixed-point signals: no signal grid")
    return sorted(cells, key=lambda c: (c["params"], c["bits"]))


def signal_gap_display(rows: Sequence[Mapping[str, Any]], weight_bits: int = report.TERNARY
                       ) -> tuple[list[dict], dict[str, str]]:
    """The retrained gap to the float control at ``weight_bits`` weight bits, per network (rows of the
    table) and signal width (columns, float signals last), as ``"+0.93 ± 0.08"`` (pp ± standard error
    over seeds): ``(rows, columns)`` for :func:`quantlab.formatting.html_table`."""
    table: dict[int, dict] = {}
    columns = {"network": "network"}
    for signal_bits, group in report.by_signals(rows).items():
        label = signal_label(signal_bits)
        columns[label] = f"{label} signals"
        for g in stats.gaps(group, weight_bits, baseline=report.BASELINE):
            se = "" if g["gap_se"] is None else f" ± {pp(g['gap_se'], sign=False)}"
            table.setdefault(g["params"], {"network": g["network"]})[label] = pp(g["gap"]) + se
    return [table[p] for p in sorted(table)], columns


def input_bits(dataset: str) -> int:
    """Bits of one input image of ``dataset``: its pixels at 8 bits each (uint8 images)."""
    h, w, c = data.info(dataset)["image_shape"]
    return 8 * h * w * c


def activation_display(rows: Iterable[Mapping[str, Any]],
                       widths: Sequence[int | None]) -> tuple[list[dict], dict[str, str]]:
    """:func:`activation_table` as ``(rows, columns)`` for :func:`quantlab.formatting.html_table`, in
    kibibits (1,024 bits) per example."""
    table = activation_table(rows, widths)
    labels = [signal_label(w) for w in widths]
    out = [{"network": t["network"], "signals": f"{t['signals']:,}", **{k: f"{t[k] / 1024:,.2f}" for k in labels}}
           for t in table]
    return out, {"network": "network", "signals": "hidden signals per example",
                 **{k: f"{k} signals (Kibit)" for k in labels}}


def activation_table(rows: Iterable[Mapping[str, Any]], widths: Sequence[int | None]) -> list[dict]:
    """Per network of tidy ``rows`` (sorted by size): ``network, params, signals`` (hidden signals per
    example, :func:`quantlab.nn.models.network_cost`) and, per signal width of ``widths`` (None:
    float, 32 bits), the activation-buffer bits one example needs to hold every hidden signal at once,
    under the key :func:`quantlab.vocabulary.signal_label`. The 8-bit input pixels are not counted."""
    nets: dict[int, Mapping[str, Any]] = {}
    for r in rows:
        nets.setdefault(int(r["params"]), r)
    out = []
    for params in sorted(nets):
        r = nets[params]
        info = data.info(r["dataset"])
        count = models.network_cost(r["family"], r["size"], info["image_shape"], info["num_classes"])["signals"]
        out.append({"network": network_label(r), "params": params, "signals": count,
                    **{signal_label(w): count * (compression.FLOAT_BITS if w is None else w) for w in widths}})
    return out


def bits_needed(grid: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Per network of a :func:`gap_grid`: ``network, params`` and ``bits``, the fewest bits whose gap
    has vanished and stays vanished at every wider bit width of the grid (None when the widest has
    not), with that cell's ``gap`` and ``gap_se``; ``widest`` is the widest bit width measured."""
    by_net: dict[int, list[Mapping[str, Any]]] = {}
    for c in grid:
        by_net.setdefault(int(c["params"]), []).append(c)
    out = []
    for params in sorted(by_net):
        cells = sorted(by_net[params], key=lambda c: c["bits"])
        need = None
        for c in reversed(cells):
            if not c["vanished"]:
                break
            need = c
        out.append({"network": cells[0]["network"], "params": params, "bits": need and need["bits"],
                    "gap": need and need["gap"], "gap_se": need and need["gap_se"], "widest": cells[-1]["bits"]})
    return out


def memory_front(rows: Iterable[Mapping[str, Any]], method: str = "retrain") -> dict:
    """Which network is best under a weight-memory budget, among the float networks and the
    ``method`` networks at every bit width of ``rows``.

    Returns ``front``: the Pareto front (:func:`quantlab.numerics.compression.pareto_front`, sorted by memory;
    each point a :func:`quantlab.analysis.stats.network_summary` row: ``network, params, weights,
    method, bits`` (32 for float), ``test_error, weight_bits``), and ``stretches``: for each kind of winner
    (``bits``: 32 = float), the budgets on which
    it is the best, as ``{bits, lo_bits, hi_bits, share}`` (``share``: the fraction of the front's
    memory range on a log2 axis, from the smallest front network to the largest), in order of
    memory."""
    points = stats.network_summary(rows, ("float", method))
    if not points:
        raise ValueError(f"rows hold no float or {method!r} results: no memory front")
    front = compression.pareto_front(points)
    lo, hi = front[0]["weight_bits"], front[-1]["weight_bits"]
    span = math.log2(hi) - math.log2(lo) if hi > lo else 0.0
    stretches: list[dict] = []
    for p, nxt in zip(front, [*front[1:], None]):
        end = nxt["weight_bits"] if nxt else hi
        if stretches and stretches[-1]["bits"] == p["bits"]:
            stretches[-1]["hi_bits"] = end
        else:
            stretches.append({"bits": p["bits"], "lo_bits": p["weight_bits"], "hi_bits": end})
    for s in stretches:
        s["share"] = (math.log2(s["hi_bits"]) - math.log2(s["lo_bits"])) / span if span else float("nan")
    return {"front": front, "stretches": stretches}


def needed_text(table: Sequence[Mapping[str, Any]]) -> str:
    """One or two sentences about a :func:`bits_needed` table: each network's fewest bits, and
    whether they never grow with size."""
    reached = [n for n in table if n["bits"] is not None]
    parts = [f"{n['network']} {n['bits']}" for n in reached]
    text = "The fewest bits with the gap vanished: " + (", ".join(parts) if parts else "none") + "."
    missing = [n for n in table if n["bits"] is None]
    if missing:
        text += (f" Not within {missing[0]['widest']} bits: " + ", ".join(n["network"] for n in missing) + ".")
    need = [n["bits"] if n["bits"] is not None else math.inf for n in table]
    if all(a >= b for a, b in zip(need, need[1:])):
        text += " The bits needed never grow with size."
    else:
        ups = [f"{a['network']} -> {b['network']}" for a, b, x, y in zip(table, table[1:], need, need[1:]) if y > x]
        text += " The bits needed grow with size at " + ", ".join(ups) + " (seed noise at the rule's threshold)."
    return text


def unmeasured_text(tables: Iterable[Sequence[Mapping[str, Any]]], bits: Iterable[int]) -> str:
    """Whether the bit widths missing between the narrowest and widest of ``bits`` (the measured
    ones) could matter, from :func:`bits_needed` tables: they cannot when every network's gap has
    vanished below the first of them. Empty when none is missing."""
    bits = sorted(set(bits))
    gaps = [b for b in range(bits[0], bits[-1]) if b not in bits]
    if not gaps:
        return ""
    names = ", ".join(map(str, gaps))
    nets = [n for table in tables for n in table]
    needed = [n["bits"] for n in nets]
    if needed and None not in needed and max(needed) < gaps[0]:
        return (f"{names} bits are not measured: no network here needs more than {max(needed)} bits, so they "
                "cannot change the bits needed, and on the memory front such a network would compete, within "
                f"seed noise, with the same network at {gaps[0] - 1} bits, which needs less memory.")
    late = [n["network"] for n in nets if n["bits"] is None or n["bits"] > gaps[0]]
    return (f"{names} bits are not measured, and they might matter for {', '.join(late)}, whose gap has not "
            f"vanished below {gaps[0]} bits.")


def front_text(front: Mapping[str, Any]) -> str:
    """One sentence about a :func:`memory_front`: which precision is best on which share of the
    memory range (log scale), ternary's stretches named."""
    shares: dict[int, float] = {}
    for s in front["stretches"]:
        shares[s["bits"]] = shares.get(s["bits"], 0.0) + s["share"]
    pts = front["front"]
    parts = [f"{weight_label(b)} on {share(shares[b])}" for b in sorted(shares, key=lambda b: -shares[b])]
    text = (f"Between {_kib(pts[0]['weight_bits'])} and {_kib(pts[-1]['weight_bits'])} of weight memory "
            f"(the front's range, log scale) the best network is " + ", ".join(parts) + " of the range.")
    wins = [s for s in front["stretches"] if s["bits"] == report.TERNARY]
    if wins:
        text += " Ternary wins " + ", ".join(_kib_range(s["lo_bits"], s["hi_bits"]) for s in wins) + "."
    else:
        text += " No ternary network is on the front."
    return text


def float_by_data(rows: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Per network of a data sweep's tidy ``rows`` (sorted by size): ``network`` and, per
    training-set size (``train_subset``; ``"all"`` for the whole split, ascending), the float
    networks' mean test error over seeds in percent, formatted with two decimals."""
    errors: dict[tuple[int, str], dict[Any, list[float]]] = {}
    for r in rows:
        if r["method"] == "float":
            net = (int(r["params"]), r["trial"])
            errors.setdefault(net, {}).setdefault(r.get("train_subset"), []).append(float(r["test_error"]))
    subsets = sorted({n for e in errors.values() for n in e}, key=lambda n: math.inf if n is None else n)
    out = []
    for (_, label), by in sorted(errors.items()):
        row = {"network": label}
        for n in subsets:
            row["all" if n is None else f"{n:,}"] = f"{100 * sum(by[n]) / len(by[n]):.2f}" if n in by else ""
        out.append(row)
    return out


REFERENCE_RULE = "l2"
"""The rule the others are compared with: the paper's L2-optimal step."""


def rule_table(rows: Sequence[Mapping[str, Any]], bits: int = report.TERNARY,
               baseline: str = report.BASELINE) -> list[dict]:
    """The quantizer rules of a rules sweep's tidy ``rows`` side by side, per network, rule and step
    policy: ``network, params, quantizer, step_policy, seeds``, ``weight_error`` (the directly
    quantized weights' relative L2 error, mean over seeds), ``direct_gap`` and ``gap`` (direct and
    retrained gap to ``baseline``, with ``direct_gap_se`` and ``gap_se``), and ``vs_l2``,
    ``vs_l2_se`` (the retrained gap minus :data:`REFERENCE_RULE`'s with the same policy, paired by
    seed; NaN for the reference itself) with ``vs_l2_beyond_noise``
    (:func:`quantlab.analysis.anomalies.beyond_noise` of its absolute value); all fractions. Sorted
    by size, rule, policy."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r.get("quantizer", REFERENCE_RULE), r.get("step_policy", "fixed")), []).append(r)
    retrained = {k: {g["params"]: g for g in stats.gaps(rs, bits, "retrain", baseline)} for k, rs in groups.items()}
    out = []
    for (rule, policy), rs in groups.items():
        direct = {g["params"]: g for g in stats.gaps(rs, bits, "direct", baseline)}
        ref = retrained.get((REFERENCE_RULE, policy), {})
        for params, g in retrained[(rule, policy)].items():
            errs = [float(r["weight_error"]) for r in rs if r["method"] == "direct" and int(r["params"]) == params
                    and int(r["bits"]) == bits and r.get("weight_error") is not None]
            diff, se, n = math.nan, math.nan, 0
            if rule != REFERENCE_RULE and params in ref:
                shared = sorted(set(g["seed_gaps"]) & set(ref[params]["seed_gaps"]))
                d = [g["seed_gaps"][s] - ref[params]["seed_gaps"][s] for s in shared]
                if d:
                    diff, n = statistics.fmean(d), len(d)
                    se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else math.nan
            out.append({"network": g["network"], "params": params, "quantizer": rule, "step_policy": policy,
                        "seeds": g["seeds"], "weight_error": sum(errs) / len(errs) if errs else math.nan,
                        "direct_gap": direct[params]["gap"], "direct_gap_se": direct[params]["gap_se"],
                        "gap": g["gap"], "gap_se": g["gap_se"], "vs_l2": diff, "vs_l2_se": se,
                        "vs_l2_beyond_noise": not math.isnan(diff) and anomalies.beyond_noise(abs(diff), se, n)})
    order = {name: i for i, name in enumerate(dict.fromkeys(r["quantizer"] for r in out))}
    return sorted(out, key=lambda t: (t["params"], order[t["quantizer"]], t["step_policy"]))


def rules_text(table: Sequence[Mapping[str, Any]]) -> str:
    """Per rule and policy, one clause: where its retrained gap differs from the L2 rule's beyond
    seed noise (with the differences), or that it never does."""
    clauses = []
    for rule, policy in dict.fromkeys((t["quantizer"], t["step_policy"]) for t in table):
        if rule == REFERENCE_RULE:
            continue
        cases = [t for t in table if (t["quantizer"], t["step_policy"]) == (rule, policy) and t["vs_l2_beyond_noise"]]
        if cases:
            where = ", ".join(f"{t['network']} ({pp(t['vs_l2'])} pp)" for t in cases)
            clauses.append(f"{rule} ({policy}) differs from {REFERENCE_RULE} beyond seed noise at {where}")
        else:
            clauses.append(f"{rule} ({policy}) is within seed noise of {REFERENCE_RULE} at every size")
    return "After retraining, " + "; ".join(clauses) + "." if clauses else "There is only one rule."


def jumps_text(jumps: Sequence[Mapping[str, Any]], field: str) -> str:
    """One sentence on :func:`quantlab.analysis.anomalies.validation_jumps` cases: how many, and in
    which networks, per value of ``field`` (e.g. ``quantizer`` or ``train_subset``)."""
    if not jumps:
        return ("No retraining moves its validation error by more than "
                f"{anomalies.JUMP_PP:g} points while the same network's training loss stays flat.")
    by: dict[Any, list[Mapping[str, Any]]] = {}
    for j in jumps:
        by.setdefault(j.get(field), []).append(j)
    parts = []
    for value, cases in by.items():
        name = (f"{value:,} training examples" if field == "train_subset" and value is not None
                else "all training examples" if field == "train_subset" else str(value))
        by_size = sorted(cases, key=lambda c: (c.get("params") or 0, c["trial"]))  # smallest network first
        nets = ", ".join(dict.fromkeys(c["trial"] for c in by_size))
        parts.append(f"{name}: {len(cases)} in {nets}")
    return (f"{len(jumps)} retraining {plural(len(jumps), 'epoch')} {plural(len(jumps), 'moves', 'move')} "
            f"the validation error by more than {anomalies.JUMP_PP:g} points "
            f"while the same network's training loss changes by less than {anomalies.FLAT_LOSS:.0%} ("
            + "; ".join(parts) + "). " + anomalies.confirmation(jumps))


def _kib_range(lo_bits: float, hi_bits: float) -> str:
    """``"from 0.2 KiB to 1.5 KiB"``, or ``"at 0.2 KiB"`` when both ends print alike."""
    lo, hi = _kib(lo_bits), _kib(hi_bits)
    return f"at {lo}" if lo == hi else f"from {lo} to {hi}"


def _kib(bits: float) -> str:
    kib = bits / 8192
    return f"{kib:,.1f} KiB" if kib < 1024 else f"{kib / 1024:,.2f} MiB"
