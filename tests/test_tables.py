"""The book's tables and the selections the compression chapter reads (quantlab.tables,
quantlab.analysis.stats.ecr_highlights / front_counts, quantlab.vocabulary.weight_label), on small
hand-made rows."""

import pytest

from quantlab import tables
from quantlab.analysis import stats
from quantlab.vocabulary import weight_label


def ecr_row(trial, bits, params, ecr, relation="="):
    return {"trial": trial, "bits": bits, "params": params, "test_error": 0.1234, "float_params": 5000.0,
            "relation": relation, "weight_bits": params * bits, "ecr": ecr, "ecr_text": f"{relation}{ecr:.2f}"
            if relation != "=" else f"{ecr:.2f}"}


TABLE = [ecr_row("w8", 2, 100, 0.5, "<="), ecr_row("w64", 2, 1000, 3.0), ecr_row("w256", 2, 4000, 2.0),
         ecr_row("w1024", 2, 16000, 1.5, ">="), ecr_row("w8", 3, 100, 0.4, "<=")]


def test_weight_label():
    """The one function that names a weight bit width, in its three forms."""
    assert [weight_label(b) for b in (2, 3, 8, 32)] == ["ternary", "3-bit", "8-bit", "float"]
    assert [weight_label(b, "legend") for b in (2, 3, 32)] == ["2-bit (ternary)", "3-bit", "32-bit float"]
    assert [weight_label(b, "column") for b in (2, 3, 32)] == ["2 (ternary)", "3", "32 (float)"]
    with pytest.raises(ValueError, match="form must be one of"):
        weight_label(2, "axis")


def test_ecr_highlights_pick_by_size_and_by_interpolated_ecr():
    h = stats.ecr_highlights(TABLE, bits=2, flat=2)
    assert h["largest"]["trial"] == "w1024"
    assert h["best"]["trial"] == "w64"  # the bound ">=1.50" is not an interpolated ECR
    assert [t["trial"] for t in h["flat"]] == ["w256", "w1024"]
    assert stats.ecr_highlights(TABLE, bits=3)["best"] is None
    with pytest.raises(ValueError, match="no 4-bit network"):
        stats.ecr_highlights(TABLE, bits=4)


def test_front_counts():
    points = [{"method": "float", "bits": 32, "pareto": True}, {"method": "direct", "bits": 2, "pareto": False},
              {"method": "retrain", "bits": 2, "pareto": True}, {"method": "retrain", "bits": 3, "pareto": False},
              {"method": "retrain", "bits": 2, "pareto": True}]
    assert stats.front_counts(points) == {"networks": 3, "float": 1, "direct": 0, "retrain_2": 2, "retrain_3": 0}


def test_ecr_table_orders_by_bits_then_size_and_marks_bounds():
    html = tables.ecr(list(reversed(TABLE)))
    assert html.index(">w8<") < html.index(">w64<") < html.index(">w1024<")
    assert "≤ 5,000" in html and "≥ 5,000" in html and "≥1.50" in html and "ternary" in html and "3-bit" in html


def test_memory_front_lists_only_the_front_by_memory():
    points = [{"trial": "b", "method": "retrain", "bits": 2, "weight_bits": 8192, "test_error": 0.1, "pareto": True},
              {"trial": "a", "method": "float", "bits": 32, "weight_bits": 4096, "test_error": 0.2, "pareto": True},
              {"trial": "c", "method": "direct", "bits": 2, "weight_bits": 2048, "test_error": 0.9, "pareto": False}]
    html = tables.memory_front(points)
    assert html.index(">a<") < html.index(">b<") and ">c<" not in html and ">1.0<" in html and "float" in html
