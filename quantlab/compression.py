"""Weight memory and the effective compression ratio (ECR).

Units, everywhere in this module:

* **sizes** (``params``, ``weights``) are counts of scalars: ``params`` all trainable parameters of a
  network, ``weights`` the quantized ones (the kernels; ``params - weights`` are the biases, which
  the paper never quantizes);
* **memory** is in **bits**;
* **errors** are **fractions** in [0, 1] (the book prints them in percent);
* **ratios** are plain numbers ("16" means 16x).

Definitions (``shared/paper.md``; :func:`effective_compression_ratio` for the reconciliation):

* memory of a network whose kernels hold ``b``-bit weights: ``weights * b + (params - weights) * 32``;
  a float network (``b = 32``) needs ``params * 32``;
* naive compression ratio of ``b``-bit weights: ``32 / b`` (16 for ternary, b = 2);
* ``N_F(e)``: the number of parameters a *float* network of the same family needs to reach test error
  ``e``, interpolated along the float size sweep (:func:`float_params_for_error`, with its rule);
* ECR of a quantized network Q with test error ``e_Q``: ``N_F(e_Q) * 32 / memory_bits(Q)``.

Pure functions of numbers; numpy only. Tidy rows (``quantlab.results.tidy``: one dict per trial,
seed, method and bit width, with ``params, weights, method, bits, test_error``) feed the table
helpers at the end (:func:`ecr_table`, :func:`memory_points`, :func:`pareto_front`,
:func:`budget_comparison`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

FLOAT_BITS = 32
"""Bits of a float parameter (IEEE single precision) and of every bias."""

IN_RANGE = "in-range"
ABOVE_RANGE = "above-range"
BELOW_RANGE = "below-range"
FLAGS = (IN_RANGE, ABOVE_RANGE, BELOW_RANGE)
"""Where ``N_F(e)`` lies relative to the float sweep's sizes (:class:`FloatEquivalent`)."""

RELATION = {IN_RANGE: "=", ABOVE_RANGE: ">=", BELOW_RANGE: "<="}
"""How a value computed from ``N_F`` relates to the truth: exact (interpolated), lower or upper bound."""


# -- validation ------------------------------------------------------------------------------

def _count(field: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise TypeError(f"{field} must be an integer count; got {value!r}")
    if value < minimum:
        raise ValueError(f"{field} must be >= {minimum}; got {value}")
    return int(value)


def _bits(value: Any) -> int:
    bits = _count("bits", value, 1)
    if bits > FLOAT_BITS:
        raise ValueError(f"bits must be between 1 and {FLOAT_BITS} ({FLOAT_BITS} = float); got {bits}")
    return bits


def _error(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{field} must be a test error (a fraction in [0, 1]); got {value!r}")
    value = float(value)
    if not (0.0 <= value <= 1.0):  # also rejects NaN
        raise ValueError(f"{field} must be a fraction in [0, 1] (not percent); got {value!r}")
    return value


# -- memory ----------------------------------------------------------------------------------

def memory_bits(params: int, weights: int, bits: int) -> int:
    """Memory of a network's parameters, in bits.

    ``params``: all parameters (count); ``weights``: how many of them are quantized kernel weights
    (count, ``0 <= weights <= params``); ``bits``: bits per quantized weight (1..32). Biases
    (``params - weights``) always take 32 bits. ``bits = 32`` is the float network: ``params * 32``.
    """
    params = _count("params", params, 1)
    weights = _count("weights", weights, 0)
    bits = _bits(bits)
    if weights > params:
        raise ValueError(f"weights ({weights}) must not exceed params ({params}): weights are a subset of the parameters")
    if bits == FLOAT_BITS:
        return params * FLOAT_BITS
    return weights * bits + (params - weights) * FLOAT_BITS


def naive_ratio(bits: int) -> float:
    """The naive compression ratio of ``bits``-bit weights against 32-bit floats: ``32 / bits``
    (dimensionless; 16.0 for ternary weights, b = 2)."""
    return FLOAT_BITS / _bits(bits)


# -- N_F(e): interpolating the float size sweep ----------------------------------------------

class FloatCurve(NamedTuple):
    """The float sweep as :func:`float_params_for_error` uses it (arrays sorted by size).

    ``params``: distinct parameter counts, increasing; ``mean_error``: mean test error (fraction)
    of the float networks of that size (over seeds); ``envelope``: the running minimum of
    ``mean_error`` from small to large (the best error reachable with at most that many
    parameters; non-increasing).
    """

    params: np.ndarray
    mean_error: np.ndarray
    envelope: np.ndarray


def float_curve(float_params: Sequence[int], float_errors: Sequence[float]) -> FloatCurve:
    """The float size curve from paired ``float_params`` (counts) and ``float_errors`` (test
    errors, fractions), one entry per float network and seed. Entries with the same parameter
    count are one size: their errors are averaged (the seeds of that size)."""
    if isinstance(float_params, (str, bytes)) or isinstance(float_errors, (str, bytes)):
        raise TypeError("float_params and float_errors must be sequences of numbers")
    float_params, float_errors = list(float_params), list(float_errors)
    if len(float_params) != len(float_errors):
        raise ValueError(
            f"float_params ({len(float_params)} entries) and float_errors ({len(float_errors)}) must pair up")
    if not float_params:
        raise ValueError("float_params is empty: the float size sweep needs at least one network")
    sums: dict[int, list[float]] = {}
    for p, e in zip(float_params, float_errors):
        sums.setdefault(_count("float_params", p, 1), []).append(_error("float_errors", e))
    params = np.array(sorted(sums), dtype=np.int64)
    mean = np.array([float(np.mean(sums[int(p)])) for p in params])
    return FloatCurve(params, mean, np.minimum.accumulate(mean))


class FloatEquivalent(NamedTuple):
    """``N_F(e)``: ``params`` (a parameter count, possibly fractional) and ``flag``:

    * ``"in-range"``: interpolated inside the sweep; ``params`` is the estimate of N_F;
    * ``"above-range"``: ``e`` is below every float error of the sweep, so N_F lies beyond its
      largest size; ``params`` is that largest size, a **lower bound** (N_F >= params);
    * ``"below-range"``: ``e`` is above the float error of the sweep's smallest size, so even the
      smallest float network is at least as good; ``params`` is that smallest size, an **upper
      bound** (N_F <= params).
    """

    params: float
    flag: str

    @property
    def relation(self) -> str:
        """``"="``, ``">="`` or ``"<="``: how the true N_F relates to ``params``."""
        return RELATION[self.flag]


def float_params_for_error(error: float, float_params: Sequence[int], float_errors: Sequence[float]) -> FloatEquivalent:
    """``N_F(error)``: the parameter count a float network of the sweep's family needs to reach
    test error ``error`` (a fraction), interpolated along the float size sweep.

    The rule, definite and monotone:

    1. The float curve is the **mean** test error per size (entries of ``float_params`` /
       ``float_errors`` with the same parameter count are the seeds of one size).
    2. It is made monotone non-increasing in size by a **running minimum** from small to large:
       a larger float network can always be trained to do at least as well as a smaller one (the
       sweep's noise or a worse optimum at one size does not make a float network "need" more
       parameters). N_F is therefore the size of the *smallest* float network reaching ``error``.
    3. Between the two adjacent sweep sizes whose *envelope* errors bracket ``error``,
       ``log(params)`` is interpolated **linearly in error** (a size whose own mean is worse than a
       smaller network's sits on the envelope at that smaller network's error). At an error equal
       to an envelope value the result is the smallest size with that envelope value, exactly; so a
       sweep point that is on the envelope maps to its own size.
    4. Outside the sweep nothing is extrapolated: an ``error`` below the best float error gives
       the largest size flagged ``"above-range"`` (a lower bound on N_F), an ``error`` above the
       smallest network's error gives the smallest size flagged ``"below-range"`` (an upper bound).
    """
    error = _error("error", error)
    curve = float_curve(float_params, float_errors)
    sizes, env = curve.params, curve.envelope
    if error < env[-1]:
        return FloatEquivalent(float(sizes[-1]), ABOVE_RANGE)
    if error > env[0]:
        return FloatEquivalent(float(sizes[0]), BELOW_RANGE)
    # first index whose envelope error reaches `error` (env is non-increasing, env[0] >= error)
    i = int(np.argmax(env <= error))
    if env[i] == error or i == 0:
        return FloatEquivalent(float(sizes[i]), IN_RANGE)
    hi, lo = env[i - 1], env[i]  # hi > error > lo
    t = (hi - error) / (hi - lo)
    log_n = math.log(sizes[i - 1]) + t * (math.log(sizes[i]) - math.log(sizes[i - 1]))
    # keep the interpolant inside its bracket despite rounding
    return FloatEquivalent(float(min(max(math.exp(log_n), sizes[i - 1]), sizes[i])), IN_RANGE)


# -- ECR -------------------------------------------------------------------------------------

class ECR(NamedTuple):
    """An effective compression ratio and how it was obtained.

    ``value``: the ratio (dimensionless), or a bound on it; ``relation``: ``"="`` (interpolated),
    ``">="`` (lower bound: the quantized network beats every float network of the sweep) or
    ``"<="`` (upper bound: it is worse than the smallest float network); ``float_params``: N_F(e_Q)
    (or its bound); ``flag``: as in :class:`FloatEquivalent`; ``float_bits`` and ``quantized_bits``:
    numerator and denominator (bits); ``naive``: 32 / bits.
    """

    value: float
    relation: str
    float_params: float
    flag: str
    float_bits: float
    quantized_bits: int
    naive: float

    @property
    def text(self) -> str:
        """The value for a table: ``"5.9"``, ``">= 10.3"``, ``"<= 0.8"``."""
        prefix = "" if self.relation == "=" else f"{self.relation} "
        return f"{prefix}{self.value:.3g}"


def effective_compression_ratio(
    error: float, params: int, weights: int, bits: int,
    float_params: Sequence[int], float_errors: Sequence[float],
) -> ECR:
    """ECR of a quantized network: test error ``error`` (fraction), ``params`` parameters of which
    ``weights`` are ``bits``-bit quantized weights; the float size sweep of the same family is
    ``float_params`` / ``float_errors`` (as in :func:`float_params_for_error`).

    ``ECR = N_F(error) * 32 / (weights * bits + (params - weights) * 32)``: the bits of the
    smallest float network that is as good, over the bits of the quantized network.

    Reconciling paper.md's ``(N_F(e_Q) * 32) / (N_Q * b)`` with "biases are counted at 32 bits on
    both sides": both sides are *total* memory. ``N_F`` counts all float parameters (weights and
    biases) at 32 bits; the quantized side is its kernels at ``b`` bits plus its biases at 32.
    Since biases are a fraction of a percent of the parameters in these networks, this differs from
    ``N_F * 32 / (N_Q * b)`` by less than that fraction times 32 / b.

    ECR is a bound, not a value, when ``error`` lies outside the float sweep (``relation``):
    ``">="`` when the quantized network beats the largest float network, ``"<="`` when it is worse
    than the smallest. If the quantized network is no better than the float envelope at its own
    size, N_F <= params and so ECR <= params * 32 / memory <= 32 / bits (the naive ratio).
    """
    q_bits = memory_bits(params, weights, bits)
    nf = float_params_for_error(error, float_params, float_errors)
    f_bits = nf.params * FLOAT_BITS
    return ECR(f_bits / q_bits, nf.relation, nf.params, nf.flag, f_bits, q_bits, naive_ratio(bits))


# -- tables from tidy rows -------------------------------------------------------------------

_ROW_FIELDS = ("params", "weights", "method", "bits", "test_error")


def _check_rows(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    from quantlab.results import check_rows  # noqa: PLC0415 - results imports this module

    return check_rows(rows, _ROW_FIELDS, "to compute from")


def _bits_of(row: Mapping[str, Any]) -> int:
    return FLOAT_BITS if row["method"] == "float" else int(row["bits"])


def network_means(rows: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Tidy rows averaged over seeds: one dict per (network, method, bits) with ``params, weights,
    method, bits`` (32 for float), ``test_error`` (mean, fraction), ``test_error_std`` (sample std
    over seeds, 0 for one seed), ``seeds`` (count), ``memory_bits`` and the first row's ``size`` and
    ``trial`` when present. Networks are identified by their parameter count. Sorted by method
    (float, direct, retrain), bits, params."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in _check_rows(rows):
        groups.setdefault((r["method"], _bits_of(r), int(r["params"])), []).append(r)
    order = {"float": 0, "direct": 1, "retrain": 2}
    out = []
    for (method, bits, params), rs in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1], kv[0][2])):
        errs = np.array([_error("test_error", r["test_error"]) for r in rs])
        weights = int(rs[0]["weights"])
        out.append({
            "params": params, "weights": weights, "method": method, "bits": bits,
            "test_error": float(errs.mean()),
            "test_error_std": float(errs.std(ddof=1)) if len(errs) > 1 else 0.0,
            "seeds": len(errs),
            "memory_bits": memory_bits(params, weights, bits),
            **{k: rs[0][k] for k in ("size", "trial", "family") if k in rs[0]},
        })
    return out


def float_sweep(rows: Iterable[Mapping[str, Any]]) -> tuple[list[int], list[float]]:
    """``(float_params, float_errors)`` of the float rows (one entry per network and seed)."""
    fl = [r for r in _check_rows(rows) if r["method"] == "float"]
    if not fl:
        raise ValueError("rows hold no float results (method 'float'): N_F cannot be interpolated")
    return [int(r["params"]) for r in fl], [float(r["test_error"]) for r in fl]


def ecr_table(rows: Iterable[Mapping[str, Any]], methods: Sequence[str] = ("retrain",)) -> list[dict]:
    """ECR of every quantized network of ``methods`` in tidy ``rows``, from its mean test error over
    seeds, against the float sweep of the same rows.

    One dict per (network, method, bits): the fields of :func:`network_means` plus
    ``float_params`` (N_F or its bound), ``flag``, ``relation``, ``ecr``, ``ecr_text``, ``naive``,
    ``float_bits``.
    """
    rows = _check_rows(rows)
    fp, fe = float_sweep(rows)
    out = []
    for n in network_means(rows):
        if n["method"] == "float" or n["method"] not in methods:
            continue
        e = effective_compression_ratio(n["test_error"], n["params"], n["weights"], n["bits"], fp, fe)
        out.append({**n, "float_params": e.float_params, "flag": e.flag, "relation": e.relation,
                    "ecr": e.value, "ecr_text": e.text, "naive": e.naive, "float_bits": e.float_bits})
    return out


def memory_points(rows: Iterable[Mapping[str, Any]], methods: Sequence[str] = ("float", "direct", "retrain")) -> list[dict]:
    """Every network of ``rows`` (of ``methods``) as a point of memory (bits) vs mean test error,
    with ``pareto`` set: True for the networks on the Pareto front of all points returned
    (:func:`pareto_front`)."""
    points = [n for n in network_means(rows) if n["method"] in methods]
    front = {id(p) for p in pareto_front(points)}
    return [{**p, "pareto": id(p) in front} for p in points]


def pareto_front(points: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The points (dicts with ``memory_bits`` and ``test_error``) that no other point dominates:
    none needs at most as much memory with a strictly lower error or strictly less memory with at
    most the same error. Sorted by memory; errors strictly decrease along it. The front answers "which
    network under a memory budget B": the last front point with ``memory_bits <= B``."""
    ordered = sorted(points, key=lambda p: (p["memory_bits"], p["test_error"]))
    front: list[Mapping[str, Any]] = []
    for p in ordered:
        if not front or p["test_error"] < front[-1]["test_error"]:
            front.append(p)
    return front


def best_under_budget(points: Sequence[Mapping[str, Any]], budget_bits: float) -> Mapping[str, Any] | None:
    """The point of lowest ``test_error`` among ``points`` with ``memory_bits <= budget_bits``
    (None when none fits)."""
    fits = [p for p in points if p["memory_bits"] <= budget_bits]
    return min(fits, key=lambda p: (p["test_error"], p["memory_bits"])) if fits else None


def budget_comparison(rows: Iterable[Mapping[str, Any]], quantized_method: str = "retrain") -> dict:
    """Under a memory budget B (bits), is the best quantized network better than the best float one?

    Float networks (memory ``params * 32``) and the ``quantized_method`` networks at every bit width
    of the rows (memory :func:`memory_bits`) are compared by mean test error over the budgets where
    both kinds were measured: the overlap of their memory ranges, from ``lo`` (the larger of the two
    smallest memories: below it one kind has no network at all) to ``hi`` (the smaller of the two
    largest memories: above it one kind has no larger network to offer, so the comparison would
    only reflect where its sweep stopped). Over that range the best error under B of either kind is
    a step function of B that changes only at network memories. Returned:

    * ``share``: the fraction of the budget range, **measured on a log2 memory axis**, where the
      best quantized network has the strictly lower error (1.0: quantized always wins);
    * ``lo_bits``, ``hi_bits``; ``segments``: a list of dicts ``{lo_bits, hi_bits, float, quantized,
      winner}`` (the best networks' summaries on each stretch, ``winner`` in float | quantized | tie).
    """
    points = network_means(rows)
    fl = [p for p in points if p["method"] == "float"]
    qu = [p for p in points if p["method"] == quantized_method]
    if not fl:
        raise ValueError("rows hold no float results: no budget comparison")
    if not qu:
        raise ValueError(f"rows hold no {quantized_method!r} results: no budget comparison")
    lo = max(min(p["memory_bits"] for p in fl), min(p["memory_bits"] for p in qu))
    hi = min(max(p["memory_bits"] for p in fl), max(p["memory_bits"] for p in qu))
    if hi <= lo:
        return {"share": float("nan"), "lo_bits": lo, "hi_bits": hi, "segments": []}
    edges = sorted({lo, hi, *(p["memory_bits"] for p in fl + qu if lo < p["memory_bits"] < hi)})
    segments, won = [], 0.0
    total = math.log2(hi) - math.log2(lo)

    def brief(p):
        keep = ("params", "weights", "method", "bits", "test_error", "memory_bits", "size", "trial")
        return {k: p[k] for k in keep if k in p}

    for a, b in zip(edges, edges[1:]):
        bf, bq = best_under_budget(fl, a), best_under_budget(qu, a)
        winner = ("quantized" if bq["test_error"] < bf["test_error"]
                  else "float" if bf["test_error"] < bq["test_error"] else "tie")
        if winner == "quantized":
            won += math.log2(b) - math.log2(a)
        segments.append({"lo_bits": a, "hi_bits": b, "float": brief(bf), "quantized": brief(bq), "winner": winner})
    return {"share": won / total, "lo_bits": lo, "hi_bits": hi, "segments": segments}
