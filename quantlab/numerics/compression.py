"""Weight memory and the effective compression ratio (ECR).

Units, everywhere in this module:

* **sizes** (``params``, ``weights``) are counts of scalars: ``params`` all trainable parameters of a
  network, ``weights`` the quantized ones (the kernels; ``params - weights`` are the biases, which
  the paper never quantizes);
* **memory** is in **bits**;
* **errors** are **fractions** in [0, 1] (the book prints them in percent);
* **ratios** are plain numbers ("16" means 16x).

Definitions (the paper's, arXiv 1511.06488; :func:`effective_compression_ratio` for the reconciliation):

* memory of a network whose kernels hold ``b``-bit weights: ``weights * b + (params - weights) * 32``;
  a float network (``b = 32``) needs ``params * 32``;
* naive compression ratio of ``b``-bit weights: ``32 / b`` (16 for ternary, b = 2);
* ``N_F(e)``: the number of parameters a *float* network of the same family needs to reach test error
  ``e``, interpolated along the float size sweep (:func:`float_params_for_error`, with its rule);
* ECR of a quantized network Q with test error ``e_Q``: ``N_F(e_Q) * 32 / memory_bits(Q)``.

Pure functions of numbers (numpy only); the points of :func:`pareto_front` and
:func:`best_under_budget` are dicts with ``weight_bits`` (memory) and ``test_error``. Tables of
results (ECR per network, memory points, budget comparisons) are built from the seed summary in
:mod:`quantlab.analysis.stats`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from quantlab.vocabulary import FLOAT_BITS  # bits of a float parameter and of every bias

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


def check_error(field: str, value: Any) -> float:
    """``value`` as a float, or an error naming ``field`` unless it is a fraction in [0, 1]."""
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
        raise ValueError(f"weights ({weights}) must not exceed params ({params}): "
                         "weights are a subset of the parameters")
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
        sums.setdefault(_count("float_params", p, 1), []).append(check_error("float_errors", e))
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
    error = check_error("error", error)
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

    Reconciling the paper's ``(N_F(e_Q) * 32) / (N_Q * b)`` with "biases are counted at 32 bits on
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


# -- memory budgets ---------------------------------------------------------------------------

def pareto_front(points: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The points (dicts with ``weight_bits``, their memory, and ``test_error``) that no other point dominates:
    none needs at most as much memory with a strictly lower error or strictly less memory with at
    most the same error. Sorted by memory; errors strictly decrease along it. The front answers "which
    network under a memory budget B": the last front point with ``weight_bits <= B``."""
    ordered = sorted(points, key=lambda p: (p["weight_bits"], p["test_error"]))
    front: list[Mapping[str, Any]] = []
    for p in ordered:
        if not front or p["test_error"] < front[-1]["test_error"]:
            front.append(p)
    return front


def best_under_budget(points: Sequence[Mapping[str, Any]], budget_bits: float) -> Mapping[str, Any] | None:
    """The point of lowest ``test_error`` among ``points`` with ``weight_bits <= budget_bits``
    (None when none fits)."""
    fits = [p for p in points if p["weight_bits"] <= budget_bits]
    return min(fits, key=lambda p: (p["test_error"], p["weight_bits"])) if fits else None
