"""Analysis of results, built on the one seed summary (:func:`quantlab.analysis.rows.summarise`): gap
statistics, effective-compression-ratio tables, memory points and Pareto fronts, memory-budget
comparisons, retraining-budget studies and depth trends. Statistics only: thresholds, claims and
verdicts are :mod:`quantlab.analysis.report`'s, text is :mod:`quantlab.formatting`'s.

Rows are :func:`quantlab.analysis.rows.tidy` rows (one per trial, seed, method and bit width, with at least
:data:`quantlab.analysis.rows.ROW_FIELDS`). Errors and gaps are fractions everywhere here; a standard
deviation or standard error over one seed is None (the summary's rules). A network is
:func:`quantlab.analysis.rows.network_label`; its size is its parameter count, so the smallest / largest
network of a sweep is the one with the fewest / most parameters, whatever the sweep varies.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from quantlab.analysis.anomalies import beyond_noise
from quantlab.analysis.rows import SummaryRow, check_baseline, check_rows, network_label, pick, summarise
from quantlab.numerics import compression
from quantlab.vocabulary import FLOAT_BITS, METHODS

_ORDER = {m: i for i, m in enumerate(METHODS)}


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (ties get average ranks); NaN when either is
    constant or there are fewer than 2 points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d sequences of equal length; got {x.shape} and {y.shape}")
    if len(x) < 2:
        return float("nan")

    def ranks(v):
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(1, len(v) + 1)
        for value in np.unique(v):  # average ranks of ties
            tied = v == value
            r[tied] = r[tied].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def rank_values(gaps_: Sequence[float]) -> list[float]:
    """Gaps (fractions) as rank correlations see them: in pp rounded to 1e-6, so that floating-point
    noise in equal gaps does not rank them."""
    return [round(100 * g, 6) for g in gaps_]


# -- gaps --------------------------------------------------------------------------------------

def gaps(rows: Iterable[Mapping[str, Any]], bits: int, method: str = "retrain",
         baseline: str = "control") -> list[dict]:
    """Per network (sorted by parameter count), the gap between ``method`` at ``bits`` and the float
    ``baseline`` (:data:`quantlab.analysis.rows.BASELINES`), from :func:`quantlab.analysis.rows.summarise`,
    paired per seed: each seed's quantized network comes from that seed's float network. Each dict: ``network, params,
    seeds`` (paired seeds), ``float_error`` (mean test error of the baseline), ``quantized_error``,
    ``gap`` (mean quantized minus mean baseline error), ``gap_std`` (sample standard deviation of
    the per-seed gaps), ``gap_se`` (its standard error), ``seed_gaps`` (``{seed: gap}``); all
    fractions, None for one seed. Networks without any paired seed are skipped."""
    check_baseline(baseline)
    out = []
    for s in summarise(check_rows(rows, purpose="to compare")):
        if s.method != method or s.bits != int(bits):
            continue
        if baseline == "control" and s.control_gap is None:
            raise ValueError(f"rows of {s.network} lack 'control_test_error' "
                             f"(records without a float control: baseline 'float' only)")
        g = s.gap(baseline)
        if g is None or not g.by_seed:
            continue
        out.append({
            "network": s.network, "params": s.params, "seeds": len(g.by_seed),
            "float_error": s.baseline_error(baseline), "quantized_error": s.test_error, "gap": g.mean,
            "gap_std": g.std, "gap_se": g.se, "seed_gaps": dict(g.by_seed),
        })
    if not out:
        raise ValueError(f"rows hold no paired float / {method} {bits}-bit results (same network and seed)")
    return sorted(out, key=lambda g: g["params"])


def budget_study(rows: Iterable[Mapping[str, Any]], bits: int = 2, baseline: str = "control") -> list[dict]:
    """A retraining-budget study (rows of one network at several ``retrain_epochs``): per network
    and step policy, the paired gap (:func:`gaps`) at every budget and how far each is from the
    gap at the longest budget. Each dict: ``network, params, step_policy, epochs`` (sorted budgets),
    ``gap, gap_se`` (lists, per budget), ``change`` and ``change_se`` (lists: gap at the longest
    budget minus gap at this one, paired by seed; negative = longer retraining lowered the gap) and
    ``settled`` (the smallest budget from which on every change is within seed noise,
    :func:`quantlab.analysis.anomalies.beyond_noise`), ``doubling`` (per budget but the longest:
    ``(epochs, change, change_se)``, the paired change of the gap from that budget to the study's
    next, which doubles it or more) and ``converged``: the smallest budget from which every such
    step changes the gap by less than that change's standard error (the doubling rule), None when
    the last step still moves it; ``control_error`` and ``quantized_error`` (lists, per budget: the
    mean test errors the gap subtracts). Sorted by size, then policy."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in check_rows(rows, purpose="to study"):
        groups.setdefault((int(r["params"]), r.get("step_policy", "fixed"), int(r["retrain_epochs"])), []).append(r)
    nets = sorted({(p, pol) for p, pol, _ in groups})
    out = []
    for p, pol in nets:
        budgets = sorted(e for q, o, e in groups if (q, o) == (p, pol))
        per = {e: gaps(groups[(p, pol, e)], bits, baseline=baseline)[0] for e in budgets}
        last = per[budgets[-1]]["seed_gaps"]
        change, change_se, paired = [], [], []
        for e in budgets:
            shared = sorted(set(per[e]["seed_gaps"]) & set(last))
            d = [last[s] - per[e]["seed_gaps"][s] for s in shared]
            change.append(statistics.fmean(d))
            change_se.append(statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else None)
            paired.append(len(d))
        settled = budgets[-1]
        for e, c, se, n in reversed(list(zip(budgets, change, change_se, paired))):
            if beyond_noise(abs(c), se, n):
                break
            settled = e
        doubling = []
        for e, longer in zip(budgets, budgets[1:]):
            a, b = per[e]["seed_gaps"], per[longer]["seed_gaps"]
            d = [b[s] - a[s] for s in sorted(set(a) & set(b))]
            doubling.append((e, statistics.fmean(d), statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else None))
        converged = None
        for e, c, se in reversed(doubling):
            if se is None or abs(c) >= se:
                break
            converged = e
        out.append({"network": per[budgets[-1]]["network"], "params": p, "step_policy": pol, "epochs": budgets,
                    "gap": [per[e]["gap"] for e in budgets], "gap_se": [per[e]["gap_se"] for e in budgets],
                    "change": change, "change_se": change_se, "settled": settled, "doubling": doubling,
                    "converged": converged, "control_error": [per[e]["float_error"] for e in budgets],
                    "quantized_error": [per[e]["quantized_error"] for e in budgets]})
    if not out:
        raise ValueError("rows hold no retraining budgets")
    return out


def depth_trend(rows: Sequence[Mapping[str, Any]], bits: int = 2) -> list[dict]:
    """FFDNN rows with several depths per width: per width, the retrained gap to the float control at
    each depth and Spearman's rho between depth and gap (positive: deeper networks of that width have
    *larger* gaps). Each dict: ``width, depths, gaps`` (fractions), ``rho``, ``grows`` (rho > 0)."""
    rows = check_rows(rows, purpose="to compare")
    widths = sorted({int(r["width"]) for r in rows if r.get("width") is not None})
    if not widths:
        raise ValueError("rows have no 'width' field (FFDNN rows from quantlab.analysis.rows.tidy)")
    out = []
    for w in widths:
        sub = [r for r in rows if r.get("width") == w]
        depth_of = {int(r["params"]): int(r["depth"]) for r in sub}
        gs = gaps(sub, bits)
        depths = [depth_of[g["params"]] for g in gs]
        rho = spearman(depths, rank_values([g["gap"] for g in gs])) if len(gs) >= 2 else float("nan")
        out.append({"width": w, "depths": depths, "gaps": [g["gap"] for g in gs], "rho": rho, "grows": rho > 0})
    return out



def bias_share(rows: Iterable[Mapping[str, Any]]) -> float:
    """The largest share of a network's parameters that are biases (never quantized) among ``rows``:
    ``max((params - weights) / params)``, a fraction."""
    return max((r["params"] - r["weights"]) / r["params"] for r in check_rows(rows, purpose="to measure"))


# -- memory and ECR ----------------------------------------------------------------------------

def network_summary(rows: Iterable[Mapping[str, Any]], methods: Sequence[str] = METHODS) -> list[dict]:
    """:func:`quantlab.analysis.rows.summarise` of ``rows`` (of ``methods``) as flat rows
    (:meth:`~quantlab.analysis.rows.SummaryRow.as_dict`), sorted by method (float, direct, retrain), bits
    and parameter count: the networks of the memory and ECR tables. Every test error must be a fraction
    in [0, 1] (ValueError otherwise, e.g. for percent)."""
    rows = check_rows(rows, purpose="to compute from")
    for r in rows:
        compression.check_error("test_error", r["test_error"])
    out = [s for s in summarise(rows) if s.method in methods]
    return [s.as_dict() for s in sorted(out, key=lambda s: (_ORDER.get(s.method, len(_ORDER)), s.bits, s.params))]


def float_sweep(rows: Iterable[Mapping[str, Any]]) -> tuple[list[int], list[float]]:
    """``(float_params, float_errors)`` of the float rows (one entry per network and seed): the float
    size sweep of :func:`quantlab.numerics.compression.float_params_for_error`."""
    fl = [r for r in check_rows(rows, purpose="to compute from") if r["method"] == "float"]
    if not fl:
        raise ValueError("rows hold no float results (method 'float'): N_F cannot be interpolated")
    return [int(r["params"]) for r in fl], [float(r["test_error"]) for r in fl]


def ecr_table(rows: Iterable[Mapping[str, Any]], methods: Sequence[str] = ("retrain",)) -> list[dict]:
    """ECR (:func:`quantlab.numerics.compression.effective_compression_ratio`) of every quantized network of
    ``methods`` in ``rows``, from its mean test error over seeds, against the float sweep of the same
    rows. One dict per (network, method, bits): the fields of :func:`network_summary` plus
    ``float_params`` (N_F or its bound), ``flag``, ``relation``, ``ecr``, ``ecr_text``, ``naive``,
    ``float_bits``."""
    rows = check_rows(rows, purpose="to compute from")
    fp, fe = float_sweep(rows)
    out = []
    for n in network_summary(rows, [m for m in methods if m != "float"]):
        e = compression.effective_compression_ratio(n["test_error"], n["params"], n["weights"], n["bits"], fp, fe)
        out.append({**n, "float_params": e.float_params, "flag": e.flag, "relation": e.relation,
                    "ecr": e.value, "ecr_text": e.text, "naive": e.naive, "float_bits": e.float_bits})
    return out


def ecr_example(rows: Iterable[Mapping[str, Any]], bits: int = 2, trial: str | None = None) -> dict:
    """The retrained ``bits``-bit network whose ECR :func:`quantlab.charts.ecr_envelope` reads off the float
    envelope: its :func:`ecr_table` row. ``trial``: its network label (e.g. ``ffdnn-w1024-d3``); default:
    among the networks whose N_F is interpolated (not a bound), the one with the largest ratio of its own
    size to N_F, where the read-off is widest and easiest to see (else the largest network)."""
    table = [t for t in ecr_table(rows) if int(t["bits"]) == int(bits)]
    if not table:
        raise ValueError(f"rows hold no retrained {bits}-bit networks: no ECR to draw")
    if trial is not None:
        chosen = [t for t in table if network_label(t) == trial]
        if not chosen:
            raise ValueError(f"no retrained {bits}-bit network {trial!r} in rows; have "
                             f"{', '.join(network_label(t) for t in table)}")
        return chosen[0]
    exact = [t for t in table if t["relation"] == "="]
    return (max(exact, key=lambda t: (t["params"] / t["float_params"], t["params"])) if exact
            else max(table, key=lambda t: t["params"]))


def ecr_highlights(table: Sequence[Mapping[str, Any]], bits: int = 2, flat: int = 3) -> dict:
    """What the compression chapter reads off an :func:`ecr_table` for ``bits``-bit networks:
    ``largest`` (the network with the most parameters), ``best`` (the largest interpolated ECR, relation
    ``"="``; None without one) and ``flat`` (the ``flat`` largest networks, by size)."""
    by_size = sorted((t for t in table if t["bits"] == bits), key=lambda t: t["params"])
    if not by_size:
        raise ValueError(f"the ECR table has no {bits}-bit network")
    interpolated = [t for t in by_size if t["relation"] == "="]
    return {"largest": by_size[-1], "best": max(interpolated, key=lambda t: t["ecr"]) if interpolated else None,
            "flat": by_size[-flat:]}


def front_counts(points: Sequence[Mapping[str, Any]]) -> dict:
    """How many of the Pareto-front members of :func:`memory_points` are of each kind: ``networks``
    (all), ``float``, ``direct``, and per bit width ``retrain_<b>``."""
    front = [p for p in points if p["pareto"]]
    counts = {"networks": len(front), "float": sum(p["method"] == "float" for p in front),
              "direct": sum(p["method"] == "direct" for p in front)}
    for b in sorted({p["bits"] for p in points if p["method"] == "retrain"}):
        counts[f"retrain_{b}"] = sum(p["method"] == "retrain" and p["bits"] == b for p in front)
    return counts


def memory_points(rows: Iterable[Mapping[str, Any]], methods: Sequence[str] = METHODS) -> list[dict]:
    """Every network of ``rows`` (of ``methods``) as a point of memory (``weight_bits``) vs mean test
    error (:func:`network_summary` rows), with ``pareto`` set: True for the networks on the Pareto
    front of all points returned (:func:`quantlab.numerics.compression.pareto_front`)."""
    points = network_summary(rows, methods)
    front = {id(p) for p in compression.pareto_front(points)}
    return [{**p, "pareto": id(p) in front} for p in points]


def budget_comparison(rows: Iterable[Mapping[str, Any]], quantized_method: str = "retrain") -> dict:
    """Under a memory budget B (bits), is the best quantized network better than the best float one?

    Float networks (memory ``params * 32``) and the ``quantized_method`` networks at every bit width
    of the rows (memory :func:`quantlab.numerics.compression.memory_bits`) are compared by mean test error
    over the budgets where both kinds were measured: the overlap of their memory ranges, from ``lo``
    (the larger of the two smallest memories: below it one kind has no network at all) to ``hi``
    (the smaller of the two largest memories: above it one kind has no larger network to offer, so
    the comparison would only reflect where its sweep stopped). Over that range the best error under
    B of either kind is a step function of B that changes only at network memories. Returned:

    * ``share``: the fraction of the budget range, **measured on a log2 memory axis**, where the
      best quantized network has the strictly lower error (1.0: quantized always wins);
    * ``lo_bits``, ``hi_bits``; ``segments``: a list of dicts ``{lo_bits, hi_bits, float, quantized,
      winner}`` (the best networks' summaries on each stretch, ``winner`` in float | quantized | tie).
    """
    points = network_summary(rows)
    fl = [p for p in points if p["method"] == "float"]
    qu = [p for p in points if p["method"] == quantized_method]
    if not fl:
        raise ValueError("rows hold no float results: no budget comparison")
    if not qu:
        raise ValueError(f"rows hold no {quantized_method!r} results: no budget comparison")
    lo = max(min(p["weight_bits"] for p in fl), min(p["weight_bits"] for p in qu))
    hi = min(max(p["weight_bits"] for p in fl), max(p["weight_bits"] for p in qu))
    if hi <= lo:
        return {"share": float("nan"), "lo_bits": lo, "hi_bits": hi, "segments": []}
    edges = sorted({lo, hi, *(p["weight_bits"] for p in fl + qu if lo < p["weight_bits"] < hi)})
    segments, won = [], 0.0
    total = math.log2(hi) - math.log2(lo)

    def brief(p):
        keep = ("network", "params", "weights", "method", "bits", "test_error", "weight_bits", "size", "trial")
        return {k: p[k] for k in keep if k in p}

    for a, b in zip(edges, edges[1:]):
        bf, bq = compression.best_under_budget(fl, a), compression.best_under_budget(qu, a)
        winner = ("quantized" if bq["test_error"] < bf["test_error"]
                  else "float" if bf["test_error"] < bq["test_error"] else "tie")
        if winner == "quantized":
            won += math.log2(b) - math.log2(a)
        segments.append({"lo_bits": a, "hi_bits": b, "float": brief(bf), "quantized": brief(bq), "winner": winner})
    return {"share": won / total, "lo_bits": lo, "hi_bits": hi, "segments": segments}



def ecr_guidance(rows: Iterable[Mapping[str, Any]], quantized_method: str = "retrain") -> dict:
    """Does choosing by ECR pick the network measured best under a memory budget? And the naive ratio?

    Candidates are the float networks and the ``quantized_method`` networks at every bit width of the
    rows (seed means, :func:`network_summary`). Under a budget B (bits) the **measured best** is the
    candidate of lowest mean test error with ``weight_bits <= B``. Choosing **by ECR** means taking the
    candidate with the largest float-equivalent memory ``32 * N_F(e)`` (ECR times its memory), where
    ``e`` is its mean *validation* error and ``N_F`` is interpolated on the float networks' validation
    errors (:func:`quantlab.numerics.compression.float_params_for_error`): a choice made before the test
    set is looked at, ties (bounds at the end of the float sweep) to the lower validation error, then
    to the smaller memory (as for the measured best).
    Choosing **by the naive ratio** (32 / b for every weight) means taking the candidate with the most
    parameters, ties to the fewest bits. Budgets run over every candidate's memory, from the smallest
    to the largest; the choices are a step function of B that changes only at those memories.

    Returned: ``ecr_share`` and ``naive_share`` (the fraction of the budget range, on a log2 memory
    axis, where each choice is the measured best network), ``lo_bits, hi_bits`` and ``segments``
    (``{lo_bits, hi_bits, best, ecr, naive}`` with each network's label, method and bits).
    """
    rows = check_rows(rows, purpose="to compute from")
    points = [p for p in network_summary(rows) if p["method"] in ("float", quantized_method)]
    fl = [p for p in points if p["method"] == "float"]
    if not fl or len(fl) == len(points):
        raise ValueError(f"rows need float and {quantized_method!r} results for the ECR guidance test")
    if any(p.get("val_error") is None for p in points):
        raise ValueError("rows lack validation errors: the ECR choice is made on validation")
    fp = [int(r["params"]) for r in rows if r["method"] == "float"]
    fe = [float(r["val_error"]) for r in rows if r["method"] == "float"]

    def ecr_score(p):
        return compression.float_params_for_error(p["val_error"], fp, fe).params, -p["val_error"], -p["weight_bits"]

    def naive_score(p):
        return p["params"], -p["bits"]

    def name(p):
        return {"network": p["network"], "method": p["method"], "bits": p["bits"]}

    edges = sorted({p["weight_bits"] for p in points})
    lo, hi = edges[0], edges[-1]
    total = math.log2(hi) - math.log2(lo)
    shares = {"ecr": 0.0, "naive": 0.0}
    segments = []
    for a, b in zip(edges, edges[1:]):
        fits = [p for p in points if p["weight_bits"] <= a]
        best = min(fits, key=lambda p: (p["test_error"], p["weight_bits"]))
        picks = {"ecr": max(fits, key=ecr_score), "naive": max(fits, key=naive_score)}
        for k, chosen in picks.items():
            if chosen is best:
                shares[k] += math.log2(b) - math.log2(a)
        segments.append({"lo_bits": a, "hi_bits": b, "best": name(best), **{k: name(v) for k, v in picks.items()}})
    return {"ecr_share": shares["ecr"] / total if total > 0 else float("nan"),
            "naive_share": shares["naive"] / total if total > 0 else float("nan"),
            "lo_bits": lo, "hi_bits": hi, "segments": segments}


# -- the ends of a size sweep ------------------------------------------------------------------

def sweep_ends(summary: Sequence[SummaryRow], bits: Sequence[int] = (2, 3)) -> dict[str, dict]:
    """The smallest and the largest network of a size sweep (by parameters) from its
    :func:`quantlab.analysis.rows.summarise` rows: ``{"smallest": end, "largest": end}``, each end with the
    float row's ``network, params, width, depth, maps``, ``float_error`` and ``control_error``, and per
    bit width ``b``: ``gap{b}`` and ``gap{b}_se`` (retrained minus the float control), ``gap{b}_float``
    (retrained minus the float network) and ``direct{b}`` (directly quantized minus the float control;
    None without direct rows at ``b``). Fractions; what a sweep chapter quotes."""
    out = {}
    for which in ("smallest", "largest"):
        f = pick(summary, "float", FLOAT_BITS, which)
        end = {k: getattr(f, k) for k in ("network", "params", "width", "depth", "maps")}
        end.update(float_error=f.test_error, control_error=f.control_error)
        for b in bits:
            r = pick(summary, "retrain", b, which)
            direct = [s for s in summary if s.method == "direct" and s.bits == int(b)]
            end.update({f"gap{b}": r.control_gap.mean, f"gap{b}_se": r.control_gap.se,
                        f"gap{b}_float": r.float_gap.mean,
                        f"direct{b}": pick(direct, "direct", b, which).control_gap.mean if direct else None})
        out[which] = end
    return out



def depth_ends(summary: Sequence[SummaryRow], bits: int = 2) -> dict:
    """An FFDNN depth sweep's narrowest and widest width, from its :func:`quantlab.analysis.rows.summarise`
    rows: ``{"narrow": end, "wide": end, "width_decides": bool}``. Each end: ``width``,
    ``shallow_depth`` and ``deep_depth`` (the networks with the fewest and the most parameters of that
    width), their retrained ``bits``-bit gaps to the float control ``shallow_gap`` and ``deep_gap``
    (fractions) and ``grows`` (the deep gap is larger). ``width_decides``: every depth of the narrowest
    width has a larger gap than every depth of the widest."""
    widths = sorted({int(r.width) for r in summary if r.width is not None})
    if not widths:
        raise ValueError("summary rows have no 'width' field (FFDNN rows from quantlab.analysis.rows.tidy)")
    quantized = {w: [r for r in summary if r.method == "retrain" and r.bits == bits and r.width == w]
                 for w in widths}
    out: dict[str, Any] = {}
    for name, w in (("narrow", widths[0]), ("wide", widths[-1])):
        shallow, deep = (pick(quantized[w], "retrain", bits, which) for which in ("smallest", "largest"))
        out[name] = {"width": w, "shallow_depth": shallow.depth, "deep_depth": deep.depth,
                     "shallow_gap": shallow.control_gap.mean, "deep_gap": deep.control_gap.mean,
                     "grows": deep.control_gap.mean > shallow.control_gap.mean}
    out["width_decides"] = (min(r.control_gap.mean for r in quantized[widths[0]])
                            > max(r.control_gap.mean for r in quantized[widths[-1]]))
    return out


def depth_extremes(summary: Sequence[SummaryRow], bits: Sequence[int] = (2, 3)) -> list[dict]:
    """Per width of an FFDNN depth sweep (narrowest first), from its :func:`quantlab.analysis.rows.summarise`
    rows, the shallowest and the deepest network: ``width``, ``depth``, ``params``, ``float_error`` (the
    float network's test error, fraction) and ``gaps`` ``{bits: rows.Gap}`` (the retrained network's gap
    to the float control at each of ``bits``)."""
    widths = sorted({int(r.width) for r in summary if r.width is not None})
    if not widths:
        raise ValueError("summary rows have no 'width' field (FFDNN rows from quantlab.analysis.rows.tidy)")
    out = []
    for width in widths:
        for which in ("smallest", "largest"):
            f = pick(summary, "float", FLOAT_BITS, which, width=width)
            out.append({"width": width, "depth": f.depth, "params": f.params, "float_error": f.test_error,
                        "gaps": {b: pick(summary, "retrain", b, which, width=width).gap("control") for b in bits}})
    return out


def negative_gaps(rows_by_sweep: Mapping[str, Sequence[Mapping[str, Any]]], bits: Sequence[int] = (2, 3),
                  baseline: str = "control") -> dict:
    """How many retrained networks (one per network and bit width, however many sweeps hold it) have
    a negative gap to ``baseline`` (:func:`gaps`): ``{"networks": n, "negative": k}``."""
    per = {(g["network"], b): g for rows in rows_by_sweep.values() for b in bits
           for g in gaps(rows, b, baseline=baseline)}
    return {"networks": len(per), "negative": sum(g["gap"] < 0 for g in per.values())}


def budget_settling(study: Sequence[Mapping[str, Any]], used: int, policy: str = "fixed") -> list[dict]:
    """Per network of a retraining-budget study (:func:`budget_study`) with step policy ``policy``
    whose budgets include ``used`` (the epochs a sweep retrains for): ``network``, ``used``,
    ``gap_used`` and ``gap_longest`` (fractions), ``longest`` (epochs), ``settled`` and ``late``
    (the gap settles only after ``used`` epochs: the sweep's gap at that network is an upper bound
    that longer retraining would lower), ``converged`` (the doubling rule's budget; None: not within
    the study)."""
    return [{"network": s["network"], "used": used, "gap_used": s["gap"][s["epochs"].index(used)],
             "gap_longest": s["gap"][-1], "longest": s["epochs"][-1], "settled": s["settled"],
             "late": s["settled"] > used, "converged": s.get("converged")}
            for s in study if s["step_policy"] == policy and used in s["epochs"]]


def budget_reading(study: Sequence[Mapping[str, Any]], policy: str = "fixed") -> dict:
    """What a reviewer reads off a retraining-budget study (:func:`budget_study`) for one step policy:
    ``largest``, ``smallest`` (networks), ``largest_shrinks`` (the largest network's gap never grows
    from one budget to the next), ``smallest_widest`` (the smallest network's gap is the study's
    largest at every budget) and ``rising``: per network whose gap grows from one budget to the next
    by at least that change's standard error, ``network, epochs, longer, change`` and the parts of
    the change, ``control_change`` and ``quantized_change`` (mean test errors; fractions)."""
    nets = [s for s in study if s["step_policy"] == policy]
    if not nets:
        raise ValueError(f"the study has no networks retrained with the {policy!r} step policy")
    largest, smallest = nets[-1], nets[0]
    rising = []
    for s in nets:
        for i, (e, change, se) in enumerate(s["doubling"]):
            if se is not None and change >= se:
                rising.append({"network": s["network"], "epochs": e, "longer": s["epochs"][i + 1], "change": change,
                               "control_change": s["control_error"][i + 1] - s["control_error"][i],
                               "quantized_change": s["quantized_error"][i + 1] - s["quantized_error"][i]})
    return {"largest": largest["network"], "smallest": smallest["network"],
            "largest_shrinks": all(b <= a for a, b in zip(largest["gap"], largest["gap"][1:])),
            "smallest_widest": all(smallest["gap"][i] == max(s["gap"][i] for s in nets if len(s["gap"]) > i)
                                   for i in range(len(smallest["gap"]))),
            "rising": rising}


def policy_differences(study: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Per network of a retraining-budget study with both step policies: ``network``, ``epochs`` (the
    longest budget) and ``difference``: the adaptive policy's gap minus the fixed policy's there
    (a fraction; negative: adaptive steps retrain to a smaller gap)."""
    by = {(s["network"], s["step_policy"]): s for s in study}
    return [{"network": net, "epochs": s["epochs"][-1], "difference": s["gap"][-1] - by[(net, "fixed")]["gap"][-1]}
            for (net, policy), s in by.items() if policy == "adaptive" and (net, "fixed") in by]



def step_excess(curves: Iterable[Mapping[str, Any]]) -> dict:
    """How far the adaptive steps stayed from each layer's exact optimum over the epoch ends of
    :func:`quantlab.analysis.rows.curves` rows that record it (``step_excess``, a relative excess):
    ``{"n": epoch ends, "median": the middle value (the upper one of an even count), "max": ...}``."""
    excess = sorted(r["step_excess"] for r in curves if r.get("step_excess") is not None)
    if not excess:
        raise ValueError("no curve rows with a step_excess (adaptive retraining)")
    return {"n": len(excess), "median": excess[len(excess) // 2], "max": excess[-1]}


__all__ = ["bias_share", "budget_comparison", "budget_reading", "budget_settling", "budget_study",
           "depth_ends", "depth_extremes", "depth_trend", "ecr_highlights", "ecr_table", "float_sweep",
           "front_counts", "gaps", "memory_points", "negative_gaps", "network_summary", "policy_differences",
           "rank_values", "spearman", "step_excess", "sweep_ends"]
