"""quantlab.analysis.anomalies on synthetic rows and records: each check finds what it should, and only that."""

import math

import pytest

import fakes
from quantlab.analysis import anomalies
from quantlab.analysis import rows as rowmod


def record(vals, losses, direct_val=0.5, train_errors=None):
    history = [{"epoch": i + 1, "val_error": v, "train_loss": loss} for i, (v, loss) in enumerate(zip(vals, losses))]
    for h, e in zip(history, train_errors or []):
        h["train_error"] = e
    return {"metrics": {"float": {"val_error": 0.12, "history": [{"epoch": 1, "val_error": 0.12, "train_loss": 0.3}]},
                        "direct": {"2": {"val_error": direct_val}},
                        "retrain": {"2": {"val_error": min(vals), "history": history}}}}


def test_validation_jumps_need_a_flat_loss():
    jumpy = rowmod.curve_rows(record([0.16, 0.22, 0.15], [0.356, 0.345, 0.355])["metrics"], trial="net", seed=1)
    cases = anomalies.validation_jumps(jumpy)
    assert [(j["trial"], j["seed"], j["bits"], j["epoch"]) for j in cases] == [("net", 1, 2, 2), ("net", 1, 2, 3)]
    assert cases[0]["val_change"] == pytest.approx(0.06) and cases[0]["loss_change"] == pytest.approx(-0.011 / 0.356)
    text = anomalies.explain(cases, "jumps")
    assert ("In 2 the training error did not move with it (net seed 1 epoch 2: validation +6.0, "
            "training not recorded;") in text
    assert text.endswith("a sign that the evaluated network is not the trained one.")
    assert cases[0]["train_change"] is None and len(anomalies.unconfirmed_jumps(cases)) == 2
    learning = rowmod.curve_rows(record([0.30, 0.20], [1.0, 0.6])["metrics"])  # a move with the loss: learning
    assert anomalies.validation_jumps(learning) == []
    assert anomalies.retrained_worse_than_direct(record([0.2], [1.0], direct_val=0.1)) == [2]
    assert anomalies.retrained_worse_than_direct(record([0.2], [1.0], direct_val=0.3)) == []


def rows(errors, control=None):
    """Tidy rows of one network: ``errors`` maps (method, bits) to per-seed test errors."""
    return fakes.rows(errors, control=control, spec="s", trial="net")


@pytest.mark.parametrize("three, flagged", [
    ([0.140, 0.141, 0.139], False),   # better than ternary
    ([0.152, 0.153, 0.151], False),   # 0.2 pp worse: below REVIEW_PP
    ([0.160, 0.161, 0.159], True),    # 1 pp worse, tight seeds
    ([0.120, 0.200, 0.130], False),   # 0.67 pp worse on average but within 2 SE of the seeds' spread
])
def test_more_bits_worse_is_judged_against_seed_noise(three, flagged):
    r = rows({("retrain", 2): [0.150, 0.151, 0.149], ("retrain", 3): three})
    cases = anomalies.more_bits_worse(r)
    assert bool(cases) == flagged
    if flagged:
        assert cases[0]["diff"] == pytest.approx(0.01) and (cases[0]["low_bits"], cases[0]["high_bits"]) == (2, 3)
        assert "net: 3-bit +1.00 pp against 2-bit" in anomalies.explain(cases, "more_bits")


@pytest.mark.parametrize("eight, flagged", [
    ([0.140, 0.141, 0.139], False),   # better than 4-bit signals
    ([0.160, 0.161, 0.159], True),    # 1 pp worse, tight seeds
    ([0.120, 0.200, 0.130], False),   # worse on average, within the seeds' spread
])
def test_more_signal_bits_worse_pairs_signal_widths_of_one_weight_width(eight, flagged):
    four = [0.150, 0.151, 0.149]
    by_width = {4: {("retrain", 2): four, ("retrain", 3): four}, 8: {("retrain", 2): eight, ("retrain", 3): four},
                None: {("retrain", 2): [0.14] * 3, ("retrain", 3): [0.15] * 3}}
    r = [{**row, "signal_bits": sb} for sb, errors in by_width.items() for row in rows(errors)]
    cases = anomalies.more_signal_bits_worse(r)
    # 8-bit signals worse than 4-bit at ternary weights; float signals never worse than 8-bit here
    assert [(c["bits"], c["low_signals"], c["high_signals"]) for c in cases] == ([(2, 4, 8)] if flagged else [])
    if flagged:
        assert "net 2-bit weights: 8-bit signals +1.00 pp against 4-bit" in anomalies.explain(cases, "more_signal_bits")


def test_quantized_beats_float_reports_the_control():
    r = rows({("float", 32): [0.15, 0.15, 0.15], ("retrain", 3): [0.14, 0.14, 0.14]}, control=[0.139, 0.14, 0.141])
    (case,) = anomalies.quantized_beats_float(r)
    assert case["below_float"] == pytest.approx(0.01)
    assert case["below_control"] == pytest.approx(0.0, abs=1e-11)
    assert case["control_gain"] == pytest.approx(0.01)
    assert "float control" in anomalies.explain([case], "beats_float")
    assert anomalies.quantized_beats_float(rows({("float", 32): [0.15] * 3, ("retrain", 3): [0.149] * 3})) == []
    assert "No retrained" in anomalies.explain([], "beats_float")
    with pytest.raises(ValueError, match="kind must be"):
        anomalies.explain([], "other")
    assert math.isnan(anomalies.quantized_beats_float(
        rows({("float", 32): [0.15] * 3, ("retrain", 2): [0.14] * 3}))[0]["below_control"])


def test_a_jump_whose_network_also_moved_on_the_training_set_is_not_flagged():
    """The training loss is the end-of-epoch network's (the one whose validation error is measured):
    a jump it shares is the network changing, not the evaluation disagreeing with the training."""
    volatile = rowmod.curve_rows(record([0.41, 0.57, 0.49], [1.02, 1.38, 1.19])["metrics"], trial="n")
    assert anomalies.validation_jumps(volatile) == []
    move = anomalies.largest_move(volatile)
    assert move["epoch"] == 2 and move["val_change"] == pytest.approx(0.16)
    assert move["loss_change"] == pytest.approx(0.36 / 1.02)
    assert anomalies.explain([], "jumps").startswith("No retraining")


@pytest.mark.parametrize("train_errors, unconfirmed", [
    ([0.15, 0.21, 0.145], 0),   # the training error moves with the validation error: the network changed
    ([0.15, 0.16, 0.15], 2),    # a third of the move only
    ([0.15, 0.12, 0.18], 2),    # the other way
])
def test_a_jump_is_confirmed_only_by_a_training_error_that_moves_with_it(train_errors, unconfirmed):
    jumpy = rowmod.curve_rows(record([0.16, 0.22, 0.15], [0.356, 0.345, 0.355], train_errors=train_errors)["metrics"],
                              trial="net", seed=1)
    cases = anomalies.validation_jumps(jumpy)
    assert cases[0]["train_change"] == pytest.approx(train_errors[1] - train_errors[0])
    assert len(anomalies.unconfirmed_jumps(cases)) == unconfirmed
    text = anomalies.explain(cases, "jumps")
    if unconfirmed:
        assert "In 2 the training error did not move with it (net seed 1 epoch 2: validation +6.0, training " in text
    else:
        assert "In every one the same network's training error moved the same way, by 6.25 points on average " \
               "against 6.50 on validation" in text
