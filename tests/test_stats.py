"""quantlab.analysis.stats: gap statistics, budget studies, depth trends, rank correlation, ECR tables, memory
points and budget comparisons on synthetic rows (errors and gaps as fractions; one seed has no spread)."""

from __future__ import annotations

import math

import pytest

import fakes
from quantlab import tables
from quantlab.analysis import report, stats
from test_report import DECREASING, PARAMS, make_rows


def test_budget_study_finds_where_the_gap_settles():
    rows = []
    for epochs, gap in ((1, 6.0), (2, 3.0), (4, 1.1), (8, 1.0)):
        for policy in ("fixed", "adaptive"):
            for r in make_rows([gap + (policy == "adaptive")] * 5, noise=(-0.1, 0.0, 0.1)):
                if r["params"] == PARAMS[0]:
                    rows.append({**r, "retrain_epochs": epochs, "step_policy": policy})
    study = stats.budget_study(rows)
    assert [s["step_policy"] for s in study] == ["adaptive", "fixed"]
    fixed = study[1]
    assert fixed["epochs"] == [1, 2, 4, 8]
    assert fixed["gap"] == pytest.approx([0.06, 0.03, 0.011, 0.01])
    assert fixed["change"] == pytest.approx([-0.05, -0.02, -0.001, 0.0], abs=1e-12)
    assert fixed["settled"] == 4  # 0.1 pp from the longest budget: within noise; 2 pp is not
    assert study[0]["gap"] == pytest.approx([0.07, 0.04, 0.021, 0.02])


def test_doubling_rule_converges_where_doubling_moves_the_gap_less_than_its_standard_error():
    rows = []
    # seed gaps (pp) per budget: 1 -> 2 moves by 3 pp (beyond its SE); 2 -> 4 and 4 -> 8 by less than theirs
    seed_gaps = {1: (6.0, 6.2, 5.8), 2: (3.0, 3.2, 2.8), 4: (3.1, 2.7, 3.0), 8: (2.9, 3.0, 3.1)}
    for epochs, gaps in seed_gaps.items():
        for seed, gap in enumerate(gaps):
            for r in make_rows([gap] * 5):
                if r["params"] == PARAMS[0] and r["seed"] == seed:
                    rows.append({**r, "retrain_epochs": epochs, "step_policy": "fixed"})
    (study,) = stats.budget_study(rows)
    assert [e for e, _, _ in study["doubling"]] == [1, 2, 4]
    assert study["doubling"][0][1] == pytest.approx(-0.03)
    assert study["converged"] == 2
    # the last doubling moves it beyond its standard error: not converged within the study
    late = [r if r["retrain_epochs"] != 8 else {**r, "test_error": r["test_error"] - 0.02 * (r["method"] == "retrain")}
            for r in rows]
    assert stats.budget_study(late)[0]["converged"] is None


def test_gaps_are_paired_per_seed_fractions():
    g = stats.gaps(make_rows(DECREASING, noise=(-1.0, 0.0, 1.0)), 2)
    assert [x["params"] for x in g] == PARAMS
    assert g[0]["gap"] == pytest.approx(0.10)
    assert g[0]["gap_std"] == pytest.approx(0.01)
    assert g[0]["gap_se"] == pytest.approx(0.01 / math.sqrt(3))
    assert g[0]["float_error"] == pytest.approx(0.30) and g[0]["seeds"] == 3
    assert g[0]["seed_gaps"] == pytest.approx({0: 0.09, 1: 0.10, 2: 0.11})
    one = stats.gaps(make_rows(DECREASING), 2)  # one rule: no spread over one seed
    assert stats.gaps([r for r in make_rows(DECREASING) if r["seed"] == 0], 2)[0]["gap_se"] is None
    assert [x["gap"] for x in stats.gaps(make_rows(DECREASING), 2, baseline="float")] == pytest.approx(
        [g / 100 for g in DECREASING])
    assert len(one) == len(PARAMS)


def test_spearman_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    x = [1, 2, 3, 4, 5, 6, 7]
    y = [3.0, 1.0, 2.0, 2.0, 0.5, 0.1, 0.1]
    assert stats.spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic)
    assert math.isnan(stats.spearman([1, 2, 3], [1, 1, 1]))


def test_depth_trend_per_width():
    rows = []
    for width, gaps in ((32, [1.0, 2.0, 3.0]), (512, [0.3, 0.2, 0.1])):
        for depth, g in zip((1, 2, 3), gaps):
            p = width * 100 + depth
            for seed in (0, 1):
                base = {"trial": f"w{width}-d{depth}", "params": p, "weights": p - 10, "seed": seed,
                        "width": width, "depth": depth, "control_test_error": 0.1}
                rows.append({**base, "method": "float", "bits": 32, "test_error": 0.1})
                rows.append({**base, "method": "retrain", "bits": 2, "test_error": 0.1 + g / 100})
    trend = stats.depth_trend(rows, 2)
    assert [t["width"] for t in trend] == [32, 512]
    assert trend[0]["depths"] == [1, 2, 3] and trend[0]["rho"] == pytest.approx(1.0)
    assert trend[0]["gaps"] == pytest.approx([0.01, 0.02, 0.03])
    assert trend[1]["rho"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="width"):
        stats.depth_trend(make_rows(DECREASING), 2)


# -- memory, ECR and budgets ------------------------------------------------------------------

def rows_for(nets, seeds=(0, 1)):
    """Tidy rows from {params: (weights, {method/bits: error})}."""
    out = []
    for params, (weights, errs) in nets.items():
        errors = {("float", 32) if key == "float" else (key.split("/")[0], int(key.split("/")[1])):
                  [err + 0.001 * seed for seed in seeds] for key, err in errs.items()}
        out += fakes.rows(errors, params, weights)
    return out


NETS = {
    1_000: (990, {"float": 0.30, "retrain/2": 0.50, "retrain/3": 0.40, "direct/2": 0.80}),
    4_000: (3_960, {"float": 0.20, "retrain/2": 0.26, "retrain/3": 0.22, "direct/2": 0.60}),
    16_000: (15_900, {"float": 0.15, "retrain/2": 0.16, "retrain/3": 0.15, "direct/2": 0.30}),
    64_000: (63_800, {"float": 0.12, "retrain/2": 0.121, "retrain/3": 0.119, "direct/2": 0.20}),
}


def test_network_summary_and_ecr_table():
    rows = rows_for(NETS)
    means = stats.network_summary(rows)
    assert len(means) == 4 * 4
    f = [m for m in means if m["method"] == "float"]
    assert [m["params"] for m in f] == sorted(NETS)
    assert f[0]["test_error"] == pytest.approx(0.3005) and f[0]["seeds"] == 2
    assert f[0]["weight_bits"] == 32_000
    one = stats.network_summary([r for r in rows if r["seed"] == 0])
    assert all(m["test_error_std"] is None for m in one)  # the summary's rule: no spread over one seed
    with pytest.raises(ValueError, match="not percent"):
        stats.network_summary([dict(r, test_error=30.0) for r in rows])
    table = stats.ecr_table(rows)
    assert {t["method"] for t in table} == {"retrain"} and len(table) == 8
    top3 = next(t for t in table if t["params"] == 64_000 and t["bits"] == 3)
    assert top3["relation"] == ">="  # better than every float network
    small2 = next(t for t in table if t["params"] == 1_000 and t["bits"] == 2)
    assert small2["relation"] == "<="
    with pytest.raises(ValueError, match="float"):
        stats.ecr_table([r for r in rows if r["method"] != "float"])
    with pytest.raises(ValueError, match="test_error"):
        stats.ecr_table([{k: v for k, v in r.items() if k != "test_error"} for r in rows])


def test_memory_points_mark_the_front():
    pts = stats.memory_points(rows_for(NETS))
    assert any(p["pareto"] for p in pts)
    for p in pts:
        if p["pareto"]:
            assert not any(q["weight_bits"] <= p["weight_bits"] and q["test_error"] < p["test_error"] for q in pts)


def test_budget_comparison():
    rows = rows_for(NETS)
    res = stats.budget_comparison(rows)
    assert res["lo_bits"] == 32_000  # the smallest float network
    assert res["hi_bits"] == 63_800 * 3 + 200 * 32  # the largest quantized network (below the largest float one)
    assert 0.0 <= res["share"] <= 1.0
    widths = sum(math.log2(s["hi_bits"]) - math.log2(s["lo_bits"]) for s in res["segments"])
    assert widths == pytest.approx(math.log2(res["hi_bits"] / res["lo_bits"]))
    # quantized networks uniformly much worse: float wins everywhere
    bad = [dict(r, test_error=0.99) if r["method"] == "retrain" else r for r in rows]
    assert stats.budget_comparison(bad)["share"] == 0.0
    # quantized networks uniformly perfect: they win everywhere
    good = [dict(r, test_error=0.0) if r["method"] == "retrain" else r for r in rows]
    assert stats.budget_comparison(good)["share"] == 1.0
    with pytest.raises(ValueError, match="retrain"):
        stats.budget_comparison([r for r in rows if r["method"] != "retrain"])


# -- the ends of a sweep -----------------------------------------------------------------------

def test_sweep_ends_and_their_glue_values():
    from quantlab.analysis.rows import summarise
    from quantlab.formatting import glue_ends

    ends = stats.sweep_ends(summarise(make_rows(DECREASING, noise=(-0.5, 0, 0.5))))
    small, large = ends["smallest"], ends["largest"]
    assert small["params"] == PARAMS[0] and large["params"] == PARAMS[-1]
    assert small["gap2"] == pytest.approx(0.10) and small["gap3"] == pytest.approx(0.05)
    assert small["gap2_float"] == pytest.approx(0.10) and small["float_error"] == pytest.approx(0.30)
    assert small["gap2_se"] == pytest.approx(0.005 / math.sqrt(3))
    glued = glue_ends(ends)
    assert glued["gap2_smallest"] == pytest.approx(10.0) and glued["gap2_largest"] == pytest.approx(0.2)
    assert glued["gap2_smallest_std"] == pytest.approx(0.5 / math.sqrt(3))
    assert glued["params_largest"] == PARAMS[-1] and glued["float_smallest"] == pytest.approx(30.0)
    assert "width_smallest" not in glued  # None fields are left out
    one = glue_ends(stats.sweep_ends(summarise(make_rows(DECREASING, noise=(0.0,)))))
    assert one["gap2_smallest_std"] == 0.0  # one seed: no standard error, quoted as 0


def test_depth_ends_judge_width_against_depth():
    from quantlab.analysis.rows import summarise

    def depth_rows(gaps_by_width):
        out = []
        for width, gaps_ in gaps_by_width.items():
            for depth, g in zip((1, 2, 3), gaps_):
                out += fakes.rows({("float", 32): [0.1, 0.1], ("retrain", 2): [0.1 + g / 100] * 2},
                                  width * 100 + depth, control=0.1, trial=f"w{width}-d{depth}",
                                  width=width, depth=depth)
        return out

    ends = stats.depth_ends(summarise(depth_rows({32: [1.0, 2.0, 3.0], 512: [0.3, 0.2, 0.1]})))
    assert ends["narrow"]["width"] == 32 and ends["narrow"]["grows"] and not ends["wide"]["grows"]
    assert ends["narrow"]["deep_gap"] == pytest.approx(0.03) and ends["wide"]["deep_depth"] == 3
    assert ends["width_decides"]
    assert not stats.depth_ends(summarise(depth_rows({32: [1.0, 2.0, 3.0], 512: [0.3, 0.2, 1.5]})))["width_decides"]
    extremes = stats.depth_extremes(summarise(depth_rows({32: [1.0, 2.0, 3.0], 512: [0.3, 0.2, 0.1]})), bits=(2,))
    assert [(e["width"], e["depth"], e["params"]) for e in extremes] == [(32, 1, 3201), (32, 3, 3203),
                                                                         (512, 1, 51201), (512, 3, 51203)]
    assert extremes[1]["gaps"][2].mean == pytest.approx(0.03) and extremes[1]["float_error"] == pytest.approx(0.1)
    html = tables.depth_gaps(extremes)
    assert "ternary gap" in html and "+3.00 ± 0.00" in html and "51,203" in html and "10.00%" in html


def test_negative_gaps_budget_settling_policy_differences_and_step_excess():
    rows = make_rows([-1.0, 4.0, 1.5, -0.6, 0.2])
    assert stats.negative_gaps({"a": rows, "b": rows}, bits=(2,)) == {"networks": 5, "negative": 2}
    study = [{"network": "n", "step_policy": "fixed", "epochs": [1, 2, 4], "gap": [0.05, 0.02, 0.01], "settled": 4},
             {"network": "n", "step_policy": "adaptive", "epochs": [1, 2, 4], "gap": [0.04, 0.02, 0.005], "settled": 2}]
    (m,) = stats.budget_settling(study, used=2)
    assert m["gap_used"] == 0.02 and m["gap_longest"] == 0.01 and m["longest"] == 4 and m["late"]
    assert stats.budget_settling(study, used=3) == []
    (d,) = stats.policy_differences(study)
    assert d["network"] == "n" and d["epochs"] == 4 and d["difference"] == pytest.approx(-0.005)
    curves = [{"step_excess": x} for x in (0.3, None, 0.1, 0.2, 0.4)]
    assert stats.step_excess(curves) == {"n": 4, "median": 0.3, "max": 0.4}
    with pytest.raises(ValueError, match="step_excess"):
        stats.step_excess([{"step_excess": None}])


def test_bias_share():
    rows = fakes.rows({("float", 32): [0.1]}, params=1000, weights=990) + fakes.rows({("float", 32): [0.1]}, 100, 90)
    assert stats.bias_share(rows) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="empty"):
        stats.bias_share([])


def _study_entry(network, gaps, doubling=(), control=None, quantized=None):
    control = control or [0.1] * len(gaps)
    return {"network": network, "step_policy": "fixed", "epochs": [1, 2, 4][: len(gaps)], "gap": gaps,
            "doubling": list(doubling), "control_error": control,
            "quantized_error": quantized or [c + g for c, g in zip(control, gaps)]}


def test_budget_reading_names_what_claims_1_and_2_rest_on():
    study = [_study_entry("small", [0.2, 0.1, 0.08]),
             _study_entry("middle", [0.02, 0.01, 0.015], [(1, -0.01, 0.001), (2, 0.005, 0.001)],
                          control=[0.12, 0.12, 0.11], quantized=[0.14, 0.13, 0.125]),
             _study_entry("large", [0.01, 0.005, 0.002])]
    reading = stats.budget_reading(study)
    assert reading["largest"] == "large" and reading["largest_shrinks"] and reading["smallest_widest"]
    (rise,) = reading["rising"]
    assert (rise["network"], rise["epochs"], rise["longer"]) == ("middle", 2, 4)
    assert rise["control_change"] == pytest.approx(-0.01) and rise["quantized_change"] == pytest.approx(-0.005)
    study[2]["gap"] = [0.01, 0.005, 0.3]  # the largest network's gap grows, and passes the smallest one's
    reading = stats.budget_reading(study)
    assert not reading["largest_shrinks"] and not reading["smallest_widest"]
    text = report.budget_reading_text({"s": reading})
    assert "grows somewhere" in text and "depends on the budget" in text and "float control gains more" in text
    with pytest.raises(ValueError, match="adaptive"):
        stats.budget_reading(study, policy="adaptive")
