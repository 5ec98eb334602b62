"""quantlab.analysis.report: computed verdicts for the paper's claims, on synthetic rows and on the committed
reference records (edited in a temporary copy of the store, the verdicts must flip)."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest

import fakes
from quantlab import charts
from quantlab.analysis import report as R
from quantlab.analysis.rows import tidy

ROOT = Path(__file__).resolve().parent.parent

# -- synthetic rows ---------------------------------------------------------------------------

PARAMS = [1_000, 4_000, 16_000, 64_000, 256_000]
FLOAT = [0.30, 0.20, 0.15, 0.12, 0.11]


def make_rows(gaps2, gaps3=None, noise=(0.0, 0.0, 0.0), params=PARAMS, floats=FLOAT):
    """Tidy rows: per size the float error, and retrained 2/3-bit errors = float + gap (in pp) +
    a per-seed offset (pp) from ``noise``."""
    gaps3 = gaps3 if gaps3 is not None else [g / 2 for g in gaps2]
    rows = []
    for p, f, g2, g3 in zip(params, floats, gaps2, gaps3):
        rows += fakes.rows({("float", 32): [f] * len(noise),
                            ("retrain", 2): [f + (g2 + n) / 100 for n in noise],
                            ("retrain", 3): [f + (g3 + n) / 100 for n in noise],
                            ("direct", 2): [min(1.0, max(0.0, f + 3 * (g2 + 1) / 100))] * len(noise)},
                           p, control=f, trial=f"net-{p}", family="ffdnn")
    return rows


DECREASING = [10.0, 4.0, 1.5, 0.6, 0.2]


def data_rows(gaps_by_subset):
    """Rows of a data sweep: ``{train_subset: per-size ternary gaps (pp)}`` (None: the whole split)."""
    return [{**r, "train_subset": n} for n, g in gaps_by_subset.items() for r in make_rows(g, noise=(-0.1, 0, 0.1))]


@pytest.mark.parametrize("gaps, verdict", [
    # the gap vanishes from the 2nd size with 1,000 examples, the 3rd with 10,000, the 4th with all
    ({1000: [3.0, 0.3, 0.2, 0.1, 0.0], 10000: [6.0, 2.0, 0.4, 0.2, 0.1], None: DECREASING}, R.REPRODUCED),
    # smaller with the fewest examples, but 10,000 examples need a larger network than all of them:
    # evidence against the prediction as stated
    ({1000: [3.0, 0.3, 0.2, 0.1, 0.0], 10000: [6.0, 4.0, 3.0, 2.0, 1.0], None: DECREASING}, R.NOT_REPRODUCED),
    # smaller with the fewest examples, but the smallest network's gap grew: against it too
    ({1000: [15.0, 0.3, 0.2, 0.1, 0.0], None: DECREASING}, R.NOT_REPRODUCED),
    # less data changes nothing
    ({1000: DECREASING, None: DECREASING}, R.NOT_REPRODUCED),
    # the gap never vanishes, with any data: nothing to compare
    ({1000: [12.0, 8.0, 5.0, 3.0, 2.0], None: [12.0, 8.0, 5.0, 3.0, 2.0]}, R.INCONCLUSIVE),
])
def test_claim5_verdicts(gaps, verdict):
    finding = R.claim5(data_rows(gaps))
    assert finding.verdict == verdict, finding.reason
    assert finding.evidence["subsets"] == [n for n in gaps if n is not None] + [None]


def test_claim5_needs_two_training_set_sizes():
    with pytest.raises(ValueError, match="at least two training-set sizes"):
        R.claim5(data_rows({None: DECREASING}))
    rows = data_rows({1000: [3.0, 0.3, 0.2, 0.1, 0.0], None: DECREASING})
    # 0.6 pp at the 4th size: its upper bound (0.77 pp over 3 seeds of spread 0.1) exceeds the margin
    assert R.vanishing_size([r for r in rows if r["train_subset"] is None])["params"] == PARAMS[4]
    assert R.vanishing_size(make_rows([5.0] * 5)) is None


def gap(mean_pp, std_pp, n):
    return {"gap": mean_pp / 100, "gap_se": None if n < 2 else std_pp / 100 / math.sqrt(n), "seeds": n}


def test_gap_vanished_is_an_equivalence_test():
    assert R.gap_vanished(gap(0.3, 0.0, 3)) == "yes"
    assert R.gap_vanished(gap(0.3, 0.5, 3)) == "inconclusive"  # upper bound 0.3 + 2.92 * 0.29 > 0.5
    assert R.gap_vanished(gap(0.3, 0.5, 30)) == "yes"
    assert R.gap_vanished(gap(3.8, 3.3, 3)) == "inconclusive"  # the precision map's w32 4-bit cell: never "vanished"
    assert R.gap_vanished(gap(1.5, 0.3, 3)) == "no"
    assert R.gap_vanished(gap(0.1, 0.0, 1)) == "inconclusive"  # one seed decides nothing


def test_claim1_verdicts():
    assert R.claim1(make_rows(DECREASING, noise=(-0.5, 0, 0.5))).verdict == R.REPRODUCED
    # a big gap buried in seed noise: inconclusive, with the seeds that would settle it
    noisy = R.claim1(make_rows([3.0, 1, 1, 1, 1], noise=(-9.0, 0, 9.0)))
    assert noisy.verdict == R.INCONCLUSIVE and noisy.evidence["seeds_needed"] > 3
    assert "seeds would settle it" in noisy.reason
    # a tiny gap, however consistent: not reproduced
    tiny = R.claim1(make_rows([0.3, 0.2, 0.1, 0.1, 0.1], noise=(0.01, 0, -0.01)))
    assert tiny.verdict == R.NOT_REPRODUCED
    assert tiny.evidence["small_gap"] == pytest.approx(0.003)  # a fraction: 0.3 pp
    # one seed: no noise estimate, nothing decided
    assert R.claim1(make_rows(DECREASING, noise=(0.0,))).verdict == R.INCONCLUSIVE


def test_claim2_verdicts():
    assert R.claim2(make_rows(DECREASING)).verdict == R.REPRODUCED
    # 0.2 pp with 3 seeds of spread 0.5: the upper bound (1.04 pp) exceeds the margin: inconclusive
    f = R.claim2(make_rows(DECREASING, noise=(-0.5, 0, 0.5)))
    assert f.verdict == R.INCONCLUSIVE and f.evidence["seeds_needed"] > 3
    # 1.5 pp, consistent over the seeds: not vanished, however much it shrank
    f = R.claim2(make_rows([20, 10, 5, 3, 1.5], noise=(-0.1, 0, 0.1)))
    assert f.verdict == R.NOT_REPRODUCED and f.evidence["shrink_ratio"] == pytest.approx(0.075)
    # a stricter margin or a higher confidence never makes it easier
    rows = make_rows([10, 4, 2, 1, 0.3], noise=(-0.1, 0, 0.1))
    assert R.claim2(rows).verdict == R.REPRODUCED
    assert R.claim2(rows, R.Thresholds(margin_pp=0.25)).verdict != R.REPRODUCED


def test_claim3_verdicts():
    noise = (-0.1, 0, 0.1)
    assert R.claim3(make_rows(DECREASING, noise=noise)).verdict == R.REPRODUCED
    f = R.claim3(make_rows(DECREASING, gaps3=[0.1, 0.2, 0.3, 0.4, 0.5], noise=noise))
    assert f.verdict == R.PARTLY
    assert f.evidence["rho_2"] < -0.9 and f.evidence["rho_3"] > 0.8
    assert R.claim3(make_rows([1, 2, 3, 4, 5], gaps3=[2, 3, 4, 5, 6], noise=noise)).verdict == R.NOT_REPRODUCED
    # flat gaps within noise: no trend either way
    assert R.claim3(make_rows([1] * 5, gaps3=[1] * 5, noise=(-1, 0, 1))).verdict == R.INCONCLUSIVE
    with pytest.raises(ValueError, match="sizes"):
        R.claim3(make_rows(DECREASING[:2], params=PARAMS[:2], floats=FLOAT[:2]))


def depth_rows(gaps_by_width):
    """FFDNN rows at several widths, depths 1..4 each: ``{width: per-depth ternary gaps (pp)}``."""
    rows = []
    for i, (w, gs) in enumerate(gaps_by_width.items()):
        for d, r in zip((1, 2, 3, 4), range(4)):
            part = make_rows([gs[r]], gaps3=[gs[r]], noise=(-0.1, 0, 0.1), params=[PARAMS[d] + i],
                             floats=[FLOAT[d]])
            rows += [{**x, "width": w, "depth": d} for x in part]
    return rows


def test_claim3_judges_depth_within_each_width():
    """Width must not decide a depth verdict: each width's gaps are ranked by depth alone."""
    f = R.claim3(depth_rows({32: [1.19, 1.53, 1.67, 1.70], 128: [0.75, 0.6, 0.5, 0.41], 512: [0.62, 0.5, 0.4, 0.32]}))
    assert f.evidence["by"] == "depth"
    by_width = {(c["width"], c["bits"]): c["outcome"] for c in f.evidence["cells"]}
    assert by_width[(32, 2)] == "increasing" and by_width[(128, 2)] == "decreasing"
    assert f.verdict == R.PARTLY


def guidance_rows(gaps2, floats):
    return make_rows(gaps2, gaps3=[g / 2 for g in gaps2], noise=(-0.1, 0, 0.1), floats=floats)


def test_claim4_depends_on_how_often_the_ecr_picks_the_best():
    # validation errors equal test errors in these rows: the ECR's pick is the measured best everywhere
    f = R.claim4(guidance_rows([10, 3, 0.5, 0.2, 0.2], [0.30, 0.20, 0.150, 0.149, 0.148]))
    assert f.evidence["ecr_share"] == pytest.approx(1.0)
    assert f.verdict == R.REPRODUCED
    assert f.evidence["naive_share"] < 1.0  # the naive ratio takes the biggest ternary network
    # validation that misleads the ECR (the reverse ranking of the test set): not reproduced
    rows = [{**r, "val_error": 1.0 - r["test_error"]} for r in guidance_rows([10, 3, 0.5, 0.2, 0.2],
                                                                          [0.30, 0.20, 0.150, 0.149, 0.148])]
    assert R.claim4(rows).verdict == R.NOT_REPRODUCED


def test_bad_rows_raise_clear_errors():
    with pytest.raises(ValueError, match="empty"):
        R.claim1([])
    rows = make_rows(DECREASING)
    with pytest.raises(ValueError, match="seed"):
        R.claim1([{k: v for k, v in r.items() if k != "seed"} for r in rows])
    with pytest.raises(ValueError, match="2-bit"):
        R.claim1([r for r in rows if r["bits"] != 2])
    with pytest.raises(ValueError, match="verdict"):
        R.Finding(1, "sort of", {}, "", "")


def test_assess_and_overall():
    rows = {"ffdnn-width": make_rows(DECREASING, noise=(-0.1, 0, 0.1)),
            "cnn-maps": make_rows([3, 3, 3, 3, 3], noise=(-0.1, 0, 0.1))}
    findings = R.assess(rows)
    assert [(f.claim, f.sweep) for f in findings] == [
        (1, "ffdnn-width"), (1, "cnn-maps"), (2, "ffdnn-width"), (2, "cnn-maps"),
        (3, "ffdnn-width"), (3, "cnn-maps"), (4, "ffdnn-width"), (4, "cnn-maps")]
    assert R.overall(findings, 2) == R.PARTLY
    assert R.overall(findings, 1) == R.REPRODUCED
    fake = [R.Finding(1, v, {}, "", "") for v in (R.NOT_REPRODUCED, R.INCONCLUSIVE)]
    assert R.overall(fake, 1) == R.NOT_REPRODUCED
    assert R.overall(fake[1:], 1) == R.INCONCLUSIVE
    table = R.claim_table(findings)
    assert set(table[0]) == {"claim", "title", "sweep", "evidence", "decided by", "verdict"}
    assert [c.number for c in R.CLAIMS] == [1, 2, 3, 4, 5]
    exported = R.finding_rows(findings)  # the verdicts CSV: one row per finding, its evidence's scalars
    assert [(r["claim"], r["sweep"], r["verdict"]) for r in exported] == [(f.claim, f.sweep, f.verdict)
                                                                          for f in findings]
    assert exported[0]["small_gap"] == findings[0].evidence["small_gap"]
    assert all(not isinstance(v, (list, dict)) for r in exported for v in r.values())


# -- the committed reference records ----------------------------------------------------------


@pytest.fixture
def store_copy(tmp_path, monkeypatch):
    """A temporary copy of results/ that the report reads (``$QUANTLAB_RESULTS``)."""
    dst = tmp_path / "results"
    shutil.copytree(ROOT / "results", dst)
    monkeypatch.setenv("QUANTLAB_RESULTS", str(dst))
    return dst


def edit_records(root: Path, label: str, edit) -> int:
    """Applies ``edit(metrics)`` to every record of trial ``label`` in the store at ``root``,
    rewriting each as a valid record (new checksum) through the store."""
    from quantlab.experiments.store import Store

    store, n = Store(root), 0
    for path in sorted(root.glob(f"{label}-s*.json")):
        rec = json.loads(path.read_text())
        if rec["label"] != label:
            continue
        edit(rec["metrics"])
        store.put(rec["config"], rec["seed"], rec["metrics"], rec["provenance"])
        n += 1
    assert n > 0, f"no records of {label}"
    return n


def verdict(claim: int, sweep: str) -> R.Finding:
    check = {c.number: c.check for c in R.CLAIMS}[claim]
    return check(tidy(sweep))


def test_reference_records_load():
    rows = tidy("ffdnn-width")
    assert len({r["params"] for r in rows}) == 8
    assert {r["method"] for r in rows} == {"float", "direct", "retrain"}


@pytest.mark.parametrize("claim, trial, gap_pp, evidence", [
    (2, "ffdnn-w1024-d3", 5.0, "large_gap"),  # the largest network's gap made big
    (1, "ffdnn-w8-d3", 0.1, "small_gap"),  # the smallest network's gap made tiny
])
def test_verdict_flips_when_a_committed_gap_is_edited(store_copy, claim, trial, gap_pp, evidence):
    before = verdict(claim, "ffdnn-width")
    assert before.verdict in (R.REPRODUCED, R.INCONCLUSIVE), before  # claim 2 at 3 seeds: inconclusive

    def edit(m):
        m["retrain"]["2"]["test_error"] = m["float_control"]["test_error"] + gap_pp / 100

    edit_records(store_copy, trial, edit)
    after = verdict(claim, "ffdnn-width")
    assert after.evidence[evidence] == pytest.approx(gap_pp / 100)
    assert after.verdict == R.NOT_REPRODUCED, after


def test_glue_items_give_errors_and_gaps_in_pp():
    findings = R.assess({"ffdnn-width": make_rows(DECREASING, noise=(-0.1, 0, 0.1))})
    items = R.glue_items(findings)
    assert items["c1_ffdnn_width_verdict"] == R.REPRODUCED
    assert items["c1_ffdnn_width_small_params"] == "1,000"
    assert items["c1_ffdnn_width_small_gap"] == "10.00"  # evidence holds fractions, glue text pp
    assert findings[0].evidence["small_gap"] == pytest.approx(0.10)
    assert items["c1_ffdnn_width_small_float_error"] == "30.00"
    assert items["c1_overall"] == R.REPRODUCED
    assert items["threshold_VANISHED_GAP_PP"] == "0.5" and items["threshold_CONFIDENCE"] == "95%"
    assert all(isinstance(v, str) for v in items.values())


def test_charts_build_from_reference_rows():
    pytest.importorskip("altair")
    rows = tidy("cnn-maps")
    for chart in (charts.ecr_chart(rows), charts.memory_chart(rows)):
        spec = chart.to_dict()
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")


# -- verdict lines ------------------------------------------------

def test_sensitivity_covers_the_grid_and_is_monotone_in_the_margin():
    rows = {"ffdnn-width": make_rows([10, 4, 1.5, 0.6, 0.4], noise=(-0.2, 0, 0.2))}
    table = R.sensitivity(rows)
    c2 = next(t for t in table if t["claim"] == 2)
    assert len(c2) == 2 + len(R.SENSITIVITY_MARGINS_PP) * len(R.SENSITIVITY_CONFIDENCES)
    assert c2[R.sensitivity_column(1.0, 0.8)] == R.REPRODUCED  # a loose margin passes
    assert c2[R.sensitivity_column(0.25, 0.95)] != R.REPRODUCED  # a strict one does not
    shown, columns = R.sensitivity_display(table)
    assert len(columns) == 2 + len(R.SENSITIVITY_CONFIDENCES) and len(shown) == len(table)
    c2_shown = next(s for s in shown if s["claim"] == 2)["80%"].split(" ")
    assert len(c2_shown) == len(R.SENSITIVITY_MARGINS_PP) and c2_shown[-1] == R.VERDICT_MARKS[R.REPRODUCED]


def test_verdict_lines_one_per_claim():
    rows = {"ffdnn-width": make_rows(DECREASING, noise=(-0.1, 0, 0.1)),
            "cnn-maps": make_rows([3, 3, 3, 3, 3], noise=(-0.1, 0, 0.1))}
    findings = R.assess(rows)
    lines = R.verdict_lines(findings)
    assert sorted(lines) == [1, 2, 3, 4]
    assert lines[1] == f"{R.CLAIMS[0].short}: **{R.REPRODUCED}**"  # the sweeps agree: no per-sweep list
    assert lines[2].startswith(f"{R.CLAIMS[1].short}: **{R.PARTLY}** (")  # they disagree: each sweep named
    assert f"{R.SWEEP_TITLES['ffdnn-width']}: {R.REPRODUCED}" in lines[2]
    assert f"{R.SWEEP_TITLES['cnn-maps']}: {R.NOT_REPRODUCED}" in lines[2]
    assert all("\n" not in line for line in lines.values())


def test_plain_lines_give_every_claim_in_plain_words_with_its_overall_verdict():
    rows = {"ffdnn-width": make_rows(DECREASING, noise=(-0.1, 0, 0.1)),
            "cnn-maps": make_rows([3, 3, 3, 3, 3], noise=(-0.1, 0, 0.1))}
    findings = R.assess(rows)
    lines = R.plain_lines(findings)
    assert sorted(lines) == [1, 2, 3, 4]
    for claim in R.CLAIMS[:4]:
        assert lines[claim.number] == f"{claim.plain}: **{R.overall(findings, claim.number)}**"
    jargon = ("ECR", "ternary", "gap", "pp", "FFDNN", "CNN")
    assert not [w for c in R.CLAIMS for w in jargon if re.search(rf"\b{w}\b", c.plain)]


def test_findings_text_one_bullet_per_finding_with_its_verdict_and_evidence():
    findings = R.assess({"cnn-maps": make_rows([3, 3, 3, 3, 3], noise=(-0.1, 0, 0.1))})
    bullets = R.findings_text(findings).split("\n")
    assert len(bullets) == len(findings) == 4
    for bullet, f in zip(bullets, findings):
        assert bullet.startswith(f"- Claim {f.claim}, ") and f"**{f.verdict}**" in bullet and f.summary in bullet




# -- another machine's replicate ------------------------------------------------------------------

H200 = "h200-2026-12-04"


def test_verdicts_of_a_second_machine_never_contradict_the_committed_ones():
    """The same seeds on an NVIDIA H200 (JAX 0.11.2; replicates/h200-2026-12-04) give other numbers for
    small networks; the verdicts may differ only by one side being inconclusive."""
    from quantlab.analysis.rows import replicate

    ours = {(f.claim, f.sweep): f.verdict for f in R.assess({s: tidy(s) for s in R.SWEEPS})}
    theirs = {(f.claim, f.sweep): f.verdict for f in R.assess({s: replicate(s, H200) for s in R.SWEEPS})}
    assert set(ours) == set(theirs)
    for key, verdict in ours.items():
        assert R.INCONCLUSIVE in (verdict, theirs[key]) or verdict == theirs[key], (key, verdict, theirs[key])


def test_missing_replicate_is_named():
    from quantlab.analysis.rows import replicate

    with pytest.raises(FileNotFoundError, match="no replicate store"):
        replicate("ffdnn-width", "no-such-machine")


def test_budget_checks_read_claim_2_at_the_longest_budget():
    """On the committed records: the width and depth sweeps' largest networks are in the FFDNN budget study;
    a study whose longest budget has a large gap there turns the check against the sweep's verdict."""
    from quantlab.experiments.spec import load_spec

    findings = R.assess({s: tidy(s) for s in ("ffdnn-width", "ffdnn-depth")})
    used = {s: load_spec(s).retrain.epochs for s in ("ffdnn-width", "ffdnn-depth")}
    study = tidy("budget-ffdnn")
    checks = R.budget_checks(findings, study, used)
    assert [(c["sweep"], c["network"]) for c in checks] == [("ffdnn-width", "ffdnn-w1024-d3"),
                                                           ("ffdnn-depth", "ffdnn-w512-d4")]
    for c in checks:
        assert c["used"] == 4 and c["epochs"] == sorted(c["epochs"]) and c["longest"] == c["epochs"][-1]
        assert c["verdict"] == next(f.verdict for f in findings if f.claim == 2 and f.sweep == c["sweep"])
    longest = max(r["retrain_epochs"] for r in study)
    worse = [dict(r, test_error=r["test_error"] + 0.05) if (r["trial"], r["method"], r["retrain_epochs"]) ==
             ("ffdnn-w1024-d3", "retrain", longest) else r for r in study]
    changed = R.budget_checks(findings, worse, used)[0]
    assert changed["verdict"] == R.REPRODUCED and changed["at_longest"] == R.NOT_REPRODUCED and not changed["holds"]
    assert "changes the verdict of ffdnn-w1024-d3" in R.budget_check_text([changed])
    rows, columns = R.budget_check_display(checks)
    assert set(rows[0]) == set(columns) and "16: " in rows[0]["gaps"]


def test_budget_check_text_tells_still_moving_late_and_converged_apart():
    moving = {"network": "a", "converged": None, "used": 4, "holds": True}
    late = {"network": "b", "converged": 8, "used": 4, "holds": True}
    early = {"network": "c", "converged": 2, "used": 4, "holds": True}
    changed = {"network": "d", "converged": None, "used": 3, "holds": False, "sweep": "cnn-maps",
               "verdict": R.NOT_REPRODUCED, "at_longest": R.REPRODUCED, "longest": 9}
    assert R.budget_check_text([early]).startswith("Every claim-2 network's gap has converged")
    text = R.budget_check_text([moving, late, early])
    assert "The gap of a still moves" in text and "b (from 8 epochs; its sweep retrains for 4)" in text
    assert " c " not in text and text.endswith("Longer retraining changes no claim-2 verdict.")
    assert "changes the verdict of d (CNN feature maps: not reproduced at 3 epochs, reproduced at 9)" in (
        R.budget_check_text([changed]))
