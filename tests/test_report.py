"""quantlab.analysis.report: computed verdicts for the paper's claims, on synthetic rows and on the committed
reference records (edited in a temporary copy of the store, the verdicts must flip)."""

from __future__ import annotations

import json
import math
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
    # smaller with the fewest examples, but 10,000 examples need a larger network than all of them
    ({1000: [3.0, 0.3, 0.2, 0.1, 0.0], 10000: [6.0, 4.0, 3.0, 2.0, 1.0], None: DECREASING}, R.PARTLY),
    # the same vanishing size, but a clearly smaller gap at the smallest network with less data
    ({1000: [5.0, 3.0, 1.0, 0.2, 0.1], None: DECREASING}, R.PARTLY),
    # less data changes nothing
    ({1000: DECREASING, None: DECREASING}, R.NOT_REPRODUCED),
    # less data makes it worse: the gap never vanishes
    ({1000: [12.0, 8.0, 5.0, 3.0, 2.0], None: DECREASING}, R.NOT_REPRODUCED),
])
def test_claim5_verdicts(gaps, verdict):
    finding = R.claim5(data_rows(gaps))
    assert finding.verdict == verdict, finding.reason
    assert finding.evidence["subsets"] == [n for n in gaps if n is not None] + [None]


def test_claim5_needs_two_training_set_sizes():
    with pytest.raises(ValueError, match="at least two training-set sizes"):
        R.claim5(data_rows({None: DECREASING}))
    rows = data_rows({1000: [3.0, 0.3, 0.2, 0.1, 0.0], None: DECREASING})
    assert R.vanishing_size([r for r in rows if r["train_subset"] is None])["params"] == PARAMS[3]
    assert R.vanishing_size(make_rows([5.0] * 5)) is None
    assert R.gap_vanished(0.005, None) and not R.gap_vanished(0.006, None)
    assert R.gap_vanished(0.006, 0.001)  # within 0.5 pp + 2 SE


def test_claim1_verdicts():
    assert R.claim1(make_rows(DECREASING, noise=(-0.5, 0, 0.5))).verdict == R.REPRODUCED
    # a big gap buried in seed noise: partly
    noisy = R.claim1(make_rows([3.0, 1, 1, 1, 1], noise=(-9.0, 0, 9.0)))
    assert noisy.verdict == R.PARTLY and not noisy.evidence["beyond_noise"]
    # a tiny gap, however consistent: not reproduced
    tiny = R.claim1(make_rows([0.3, 0.2, 0.1, 0.1, 0.1], noise=(0.01, 0, -0.01)))
    assert tiny.verdict == R.NOT_REPRODUCED
    assert tiny.evidence["small_gap"] == pytest.approx(0.003)  # a fraction: 0.3 pp
    # one seed: no noise estimate, at most partly
    assert R.claim1(make_rows(DECREASING, noise=(0.0,))).verdict == R.PARTLY


def test_claim2_verdicts():
    assert R.claim2(make_rows(DECREASING)).verdict == R.REPRODUCED
    # a large-network gap of 0.8 pp with 3 seeds of spread 0.5: within 0.5 pp + 2 SE
    f = R.claim2(make_rows([10, 4, 2, 1, 0.8], noise=(-0.5, 0, 0.5)))
    assert f.verdict == R.REPRODUCED and f.evidence["vanished_limit"] == pytest.approx((0.5 + 2 * 0.5 / math.sqrt(3)) / 100)
    # shrunk by more than 10x but not gone: partly
    assert R.claim2(make_rows([20, 10, 5, 3, 1.5])).verdict == R.PARTLY
    # not shrunk: not reproduced
    f = R.claim2(make_rows([3, 3, 3, 3, 3]))
    assert f.verdict == R.NOT_REPRODUCED and f.evidence["shrink_ratio"] == pytest.approx(1.0)


def test_claim3_verdicts():
    assert R.claim3(make_rows(DECREASING)).verdict == R.REPRODUCED
    f = R.claim3(make_rows(DECREASING, gaps3=[0.1, 0.2, 0.3, 0.4, 0.5]))
    assert f.verdict == R.PARTLY
    assert f.evidence["rho_2"] == pytest.approx(-1.0) and f.evidence["rho_3"] == pytest.approx(1.0)
    assert R.claim3(make_rows([1, 2, 3, 4, 5], gaps3=[1, 1, 1, 1, 1])).verdict == R.NOT_REPRODUCED  # rho_3 NaN
    with pytest.raises(ValueError, match="sizes"):
        R.claim3(make_rows(DECREASING[:2], params=PARAMS[:2], floats=FLOAT[:2]))


def test_claim4_verdicts():
    # float curve flat at the top: the big ternary network is matched by a much smaller float one
    floats = [0.30, 0.20, 0.150, 0.149, 0.148]
    f = R.claim4(make_rows([10, 3, 0.5, 0.2, 0.2], params=PARAMS, floats=floats))
    assert f.evidence["ecr_relation"] == "=" and f.evidence["ecr"] <= 8
    assert f.evidence["budget_share"] > 0.5
    assert f.verdict == R.REPRODUCED
    # quantized networks useless: ECR is an upper bound far below naive, but float wins every budget
    bad = R.claim4(make_rows([60, 60, 60, 60, 60], gaps3=[60] * 5))
    assert bad.evidence["budget_share"] == 0.0
    assert bad.verdict == R.PARTLY
    # quantized networks better than every float one: ECR only a lower bound, and they win
    great = R.claim4(make_rows([-5.0] * 5, gaps3=[-5.0] * 5))
    assert great.evidence["ecr_relation"] == ">=" and not great.evidence["ecr_well_below"]
    assert great.verdict == R.PARTLY


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
    rows = {"ffdnn-width": make_rows(DECREASING, noise=(-0.1, 0, 0.1)), "cnn-maps": make_rows([3, 3, 3, 3, 3])}
    findings = R.assess(rows)
    assert [(f.claim, f.sweep) for f in findings] == [
        (1, "ffdnn-width"), (1, "cnn-maps"), (2, "ffdnn-width"), (2, "cnn-maps"),
        (3, "ffdnn-width"), (3, "cnn-maps"), (4, "ffdnn-width"), (4, "cnn-maps")]
    assert R.overall(findings, 2) == R.PARTLY
    assert R.overall(findings, 1) == R.REPRODUCED
    table = R.claim_table(findings)
    assert set(table[0]) == {"claim", "title", "sweep", "evidence", "decided by", "verdict"}
    assert [c.number for c in R.CLAIMS] == [1, 2, 3, 4, 5]


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
    assert before.verdict == R.REPRODUCED, before

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
    assert items["threshold_SPEARMAN_MAX"] == "-0.7"
    assert all(isinstance(v, str) for v in items.values())


def test_charts_build_from_reference_rows():
    pytest.importorskip("altair")
    rows = tidy("cnn-maps")
    for chart in (charts.ecr_chart(rows), charts.memory_chart(rows)):
        spec = chart.to_dict()
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")


# -- verdict lines ------------------------------------------------

def test_verdict_lines_one_per_claim():
    rows = {"ffdnn-width": make_rows(DECREASING, noise=(-0.1, 0, 0.1)), "cnn-maps": make_rows([3, 3, 3, 3, 3])}
    findings = R.assess(rows)
    lines = R.verdict_lines(findings)
    assert sorted(lines) == [1, 2, 3, 4]
    assert lines[1] == f"{R.CLAIMS[0].short}: **{R.REPRODUCED}**"  # the sweeps agree: no per-sweep list
    assert lines[2].startswith(f"{R.CLAIMS[1].short}: **{R.PARTLY}** (")  # they disagree: each sweep named
    assert f"{R.SWEEP_TITLES['ffdnn-width']}: {R.REPRODUCED}" in lines[2]
    assert f"{R.SWEEP_TITLES['cnn-maps']}: {R.NOT_REPRODUCED}" in lines[2]
    assert all("\n" not in line for line in lines.values())


