"""quantlab.analysis.rows: tidy rows, seed summaries and provenance, on small synthetic records in a
temporary store (synthetic numbers are for these unit tests only; the book reads results/)."""

from __future__ import annotations

import csv
import dataclasses
import math
import statistics
import subprocess
import sys

import numpy as np
import pytest

import fakes
from quantlab.analysis import rows as rowmod
from quantlab.experiments import sweep
from quantlab.experiments.environment import collect as collect_environment
from quantlab.experiments.spec import spec_from_dict
from quantlab.experiments.store import Store
from quantlab.numerics.compression import memory_bits

SEEDS = (0, 1, 2)


def make_spec(widths=(8, 64), seeds=SEEDS, family="ffdnn"):
    data = {"dataset": "fashion_mnist", "family": family, "bits": [2, 3], "seeds": list(seeds),
            "float_train": {"epochs": 1}, "retrain": {"epochs": 1}}
    if family == "ffdnn":
        data.update(widths=list(widths), depths=[2])
    else:
        data.update(feature_maps=[[2, 2, 4], [8, 8, 16]])
    return spec_from_dict(data, name="synthetic")


def fake_metrics(config, seed):
    """Deterministic synthetic metrics: errors fall with size; the gap falls with size too."""
    width = config.size[0]
    base = 0.10 + 1.0 / width + 0.001 * seed

    def stage(extra, **more):
        return fakes.stage(base + extra, base + extra + 0.002, **more)

    history = [{"epoch": 1, "train_loss": 0.5, "val_error": base + 0.002}]
    return fakes.metrics(1000 * width + 10, 1000 * width, stage(0.0, best_epoch=1, history=history),
                         direct={2: stage(0.5 / width + 0.01 * seed), 3: stage(0.2 / width)},
                         retrain={2: stage(0.1 / width + 0.002 * seed), 3: stage(0.05 / width)})


def fill(store, spec, seeds=None, device=None, commit="a" * 40, wall=10.0, date="2026-01-02T03:04:05+00:00"):
    for config in spec.trials():
        chosen = list(seeds if seeds is not None else spec.seeds)
        prov = {**collect_environment(wall, chosen), "device": device, "git": {"commit": commit, "dirty": False},
                "date": date}
        for s in chosen:
            store.put(config, s, fake_metrics(config, s), prov)


@pytest.fixture()
def spec():
    return make_spec()


@pytest.fixture()
def store(tmp_path, spec):
    st = Store(tmp_path / "results")
    fill(st, spec, device={"platform": "gpu", "kind": "Test GPU 80GB", "count": 1})
    return st


def test_tidy_rows_one_per_trial_seed_method_bits(spec, store):
    rows = rowmod.tidy(spec, store, allow_missing=True)
    assert len(rows) == 2 * len(SEEDS) * 5  # float + direct/retrain x 2 bit widths
    first = rows[0]
    assert first["family"] == "ffdnn" and first["dataset"] == "fashion_mnist"
    assert first["size"] == (8, 2) and first["width"] == 8 and first["depth"] == 2 and first["maps"] is None
    assert first["trial"] == "ffdnn-w8-d2" and first["size_label"] == "8x2"
    assert (first["method"], first["bits"], first["seed"]) == ("float", 32, 0)
    assert [(r["method"], r["bits"]) for r in rows[:5]] == [
        ("float", 32), ("direct", 2), ("retrain", 2), ("direct", 3), ("retrain", 3)]
    m = fake_metrics(spec.trials()[0], 0)
    by = {(r["method"], r["bits"]): r for r in rows[:5]}
    assert by[("retrain", 2)]["test_error"] == pytest.approx(m["retrain"]["2"]["test_error"])
    assert by[("direct", 3)]["val_error"] == pytest.approx(m["direct"]["3"]["val_error"])
    assert all(0 <= r["test_error"] <= 1 for r in rows)


def test_weight_bits_counts_quantized_kernels_at_b_bits_and_biases_at_32(spec, store):
    rows = rowmod.tidy(spec, store, allow_missing=True)
    for r in rows:
        biases = r["params"] - r["weights"]
        expect = r["params"] * 32 if r["method"] == "float" else r["weights"] * r["bits"] + biases * 32
        assert r["weight_bits"] == expect
    assert memory_bits(100, 90, 2) == 90 * 2 + 10 * 32
    assert memory_bits(100, 90, 32) == 3200


def test_cnn_rows_carry_the_maps_label(tmp_path):
    spec = make_spec(family="cnn")
    st = Store(tmp_path / "r")
    fill(st, spec)
    rows = rowmod.tidy(spec, st, allow_missing=True)
    assert {r["maps"] for r in rows} == {"2-2-4", "8-8-16"}
    assert all(r["width"] is None and r["depth"] is None for r in rows)
    assert rows[0]["size"] == (2, 2, 4) and rows[0]["size_label"] == "2-2-4"


def test_tidy_without_ensure_leaves_out_missing_records(tmp_path, spec):
    st = Store(tmp_path / "r")
    fill(st, spec, seeds=[0, 1])
    rows = rowmod.tidy(spec, st, allow_missing=True)
    assert {r["seed"] for r in rows} == {0, 1}


def test_tidy_with_everything_present_trains_nothing_and_prints_nothing(spec, store, monkeypatch, capsys):
    import quantlab.training.experiment

    def boom(*a, **k):
        raise AssertionError("run_trial must not be called when every record exists")

    monkeypatch.setattr(quantlab.training.experiment, "run_trial", boom)
    rows = rowmod.tidy(spec, store)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert len(rows) == 30


def test_tidy_with_missing_records_names_the_command_and_ensure_runs_only_those(tmp_path, spec, monkeypatch):
    import quantlab.training.experiment

    st = Store(tmp_path / "r")
    fill(st, spec, seeds=[0])
    calls = []

    def fake_run_trial(config, seeds, progress=None):
        calls.append((config.size, list(seeds)))
        return [fake_metrics(config, s) for s in seeds]

    monkeypatch.setattr(quantlab.training.experiment, "run_trial", fake_run_trial)
    with pytest.raises(rowmod.MissingRecordsError, match=r"4 records.*python -m quantlab sweep"):
        rowmod.tidy(spec, st)  # reading never trains
    assert calls == []
    with pytest.raises(rowmod.MissingRecordsError,
                       match=r"4 records missing.*python -m quantlab sweep.*QUANTLAB_TRAIN=1"):
        sweep.ensure(spec, st)  # a chapter never trains unasked
    assert calls == []
    assert sweep.ensure(spec, st, progress=False, train=True) == 4
    assert calls == [((8, 2), [1, 2]), ((64, 2), [1, 2])]
    assert len(rowmod.tidy(spec, st)) == 30
    assert sweep.ensure(spec, st) == 0


def test_summary_means_stds_and_gaps(spec, store):
    rows = rowmod.tidy(spec, store, allow_missing=True)
    summ = rowmod.summarise(rows)
    assert len(summ) == 2 * 5
    config = spec.trials()[0]
    floats = [fake_metrics(config, s)["float"]["test_error"] for s in SEEDS]
    terns = [fake_metrics(config, s)["retrain"]["2"]["test_error"] for s in SEEDS]
    f = next(r for r in summ if r.trial == "ffdnn-w8-d2" and r.method == "float")
    t = next(r for r in summ if r.trial == "ffdnn-w8-d2" and r.method == "retrain" and r.bits == 2)
    assert f.seeds == 3 and f.seed_list == [0, 1, 2] and not hasattr(f, "seed")
    assert f.test_error == pytest.approx(statistics.fmean(floats))
    assert f.test_error_std == pytest.approx(statistics.stdev(floats))
    assert f.gap("float") is None and f.baseline_error("float") is None
    assert t.gap("float").mean == pytest.approx(statistics.fmean(terns) - statistics.fmean(floats))
    assert t.baseline_error("float") == pytest.approx(statistics.fmean(floats))
    assert t.gap("float").std == pytest.approx(statistics.stdev([a - b for a, b in zip(terns, floats)]))
    assert t.gap("float").by_seed == pytest.approx({s: a - b for s, a, b in zip(SEEDS, terns, floats)})
    assert t.weight_bits == t.weights * 2 + (t.params - t.weights) * 32
    with pytest.raises(ValueError, match="baseline must be one of"):
        t.gap("best")


def test_summary_single_seed_has_no_std():
    record = {"config": {"family": "ffdnn", "size": [8, 2], "dataset": "fashion_mnist", "bits": [2]},
              "label": "ffdnn-w8-d2", "seed": 5,
              "metrics": {"params": 10, "weights": 8, "float": {"test_error": 0.2, "val_error": 0.2},
                          "direct": {"2": {"test_error": 0.5, "val_error": 0.5}},
                          "retrain": {"2": {"test_error": 0.25, "val_error": 0.26}}}}
    summ = rowmod.summarise(rowmod.record_rows(record))
    t = next(r for r in summ if r.method == "retrain")
    assert t.test_error_std is None and t.gap("float").std is None and t.gap("float").se is None
    assert t.gap("float").mean == pytest.approx(0.05)
    assert t.gap("control") is None and t.baseline_error("control") is None  # the record has no float control


def test_pick_smallest_and_largest(spec, store):
    summ = rowmod.summarise(rowmod.tidy(spec, store, allow_missing=True))
    small = rowmod.pick(summ, "retrain", 2, "smallest")
    large = rowmod.pick(summ, "retrain", 2, "largest")
    assert small.width == 8 and large.width == 64
    assert small.gap("float").mean > large.gap("float").mean > 0
    assert rowmod.pick(summ, "float", 32, "largest", width=8).width == 8
    with pytest.raises(LookupError):
        rowmod.pick(summ, "retrain", 4)
    with pytest.raises(ValueError):
        rowmod.pick(summ, "retrain", 2, "middle")


def test_provenance_groups_by_environment_and_counts_each_trial_run_once(tmp_path, spec):
    st = Store(tmp_path / "r")
    fill(st, spec, seeds=[0, 1], device={"platform": "gpu", "kind": "Test GPU 80GB", "count": 1},
         commit="b" * 40, wall=30.0, date="2026-01-01T00:00:00+00:00")
    fill(st, spec, seeds=[2], device={"platform": "cpu", "kind": "cpu", "count": 1},
         commit="c" * 40, wall=100.0, date="2026-01-03T00:00:00+00:00")
    prov = rowmod.provenance_summary(spec, st)
    assert len(prov) == 2
    gpu = next(p for p in prov if p["device"] == "Test GPU 80GB")
    cpu = next(p for p in prov if p["device"].startswith("CPU"))
    assert gpu["records"] == 4 and gpu["seeds"] == [0, 1] and gpu["trials"] == ["ffdnn-w8-d2", "ffdnn-w64-d2"]
    assert gpu["wall_seconds"] == pytest.approx(60.0)  # 2 trials x 30 s, not x 2 seeds
    assert cpu["records"] == 2 and cpu["wall_seconds"] == pytest.approx(200.0)
    assert gpu["git_commit"] == "b" * 40 and gpu["git_dirty"] is False
    assert gpu["first_date"].startswith("2026-01-01")
    for p in prov:
        assert p["expected"] == 6 and p["spec_seeds"] == [0, 1, 2] and p["bits"] == [2, 3]
        assert p["float_train"]["epochs"] == 1 and p["retrain"]["epochs"] == 1
        assert p["dataset"] == "fashion_mnist"
        assert set(p["packages"]) >= {"jax", "flax", "optax", "numpy"}
    note = rowmod.provenance_note(spec, st)
    assert "Test GPU 80GB" in note and "bbbbbbb" in note and "ccccccc" in note
    assert "4 of 6 records" in note and "2 of 6 records" in note
    assert "Fashion-MNIST" in note and "seeds 0, 1, 2" in note


def test_provenance_of_an_empty_store(tmp_path, spec):
    st = Store(tmp_path / "empty")
    assert rowmod.provenance_summary(spec, st) == []
    assert "No records yet" in rowmod.provenance_note(spec, st)


def test_describe_names_the_substitute():
    assert rowmod.describe("ffdnn-width") == "Fashion-MNIST (a stand-in for the paper's data)"
    assert rowmod.describe("cnn-maps") == "Fashion-MNIST (a stand-in for the paper's data)"
    assert rowmod.dataset_name("cifar10") == "CIFAR-10"


def test_shipped_reference_results_are_complete():
    """The committed records cover every shipped sweep spec (the book trains nothing)."""
    for name in ("ffdnn-width", "ffdnn-depth", "cnn-maps"):
        rows = rowmod.tidy(name, allow_missing=True)
        spec = rowmod._spec(name)
        assert len({(r["trial"], r["seed"]) for r in rows}) == len(spec.trials()) * len(spec.seeds)
        assert all(math.isfinite(r["test_error"]) for r in rows)


def test_importing_results_does_not_import_altair():
    code = "import sys, quantlab.analysis.rows; assert 'altair' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_summary_gap_standard_error(spec, store):
    rows = rowmod.tidy(spec, store, allow_missing=True)
    for s in rowmod.summarise(rows):
        if s.method == "float":
            assert s.gap("float") is None
        else:
            assert s.gap("float").se == pytest.approx(s.gap("float").std / math.sqrt(s.seeds))
    one = rowmod.summarise([r for r in rows if r["seed"] == 0])
    assert all(s.gap("float").se is None for s in one if s.method != "float")


def test_budget_text():
    from quantlab.training.train import TrainConfig

    text = rowmod.budget_text(TrainConfig(epochs=3))
    assert text.startswith("3 epochs of ") and "peak learning rate" in text and "batch" in text
    assert "TrainConfig" not in text


def test_write_csv_round_trips_the_tidy_rows(tmp_path, spec, store):

    rows = rowmod.tidy(spec, store, allow_missing=True)
    rows[0] = {**rows[0], "note": 0.25, "history": [1, 2]}  # an extra scalar field is kept, a list is not
    path = rowmod.write_csv(rows, tmp_path / "out" / "synthetic.csv")
    assert path == tmp_path / "out" / "synthetic.csv" and not list(path.parent.glob("*.tmp"))
    with open(path, newline="") as f:
        back = list(csv.DictReader(f))
    header = list(back[0])
    assert header[: len(rowmod.CSV_FIELDS)] == list(rowmod.CSV_FIELDS)
    assert header[len(rowmod.CSV_FIELDS):] == ["note"] and "size" not in header and "history" not in header
    assert len(back) == len(rows)
    for got, want in zip(back, rows):
        text = got["test_error"]  # exact: the value itself, or the float32 it was computed as
        assert float(text) == want["test_error"] or float(np.float32(text)) == want["test_error"]
        assert int(got["params"]) == want["params"] and got["trial"] == want["trial"]
        assert got["maps"] == ""  # None is an empty cell
    assert back[0]["note"] == "0.25" and back[1]["note"] == ""
    with pytest.raises(ValueError, match="no rows"):
        rowmod.write_csv([], tmp_path / "empty.csv")


def test_csv_cells_are_exact_without_float32_noise(tmp_path):
    error = float(np.float32(1497 / 10_000))  # a test error as the records hold it: 0.14970000088214874
    rows = [{"spec": "s", "trial": "t", "seed": 0, "method": "direct", "bits": 2, "test_error": error,
             "weight_error": 0.2062467860122745, "params": 10, "weights": 9}]
    with open(rowmod.write_csv(rows, tmp_path / "s.csv"), newline="") as f:
        back = next(csv.DictReader(f))
    assert back["test_error"] == "0.1497" and float(np.float32(back["test_error"])) == error
    assert back["weight_error"] == "0.2062467860122745"  # a float64: its shortest round-tripping form


def test_every_csv_column_is_explained(tmp_path):
    assert all(text.strip() for text in rowmod.CSV_COLUMNS.values())
    with open(rowmod.write_columns(tmp_path / "columns.csv"), newline="") as f:
        back = list(csv.DictReader(f))
    assert [r["column"] for r in back] == list(rowmod.CSV_COLUMNS)
    assert rowmod.CSV_FIELDS == tuple(rowmod.CSV_COLUMNS)[: len(rowmod.CSV_FIELDS)] and "stage" not in rowmod.CSV_FIELDS
    units = {r["column"]: r["meaning"] for r in back}
    assert "fraction" in units["test_error"] and "bits" in units["weight_bits"] and "count" in units["params"]


def test_store_overview_counts_records_trials_and_wall_time(tmp_path, spec):
    st = Store(tmp_path / "r")
    fill(st, spec, wall=10.0)  # 2 trials x 3 seeds, each trial's seeds trained together
    overview = rowmod.store_overview([spec], st)
    assert overview["records"] == overview["files"] == 6 and overview["trials"] == 2
    assert overview["total_seconds"] == 20.0 and overview["max_spec_seconds"] == 20.0
    assert overview["commits"] == ["aaaaaaa"] and len(overview["devices"]) == 1


def test_summary_rows_flatten_to_the_old_fields(spec, store):
    """A summary row's flat form (tables, charts, ``results --csv``) has every field but the key and the gap
    objects, and each baseline's gap fields (rows.BASELINES), equal to the row's own values."""
    summary = rowmod.summarise(rowmod.tidy(spec, store, allow_missing=True))
    own = [f.name for f in dataclasses.fields(rowmod.SummaryRow)
           if f.name not in ("key", "float_error", "float_gap", "control_error", "control_gap")]
    gap_fields = [f"{p}{suffix}" for p in ("gap", "gap_control") for suffix in ("", "_by_seed", "_std", "_se")]
    assert summary
    for r in summary:
        flat = r.as_dict()
        assert list(flat) == [*own, *gap_fields[:4], "control_error", *gap_fields[4:]]
        assert all(flat[k] == getattr(r, k) for k in own) and flat["control_error"] == r.control_error
        for baseline, prefix in rowmod.BASELINES.items():
            g = r.gap(baseline)
            assert flat[prefix] == (None if g is None else g.mean)
            assert flat[f"{prefix}_se"] == (None if g is None else g.se)
        assert r.key == rowmod.network_key(flat)
        with pytest.raises(dataclasses.FrozenInstanceError):
            r.test_error = 0.0
