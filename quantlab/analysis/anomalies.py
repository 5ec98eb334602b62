"""What a skeptical reviewer would question in a set of results, found from the records and rows.

Each check returns data (the cases it found, with their numbers), so that a test can assert that
the reference records hold none and a chapter can say, computed, why a surprising point is there:

* :func:`validation_jumps`: a retraining whose validation error jumps between consecutive epochs
  while the training loss of the same end-of-epoch network stays flat (the symptom of evaluating
  another network than the trained one), and :func:`unconfirmed_jumps`: those of them that the
  same network's training error does not confirm;
* :func:`retrained_worse_than_direct`: a retrained network selected with a worse validation error
  than its directly quantized start (impossible when the start competes in the selection);
* :func:`more_bits_worse`: a network whose retrained ``b + 1``-bit error exceeds its ``b``-bit error
  by more than seed noise;
* :func:`more_signal_bits_worse`: the same across the word lengths of the hidden signals;
* :func:`quantized_beats_float`: a retrained network below its float network's test error, with the
  float control beside it (the extra epochs, not quantization, usually explain it).

Errors and differences are fractions, in the inputs and in the returned cases; the thresholds are
in percentage points (pp), as the book states them, and are compared in pp.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from quantlab.analysis import inference
from quantlab.analysis.rows import NETWORK_FIELDS, network_key, summarise
from quantlab.formatting import plural, pp
from quantlab.vocabulary import signal_label

JUMP_PP = 3.0
"""A validation error change of more than 3 pp between consecutive epochs counts as a jump ..."""
FLAT_LOSS = 0.05
"""... when the training loss of the end-of-epoch network (``train_loss`` of :func:`quantlab.training.train.fit`'s
history: the network whose validation error is measured) changed by less than 5 % (relative)."""
REVIEW_PP = 0.5
"""Smallest difference of seed means (pp) worth flagging: half a point is 50 of 10,000 test images."""


def _moves(curves: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Every retraining epoch after the first, from :func:`quantlab.analysis.rows.curve_rows` rows: the curve's
    fields (``spec, trial, seed, step_policy, retrain_epochs, bits`` and ``params`` where present),
    ``epoch``, ``val_change`` (fraction), ``loss_change`` (relative) and ``train_change`` (fraction; None
    where the history has no training error), all signed, against the previous epoch."""
    keys = (*NETWORK_FIELDS, "seed")
    runs: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in curves:
        if r["stage"] == "retrain" and r["epoch"] >= 1:
            runs.setdefault((*(r.get(k) for k in keys), int(r["bits"])), []).append(r)
    out = []
    for run, rows in runs.items():
        rows = sorted(rows, key=lambda r: r["epoch"])
        for a, b in zip(rows, rows[1:]):
            known = a.get("train_error") is not None and b.get("train_error") is not None
            out.append({**dict(zip(keys, run[:-1])), "params": a.get("params"), "bits": run[-1],
                        "epoch": int(b["epoch"]),
                        "val_change": b["val_error"] - a["val_error"],
                        "loss_change": (b["train_loss"] - a["train_loss"]) / abs(a["train_loss"]),
                        "train_change": b["train_error"] - a["train_error"] if known else None})
    return out


def validation_jumps(curves: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Retraining epochs whose validation error moved by more than :data:`JUMP_PP` from the previous
    epoch while the same networks' training loss moved by less than :data:`FLAT_LOSS` (relative), from
    :func:`quantlab.analysis.rows.curve_rows` rows. Each case: the curve's fields (``trial, seed,
    step_policy, retrain_epochs, bits`` where present), ``epoch``, ``val_change`` and
    ``loss_change`` (signed)."""
    return [m for m in _moves(curves) if 100 * abs(m["val_change"]) > JUMP_PP and abs(m["loss_change"]) < FLAT_LOSS]


def unconfirmed_jumps(jumps: Iterable[Mapping[str, Any]]) -> list[dict]:
    """The :func:`validation_jumps` cases that the training error does not confirm: where it is not
    recorded, or did not move the same way by at least half as much. A confirmed jump is the network
    itself changing (on training and validation data alike) while its cross-entropy barely moves,
    which near-tie predictions allow; an unconfirmed one is what evaluating another network than the
    trained one looks like (the bug of issue 10)."""
    return [dict(j) for j in jumps
            if j.get("train_change") is None or j["train_change"] * j["val_change"] <= 0
            or abs(j["train_change"]) < abs(j["val_change"]) / 2]


def confirmation(jumps: Sequence[Mapping[str, Any]]) -> str:
    """One sentence on whether the training error confirms :func:`validation_jumps` cases
    (:func:`unconfirmed_jumps`), with the mean sizes of the moves in points."""
    open_ = unconfirmed_jumps(jumps)
    shut = [j for j in jumps if j not in open_]
    if shut:
        train = statistics.fmean(abs(j["train_change"]) for j in shut)
        val = statistics.fmean(abs(j["val_change"]) for j in shut)
        moved = (f"the same network's training error moved the same way, by {pp(train, sign=False)} points on "
                 f"average against {pp(val, sign=False)} on validation")
    if not open_:
        return (f"In every one {moved}: the network itself changed, while its cross-entropy barely moved (many of "
                "its predictions are near ties between two classes).")
    cases = "; ".join(
        f"{j['trial']} seed {j['seed']} epoch {j['epoch']}: validation {pp(j['val_change'], 1)}, training "
        + ("not recorded" if j.get("train_change") is None else pp(j["train_change"], 1)) for j in open_)
    head = f"In {len(shut)} of them {moved}; in " if shut else "In "
    return head + f"{len(open_)} the training error did not move with it ({cases})."


def largest_move(curves: Iterable[Mapping[str, Any]]) -> dict | None:
    """The retraining epoch whose validation error moved most from the previous epoch (a case like
    :func:`validation_jumps`'), None without two retraining epochs."""
    return max(_moves(curves), key=lambda m: abs(m["val_change"]), default=None)


def retrained_worse_than_direct(record: Mapping[str, Any]) -> list[int]:
    """Bit widths of one record whose retrained validation error exceeds the direct one's."""
    m = record["metrics"]
    return [int(b) for b, r in m.get("retrain", {}).items()
            if b in m.get("direct", {}) and r["val_error"] > m["direct"][b]["val_error"]]


def _networks(rows: Iterable[Mapping[str, Any]]) -> dict[tuple, dict[tuple, dict[int, float]]]:
    """``{network: {(method, bits): {seed: test_error}}}``, networks told apart by
    :func:`quantlab.analysis.rows.network_key` (the rows of :func:`more_bits_worse`, which pairs two
    quantized results of one network seed by seed, with no float baseline)."""
    out: dict[tuple, dict[tuple, dict[int, float]]] = {}
    for r in rows:
        out.setdefault(network_key(r), {}).setdefault((r["method"], int(r["bits"])), {})[int(r["seed"])] = float(
            r["test_error"])
    return out


def _paired(a: Mapping[int, float], b: Mapping[int, float]) -> tuple[float, float | None, int]:
    """Mean and standard error (None for one seed) of ``a - b`` over the shared seeds (fractions);
    NaN mean for no shared seed."""
    seeds = sorted(set(a) & set(b))
    d = [a[s] - b[s] for s in seeds]
    if not d:
        return math.nan, None, 0
    se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else None
    return statistics.fmean(d), se, len(d)


def noise_rule() -> str:
    """What "beyond seed noise" means in the book (:func:`beyond_noise`), in words."""
    return (f"more than {REVIEW_PP:g} pp, and a {inference.CONFIDENCE:.0%} two-sided t-interval over the seeds "
            "that excludes 0")


def beyond_noise(diff: float, se: float | None, n: int) -> bool:
    """Whether a mean paired difference over ``n`` seeds (a fraction, standard error ``se``; None or NaN
    for one seed) is positive beyond seed noise: more than :data:`REVIEW_PP`, and its two-sided
    confidence interval excludes 0 (:func:`quantlab.analysis.inference.differs`, the book's one test)."""
    return 100 * diff > REVIEW_PP and inference.differs(diff, se, n)


def more_bits_worse(rows: Iterable[Mapping[str, Any]], method: str = "retrain") -> list[dict]:
    """Networks whose ``method`` error at a wider bit width exceeds the next narrower one's by more
    than seed noise (:func:`beyond_noise`), from tidy rows. Each case: ``spec, trial, step_policy,
    retrain_epochs, train_subset, quantizer`` (:data:`quantlab.analysis.rows.NETWORK_FIELDS`), ``low_bits,
    high_bits, diff`` (high minus low), ``se, seeds`` (fractions)."""
    out = []
    for net, by in _networks(rows).items():
        widths = sorted(b for m, b in by if m == method)
        for lo, hi in zip(widths, widths[1:]):
            diff, se, n = _paired(by[(method, hi)], by[(method, lo)])
            if beyond_noise(diff, se, n):
                out.append({**dict(zip(NETWORK_FIELDS, net)), "low_bits": lo, "high_bits": hi, "diff": diff,
                            "se": se, "seeds": n})
    return out


def more_signal_bits_worse(rows: Iterable[Mapping[str, Any]], method: str = "retrain") -> list[dict]:
    """The hidden signals' twin of :func:`more_bits_worse`: networks whose ``method`` error with wider
    signals exceeds that with the next narrower ones (float signals widest) beyond seed noise, at the
    same weight bits, from tidy rows. Each case: the network's fields but ``signal_bits``, ``bits``,
    ``low_signals, high_signals`` (None: float), ``diff`` (high minus low), ``se, seeds`` (fractions)."""
    fields = tuple(f for f in NETWORK_FIELDS if f != "signal_bits")
    nets: dict[tuple, dict[int | None, dict[int, float]]] = {}
    for r in rows:
        if r["method"] == method:
            net = nets.setdefault((*(r.get(f) for f in fields), int(r["bits"])), {})
            net.setdefault(r.get("signal_bits"), {})[int(r["seed"])] = float(r["test_error"])
    out = []
    for net, by in nets.items():
        widths = sorted(by, key=lambda b: math.inf if b is None else b)
        for lo, hi in zip(widths, widths[1:]):
            diff, se, n = _paired(by[hi], by[lo])
            if beyond_noise(diff, se, n):
                out.append({**dict(zip(fields, net)), "bits": net[-1], "low_signals": lo, "high_signals": hi,
                            "diff": diff, "se": se, "seeds": n})
    return out


def quantized_beats_float(rows: Iterable[Mapping[str, Any]], method: str = "retrain") -> list[dict]:
    """Networks whose ``method`` error is below the float network's by more than seed noise, with
    the float control beside it, from the seed summary (:func:`quantlab.analysis.rows.summarise`,
    paired per seed). Each case: the network's fields (:data:`quantlab.analysis.rows.NETWORK_FIELDS`),
    ``bits, below_float`` (float minus quantized), ``se``, ``below_control`` (control minus quantized;
    NaN without a control) and ``control_gain`` (float minus control: what the extra epochs alone
    did); fractions."""
    summary = summarise(rows)
    floats = {s.key: s for s in summary if s.method == "float"}

    def mean(gap):
        return statistics.fmean(gap.by_seed.values()) if gap and gap.by_seed else math.nan

    out = []
    for s in summary:
        if s.method != method or not (s.float_gap and s.float_gap.by_seed):
            continue
        below = -mean(s.float_gap)
        if beyond_noise(below, s.float_gap.se, len(s.float_gap.by_seed)):
            out.append({**dict(zip(NETWORK_FIELDS, s.key)), "bits": s.bits, "below_float": below,
                        "se": s.float_gap.se, "below_control": -mean(s.control_gap),
                        "control_gain": mean(floats[s.key].control_gap)})
    return out


def explain(cases: Sequence[Mapping[str, Any]], kind: str) -> str:
    """One sentence for a chapter about the cases of :func:`more_bits_worse` (``kind="more_bits"``),
    :func:`quantized_beats_float` (``kind="beats_float"``) or :func:`validation_jumps`
    (``kind="jumps"``); says so when there are none."""
    if kind == "jumps":
        if not cases:
            return (f"No retraining's validation error jumps by more than {JUMP_PP:g} points between epochs "
                    f"while the training loss of the same network changes by less than {FLAT_LOSS:.0%}.")
        nets = sorted({(c["trial"], c["bits"], c.get("signal_bits") or 0) for c in cases})
        names = ", ".join(f"{t} {b}-bit" + (f" with {signal_label(sb)} signals" if sb else "") for t, b, sb in nets)
        return (f"{len(cases)} retraining {plural(len(cases), 'epoch')} ({names}) "
                f"{plural(len(cases), 'moves', 'move')} the "
                f"validation error by more than {JUMP_PP:g} points while the training loss of the same network "
                f"changes by less than {FLAT_LOSS:.0%}. " + confirmation(cases)
                + (" A jump that the training error does not share is a sign that the evaluated network is not "
                   "the trained one." if unconfirmed_jumps(cases) else ""))
    if kind == "more_bits":
        if not cases:
            return f"No network's retrained error grows with more bits beyond seed noise ({noise_rule()})."
        items = "; ".join(f"{c['trial']}: {c['high_bits']}-bit {pp(c['diff'])} pp against {c['low_bits']}-bit"
                          for c in cases)
        return (f"{len(cases)} {plural(len(cases), 'network')} {plural(len(cases), 'retrains', 'retrain')} "
                f"worse with more bits beyond seed noise ({items}).")
    if kind == "more_signal_bits":
        if not cases:
            return ("No network's retrained error grows with wider hidden signals beyond seed noise "
                    f"({noise_rule()}).")
        items = "; ".join(f"{c['trial']} {c['bits']}-bit weights: {signal_label(c['high_signals'])} signals "
                          f"{pp(c['diff'])} pp against {signal_label(c['low_signals'])}" for c in cases)
        return (f"{len(cases)} {plural(len(cases), 'network')} {plural(len(cases), 'retrains', 'retrain')} "
                f"worse with wider signals beyond seed noise ({items}).")
    if kind == "beats_float":
        if not cases:
            return f"No retrained quantized network beats its float network beyond seed noise ({noise_rule()})."
        items = "; ".join(
            f"{c['trial']} {c['bits']}-bit: {pp(c['below_float'], sign=False)} pp below float, "
            f"{pp(c['below_control'])} pp against the float control (whose extra epochs alone gain "
            f"{pp(c['control_gain'])} pp)" for c in cases)
        return (f"{len(cases)} retrained {plural(len(cases), 'network')} "
                f"{plural(len(cases), 'beats its', 'beat their')} float network beyond seed noise: {items}. "
                "The float control, trained for the same extra epochs, is the fair comparison.")
    raise ValueError(f"kind must be 'jumps', 'more_bits', 'more_signal_bits' or 'beats_float'; got {kind!r}")
