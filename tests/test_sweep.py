"""Sweeps: run what is missing, skip what exists, survive SIGKILL, summarise; and the CLI.

Most tests inject a fake ``run_trial`` (training is not the point here); the ``slow`` test at the
end runs the shipped ``smoke`` spec on real Fashion-MNIST.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fakes
from fakes import FAKE_METRICS_SOURCE, TINY_SPEC_TOML
from quantlab.__main__ import format_summary, main, write_summary_csv
from quantlab.analysis import rows as rowmod
from quantlab.experiments import sweep
from quantlab.experiments.spec import SpecError, SweepSpec, load_spec, shipped_specs
from quantlab.experiments.store import CorruptRecordWarning, Store, trial_label, trial_name
from quantlab.formatting import format_duration
from quantlab.training import experiment, phases
from quantlab.vocabulary import METHODS

ROOT = Path(__file__).resolve().parent.parent


def fake_metrics(config, seed: int) -> dict:
    """Deterministic, schema-shaped metrics: float error falls with width, quantized ones add a gap."""
    float_error = 0.5 / config.size[0] + 0.01 * seed
    return fakes.metrics(
        1000 * config.size[0], 990 * config.size[0], fakes.stage(float_error, best_epoch=1, history=[]),
        direct={b: fakes.stage(float_error + 0.2 / b) for b in config.bits},
        retrain={b: fakes.stage(float_error + 0.02 / b, best_epoch=1, history=[]) for b in config.bits})


class FakeTrial:
    """Records its calls; reports one progress tick per epoch like the real one."""

    def __init__(self):
        self.calls: list[tuple[tuple, list[int]]] = []

    def __call__(self, config, seeds, progress=None):
        self.calls.append((config.size, list(seeds)))
        if progress:
            for _ in range(config.float_train.epochs + len(config.bits) * config.retrain.epochs):
                progress(1)
        return [fake_metrics(config, s) for s in seeds]


def make_spec(**kw) -> SweepSpec:
    args = dict(name="t", sizes=[(8, 1), (16, 1), (32, 1)], bits=(2, 3), seeds=(0, 1),
                float_train={"epochs": 1}, retrain={"epochs": 1}, train_subset=100)
    args.update(kw)
    return SweepSpec(**args)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.glob("*.json")}


# -- running ---------------------------------------------------------------------------------------

def test_sweep_runs_missing_seeds_together_and_never_twice(tmp_path):
    spec, store, fake = make_spec(), Store(tmp_path), FakeTrial()
    tally = sweep.run_sweep(spec, store, progress=False, run_trial=fake)
    assert fake.calls == [((8, 1), [0, 1]), ((16, 1), [0, 1]), ((32, 1), [0, 1])]
    assert tally["trials_run"] == 3 and tally["records_written"] == 6 and tally["records_skipped"] == 0
    assert len(store.records(spec)) == 6
    for config in spec.trials():
        for seed in spec.seeds:
            record = store.get(config, seed)
            assert record["metrics"] == fake_metrics(config, seed)
            prov = record["provenance"]
            assert prov["trial_seeds"] == [0, 1] and 0 <= prov["compile_seconds"] <= prov["wall_seconds"]
    before = snapshot(tmp_path)
    again = sweep.run_sweep(spec, store, progress=False, run_trial=fake)
    assert len(fake.calls) == 3 and again["records_written"] == 0 and again["records_skipped"] == 6
    assert snapshot(tmp_path) == before


def test_sweep_runs_only_the_missing_seeds(tmp_path):
    spec, store, fake = make_spec(), Store(tmp_path), FakeTrial()
    trials = spec.trials()
    store.put(trials[1], 1, fake_metrics(trials[1], 1))
    for seed in (0, 1):
        store.put(trials[2], seed, fake_metrics(trials[2], seed))
    sweep.run_sweep(spec, store, progress=False, run_trial=fake)
    assert fake.calls == [((8, 1), [0, 1]), ((16, 1), [0])]


def test_a_finished_trials_stale_lock_file_is_removed(tmp_path):
    """A driver killed after a trial's last record but before its lock's release leaves the lock file;
    the next sweep removes it (a held lock stays: another process trains that trial)."""
    spec, store, fake = make_spec(), Store(tmp_path), FakeTrial()
    sweep.run_sweep(spec, store, progress=False, run_trial=fake)
    stale, held = store.lock(spec.trials()[0]), store.lock(spec.trials()[1])
    stale.path.write_text("pid 1 on gone\n")
    held.acquire()
    sweep.run_sweep(spec, store, progress=False, run_trial=fake)
    assert not stale.path.exists() and held.path.exists()
    held.release()


def test_a_corrupt_record_is_reported_and_recomputed(tmp_path):
    spec, store, fake = make_spec(), Store(tmp_path), FakeTrial()
    sweep.run_sweep(spec, store, progress=False, run_trial=fake)
    config = spec.trials()[0]
    path = store.path(config, 1)
    path.write_text(path.read_text().replace('"test_error"', '"test_errr"', 1))  # a hand edit
    fake.calls.clear()
    with pytest.warns(CorruptRecordWarning, match=path.name):
        sweep.run_sweep(spec, store, progress=False, run_trial=fake)
    assert fake.calls == [((8, 1), [0, 1])]  # the seeds it was trained with; only seed 1 is written again
    assert store.get(config, 1)["metrics"] == fake_metrics(config, 1)
    assert (tmp_path / (path.name + ".corrupt")).exists()


def test_a_lost_record_trains_again_with_the_seeds_it_was_trained_with(tmp_path):
    spec, store, fake = make_spec(seeds=[0, 1, 2]), Store(tmp_path), FakeTrial()
    config = spec.trials()[0]
    store.put(config, 0, fake_metrics(config, 0), {"trial_seeds": [0, 1]})
    store.put(config, 2, fake_metrics(config, 2), {"trial_seeds": [2]})
    assert sweep.training_groups(store, config, [1], spec.seeds) == [[0, 1]]
    kept = store.path(config, 0).read_bytes()
    sweep.run_sweep(spec, store, progress=False, run_trial=fake, only="w8-*")
    assert fake.calls == [((8, 1), [0, 1])] and store.path(config, 0).read_bytes() == kept
    assert store.get(config, 1)["provenance"]["trial_seeds"] == [0, 1]
    # seeds no record names: with the missing seeds of their block
    assert sweep.training_groups(store, config, [1, 3], [0, 1, 2, 3]) == [[0, 1], [3]]
    assert sweep.training_groups(Store(tmp_path / "empty"), config, [0, 1], spec.seeds) == [[0, 1]]


def test_seeds_train_in_fixed_blocks_so_a_record_does_not_depend_on_what_else_was_missing(tmp_path):
    """From scratch, five seeds train as 0-2 and 3-4 (as every committed record was made); a lost
    record of either block trains again with its block, and only it is written again."""
    spec, store, fake = make_spec(seeds=[0, 1, 2, 3, 4], sizes=[(8, 1)]), Store(tmp_path), FakeTrial()
    config = spec.trials()[0]
    tally = sweep.run_sweep(spec, store, progress=False, run_trial=fake)
    assert fake.calls == [((8, 1), [0, 1, 2]), ((8, 1), [3, 4])]
    assert tally["trials_run"] == 1 and tally["records_written"] == 5
    assert [store.get(config, s)["provenance"]["trial_seeds"] for s in range(5)] == [[0, 1, 2]] * 3 + [[3, 4]] * 2
    kept = {s: store.path(config, s).read_bytes() for s in (0, 2, 3)}
    for s in (1, 4):
        store.path(config, s).unlink()
    fake.calls.clear()
    assert sweep.plan(spec, store, platform=None).runs[0].missing == [1, 4]
    sweep.run_sweep(spec, store, progress=False, run_trial=fake)
    assert fake.calls == [((8, 1), [0, 1, 2]), ((8, 1), [3, 4])]
    assert {s: store.path(config, s).read_bytes() for s in (0, 2, 3)} == kept
    assert store.get(config, 4)["provenance"]["trial_seeds"] == [3, 4]
    assert sweep.training_groups(Store(tmp_path / "empty"), config, [4, 0, 5, 9], range(10)) == [[4, 5], [0], [9]]


@pytest.mark.slow
def test_a_recomputed_record_is_the_record_it_replaces(tmp_path):
    """Real training: a record deleted from a two-seed trial comes back bit for bit."""
    spec = make_spec(sizes=[(32, 1)], bits=(2,), seeds=[0, 1], train_subset=2000, float_train={"epochs": 2})
    store = Store(tmp_path)
    sweep.run_sweep(spec, store, progress=False)
    config = spec.trials()[0]
    before = store.get(config, 1)["metrics"]
    prov = store.get(config, 1)["provenance"]  # the time split: every phase ran, and it adds up
    phase = prov["phase_seconds"]
    assert sorted(phase) == sorted(phases.PHASES) and all(v > 0 for v in phase.values())
    assert prov["compile_seconds"] + sum(phase.values()) <= prov["wall_seconds"] + 0.01
    store.path(config, 1).unlink()
    sweep.run_sweep(spec, store, progress=False)
    assert store.get(config, 1)["metrics"] == before


def test_progress_bars(tmp_path, capsys):
    fake = FakeTrial()
    sweep.run_sweep(make_spec(sizes=[(8, 1)]), Store(tmp_path / "a"), progress=True, run_trial=fake)
    assert fake.calls == [((8, 1), [0, 1])]
    err = capsys.readouterr().err
    assert "t: " in err and "trials" in err and "ffdnn-w8-d1 seeds 0,1" in err
    sweep.run_sweep(make_spec(sizes=[(8, 1)]), Store(tmp_path / "b"), progress=False, run_trial=FakeTrial())
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("bad", [None, [], [{"float": {}}] * 3, ["x", "y"], [{"no": 1}, {"no": 2}]])
def test_bad_run_trial_output_writes_nothing(tmp_path, bad):
    with pytest.raises(RuntimeError, match="run_trial for ffdnn-w8-d1"):
        sweep.run_sweep(make_spec(sizes=[(8, 1)]), Store(tmp_path), progress=False,
                        run_trial=lambda c, s, progress=None: bad)
    assert not list(tmp_path.glob("*.json"))


def test_a_failing_trial_keeps_the_finished_ones(tmp_path):
    spec, store = make_spec(), Store(tmp_path)

    def flaky(config, seeds, progress=None):
        if config.size == (16, 1):
            raise KeyboardInterrupt
        return [fake_metrics(config, s) for s in seeds]

    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(spec, store, progress=False, run_trial=flaky)
    assert len(store.records(spec)) == 2
    fake = FakeTrial()
    sweep.run_sweep(spec, store, progress=False, run_trial=fake)
    assert fake.calls == [((16, 1), [0, 1]), ((32, 1), [0, 1])]


def test_only_selects_trials(tmp_path):
    spec = make_spec(sizes=[(8, 1), (16, 1), (16, 2), (128, 1)])
    label = lambda configs: [trial_label(c) for c in configs]  # noqa: E731
    assert label(sweep.select(spec, "w16")) == ["ffdnn-w16-d1", "ffdnn-w16-d2"]
    assert label(sweep.select(spec, "ffdnn-w1*-d1")) == ["ffdnn-w16-d1", "ffdnn-w128-d1"]
    assert label(sweep.select(spec, "w1*1")) == ["ffdnn-w16-d1", "ffdnn-w128-d1"]
    assert label(sweep.select(spec, "w1?-")) == ["ffdnn-w16-d1", "ffdnn-w16-d2"]
    assert label(sweep.select(spec, "w8, d2")) == ["ffdnn-w8-d1", "ffdnn-w16-d2"]
    with pytest.raises(SpecError, match="matches no trial.*ffdnn-w8-d1, ffdnn-w16-d1"):
        sweep.select(spec, "w999")
    fake = FakeTrial()
    sweep.run_sweep(spec, Store(tmp_path), only="w16", progress=False, run_trial=fake)
    assert [size for size, _ in fake.calls] == [(16, 1), (16, 2)]


@pytest.mark.parametrize("name", shipped_specs())
def test_every_trial_of_a_shipped_spec_has_its_own_name(name):
    """Listings, progress bars and --only name a trial by its network and, where the spec varies more
    than the network, by the values that tell it apart (signal_bits=4, train_subset=1000, ...)."""
    spec = load_spec(name)
    names = [trial_name(spec, c) for c in spec.trials()]
    assert len(set(names)) == len(names), sorted(n for n in names if names.count(n) > 1)
    assert all(n.startswith(trial_label(c)) for n, c in zip(names, spec.trials()))


def test_only_selects_a_variant_of_a_network():
    spec = make_spec(sizes=[(16, 1), (64, 1)], signal_bits=("float", 4, 8), signal_calibration=64,
                     step_policies=("fixed", "adaptive"))
    (chosen,) = sweep.select(spec, "w16*adaptive*signal_bits=4")
    assert (chosen.size, chosen.signal_bits, chosen.step_policy) == ((16, 1), 4, "adaptive")
    assert trial_name(spec, chosen) == "ffdnn-w16-d1 step_policy=adaptive signal_bits=4"
    assert len(sweep.select(spec, "signal_bits=float")) == 4
    assert trial_name(make_spec(), make_spec().trials()[0]) == "ffdnn-w8-d1"  # the network varies alone
    listing = sweep.format_plan(sweep.plan(spec, Store("/nonexistent"), "w64", platform=None))
    assert "ffdnn-w64-d1 step_policy=fixed signal_bits=8" in listing


# -- planning and the cost model -------------------------------------------------------------------

def test_plan_lists_status_and_an_estimate(tmp_path):
    spec, store = make_spec(), Store(tmp_path)
    trials = spec.trials()
    store.put(trials[0], 0, fake_metrics(trials[0], 0))
    for seed in (0, 1):
        store.put(trials[1], seed, fake_metrics(trials[1], seed))
    p = sweep.plan(spec, store)
    assert [r.status for r in p.runs] == ["partial", "done", "missing"]
    assert [r.missing for r in p.runs] == [[1], [], [0, 1]]
    assert p.runs[1].estimate == 0 and p.runs[0].estimate > 0 and p.runs[2].estimate > 0
    assert p.calibrated_on == 0  # these records carry no wall times
    text = sweep.format_plan(p)
    assert "3 trials x 2 seeds = 6 records, 3 done, 3 missing" in text
    assert "partial" in text and "ffdnn-w32-d1" in text and "estimate" in text and "uncalibrated" in text


def test_estimate_is_calibrated_by_recorded_wall_times(tmp_path):
    spec, store = make_spec(), Store(tmp_path)
    first = spec.trials()[0]
    raw = sweep.model_seconds(first, 2)
    here = sweep._platform()
    for seed in (0, 1):
        store.put(first, seed, fake_metrics(first, seed),
                  {"wall_seconds": 10 * raw, "trial_seeds": [0, 1], "device": {"platform": here}})
    store.put(first, 2, fake_metrics(first, 2),  # another platform's wall time is ignored
              {"wall_seconds": 1000 * raw, "trial_seeds": [2], "device": {"platform": "elsewhere"}})
    p = sweep.plan(spec, store)
    assert p.calibrated_on == 2
    assert p.runs[1].estimate == pytest.approx(10 * sweep.model_seconds(spec.trials()[1], 2))
    assert "calibrated on the wall times of 2" in sweep.format_plan(p)


def test_calibration_is_time_weighted(tmp_path):
    """A small, overhead-bound trial 10x slower than modelled must not dominate the factor applied
    to large trials: the factor is total measured over total modelled time, not a per-trial median."""
    spec = make_spec(sizes=[(8, 1), (1024, 3)], train_subset=50_000, float_train={"epochs": 100})
    store, here = Store(tmp_path), {"platform": sweep._platform()}
    small, large = spec.trials()
    m_small, m_large = sweep.model_seconds(small, 1), sweep.model_seconds(large, 1)
    assert m_large > 10 * m_small
    store.put(small, 0, fake_metrics(small, 0), {"wall_seconds": 10 * m_small, "trial_seeds": [0], "device": here})
    store.put(large, 0, fake_metrics(large, 0), {"wall_seconds": 0.5 * m_large, "trial_seeds": [0], "device": here})
    factor, n = sweep.calibration(store, here["platform"])["ffdnn"]
    assert n == 2 and factor == pytest.approx((10 * m_small + 0.5 * m_large) / (m_small + m_large))
    assert factor < 1.5  # the median of the two ratios would be 5.25


def test_the_estimate_spares_the_float_stages_the_cache_holds(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANTLAB_CACHE", str(tmp_path / "cache"))
    from quantlab.training import experiment, netcache

    spec = make_spec(sizes=[(1024, 3)], train_subset=50_000, float_train={"epochs": 8}, retrain={"epochs": 3})
    store, config = Store(tmp_path / "results"), spec.trials()[0]
    before = sweep.plan(spec, store).runs[0].estimate
    assert experiment.cached_epochs(config, [0, 1]) == 0
    netcache.directory().mkdir(parents=True)
    for identity in (experiment.float_identity, experiment.control_identity):
        (netcache.directory() / f"{netcache.key(identity(config, [0, 1]))}.npz").touch()
    assert experiment.cached_epochs(config, [0, 1]) == 8 + 3 and experiment.cached_epochs(config, [0]) == 0
    after = sweep.plan(spec, store).runs[0].estimate
    assert after == pytest.approx(sweep.model_seconds(config, 2, 11)) and after < before / 2
    assert sweep.plan(spec, store, platform=None).runs[0].estimate == pytest.approx(before)  # a Ray driver: no JAX


def test_bigger_networks_cost_more():
    small = sweep.model_seconds(make_spec(sizes=[(8, 1)]).trials()[0], 1)
    big = sweep.model_seconds(make_spec(sizes=[(1024, 3)]).trials()[0], 1)
    assert big > small > 0
    assert sweep.model_seconds(make_spec(sizes=[(1024, 3)]).trials()[0], 3) > big


@pytest.mark.parametrize("family,size,dataset", [
    ("ffdnn", (16, 1), "fashion_mnist"), ("ffdnn", (100, 3), "cifar10"),
    ("cnn", (2, 2, 4), "fashion_mnist"), ("cnn", (8, 16), "cifar10"), ("cnn", (3, 5, 7, 9), "mnist"),
])
def test_parameter_counts_match_the_models(family, size, dataset):
    from quantlab import data
    from quantlab.nn import models

    exact = models.param_counts(family, size, data.info(dataset)["image_shape"])["params"]
    assert sweep.network_cost(family, size, dataset)[0] == exact


def test_the_plan_formats_durations_with_the_one_format_duration():
    assert sweep.format_duration is format_duration


# -- results ---------------------------------------------------------------------------------------

def cli_summary(spec, store, only=None):
    """What ``python -m quantlab results`` tabulates: the one seed summary of the stored rows."""
    labels = {trial_label(c) for c in sweep.select(spec, only)}
    rows = [r for r in rowmod.tidy(spec, store, allow_missing=True, methods=METHODS) if r["trial"] in labels]
    return [r.as_dict() for r in rowmod.summarise(rows) if r.method in spec.methods]


def test_results_means_spreads_and_gaps(tmp_path, capsys):
    spec, store = make_spec(seeds=(0, 1, 2)), Store(tmp_path)
    sweep.run_sweep(spec, store, progress=False, run_trial=FakeTrial())
    rows = cli_summary(spec, store)
    assert len(rows) == 3 * (1 + 2 * 2)
    first = rows[:5]
    assert [(r["method"], r["bits"]) for r in first] == [
        ("float", 32), ("direct", 2), ("retrain", 2), ("direct", 3), ("retrain", 3)]
    config = spec.trials()[0]
    floats = [fake_metrics(config, s)["float"]["test_error"] for s in (0, 1, 2)]
    direct2 = [fake_metrics(config, s)["direct"]["2"]["test_error"] for s in (0, 1, 2)]
    assert first[0]["test_error"] == pytest.approx(statistics.fmean(floats))
    assert first[0]["test_error_std"] == pytest.approx(statistics.stdev(floats))
    assert first[0]["gap"] is None
    assert first[1]["gap"] == pytest.approx(statistics.fmean(direct2) - statistics.fmean(floats))
    assert first[1]["gap"] == pytest.approx(0.1)
    assert first[0]["trial"] == "ffdnn-w8-d1" and first[0]["size_label"] == "8x1"
    assert first[0]["params"] == 8000 and first[0]["weights"] == 7920 and first[0]["seeds"] == 3
    text = format_summary(rows)
    assert "gap to float" in text and "+10.00 pp" in text and "32 (float)" in text
    out = io.StringIO()
    write_summary_csv(rows, out)
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(parsed) == len(rows) and parsed[0]["bits"] == "32" and parsed[1]["bits"] == "2"
    assert float(parsed[1]["gap"]) == pytest.approx(0.1)


def test_results_partial_and_method_filter(tmp_path):
    spec, store = make_spec(methods=["float", "retrain"]), Store(tmp_path)
    sweep.run_sweep(spec, store, only="w16", progress=False, run_trial=FakeTrial())
    store.path(spec.trials()[1], 1).unlink()
    rows = cli_summary(spec, store)
    assert {r["trial"] for r in rows} == {"ffdnn-w16-d1"}
    assert [r["method"] for r in rows] == ["float", "retrain", "retrain"]
    assert all(r["seeds"] == 1 and r["test_error_std"] is None for r in rows)
    assert all(r["gap"] is not None for r in rows if r["method"] == "retrain")  # float stays the baseline


# -- the command line ------------------------------------------------------------------------------

SPEC_TOML = TINY_SPEC_TOML


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(SPEC_TOML)
    return path


def test_cli_sweep_dry_run_and_results(tmp_path, spec_file, monkeypatch, capsys):
    fake = FakeTrial()
    monkeypatch.setattr(experiment, "run_trial", fake)
    results = str(tmp_path / "r")
    assert main(["sweep", str(spec_file), "--dry-run", "--results", results]) == 0
    out = capsys.readouterr().out
    assert "6 trials x 2 seeds = 12 records, 0 done, 12 missing" in out and "estimated time" in out
    assert not fake.calls
    assert main(["sweep", str(spec_file), "--results", results, "--only", "w1-,w2-", "--no-progress"]) == 0
    assert [size for size, _ in fake.calls] == [(1, 1), (2, 1)]
    err = capsys.readouterr().err
    assert "2 trials run, 4 records written" in err and "python -m quantlab results" in err
    assert main(["results", str(spec_file), "--results", results]) == 1  # 8 records missing
    captured = capsys.readouterr()
    assert "ffdnn-w1-d1" in captured.out and "retrain" in captured.out
    assert "8 of 12 records missing" in captured.err
    assert main(["results", str(spec_file), "--results", results, "--csv", "--partial"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("trial,size_label,params") and len(lines) == 1 + 2 * 3


@pytest.mark.parametrize("spec, lines", [
    ("rules-ffdnn", ("ffdnn-w8-d3 l2 fixed ", "ffdnn-w8-d3 absmax adaptive ")),
    ("data-ffdnn", ("ffdnn-w8-d3 1,000 ex 40ep ", "ffdnn-w512-d3 all data 4ep ")),
])
def test_cli_results_names_what_tells_networks_of_one_size_apart(repo_root, capsys, spec, lines):
    assert main(["results", spec, "--only", "w8-,w512-", "--results", str(repo_root / "results")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[2].rstrip().endswith("gap to float  gap to control")
    for start in lines:
        assert any(line.startswith(start) for line in table), start


def test_cli_results_only_selects_one_variant_of_a_network(repo_root, capsys):
    """``--only`` picks trials by their full name, so a pattern naming one signal width shows that
    width's records only, and a network's name alone shows every width, named apart."""
    results = ["--results", str(repo_root / "results")]
    assert main(["results", "signals-ffdnn", "--only", "w16*signal_bits=4", *results]) == 0
    one = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ffdnn-w16-d3")]
    assert len(one) == 5  # float, then direct and retrained at 2 and 3 bits
    assert main(["results", "signals-ffdnn", "--only", "w16-", *results]) == 0
    every = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ffdnn-w16-d3")]
    assert len(every) == 5 * 5
    assert sum(line.startswith("ffdnn-w16-d3 4-bit signals ") for line in every) == 5
    assert [line.split()[-2:] for line in one] == [line.split()[-2:] for line in every if " 4-bit signals " in line]


def test_cli_results_dir_from_environment(tmp_path, spec_file, monkeypatch, capsys):
    monkeypatch.setattr(experiment, "run_trial", FakeTrial())
    monkeypatch.setenv("QUANTLAB_RESULTS", str(tmp_path / "env"))
    assert main(["sweep", str(spec_file), "--only", "w6", "--no-progress"]) == 0
    assert len(list((tmp_path / "env").glob("ffdnn-w6-d1-s*.json"))) == 2


@pytest.mark.parametrize("argv,fragment", [
    (["sweep", "nope"], "unknown spec 'nope'"),
    (["results", "smok"], "did you mean 'smoke'"),
    (["sweep", "smoke", "--only", "w999", "--dry-run"], "matches no trial"),
    (["sweep", "/does/not/exist.toml"], "does not exist"),
])
def test_cli_errors_are_one_line_and_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_bad_spec_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('dataset = "fashion_mnist"\nfamily = "ffdnn"\nwidths = [8]\ndepths = [1]\nbits = [1]\n')
    assert main(["sweep", str(bad), "--dry-run"]) == 2
    assert "bits has invalid value 1" in capsys.readouterr().err


def test_cli_specs_and_help(capsys):
    assert main(["specs"]) == 0
    out = capsys.readouterr().out
    for name in ("smoke", "ffdnn-width", "ffdnn-depth", "cnn-maps"):
        assert any(line.startswith(name + " ") for line in out.splitlines())
    for command in ("sweep", "results"):
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        assert e.value.code == 0
        text = capsys.readouterr().out
        assert "examples:" in text and f"python -m quantlab {command} " in text and "--results" in text
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "python -m quantlab sweep smoke" in capsys.readouterr().out


def test_cli_subprocess_error_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "quantlab", "sweep", "nope"], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown spec") and "Traceback" not in proc.stderr


# -- SIGKILL mid-sweep, then resume ----------------------------------------------------------------

WRAPPER = FAKE_METRICS_SOURCE + """
import json, sys, time
import quantlab.training.experiment as experiment

log, delay = sys.argv[1], float(sys.argv[2])

def run_trial(config, seeds, progress=None):
    time.sleep(delay)
    out = fake_metrics(config, seeds)
    with open(log, "a") as f:
        f.write(json.dumps([list(config.size), list(seeds)]) + "\\n")
    return out

experiment.run_trial = run_trial
from quantlab.__main__ import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume(tmp_path, spec_file):
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(WRAPPER)
    log, results = tmp_path / "computed.log", tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def command(delay):
        return [sys.executable, str(wrapper), str(log), str(delay), "sweep", str(spec_file), "--results", str(results)]

    proc = subprocess.Popen(command(0.4), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(results.glob("*.json"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read().decode()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    killed = snapshot(results)
    assert 3 <= len(killed) < 12, sorted(killed)
    computed_before = [tuple(map(tuple, json.loads(line))) for line in log.read_text().splitlines()]

    done = subprocess.run(command(0.0), env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert f"{len(killed)} already present" in done.stderr

    # every record exists exactly once and is valid
    spec = load_spec(spec_file)
    store = Store(results)
    names = sorted(p.name for p in results.glob("*.json"))
    assert len(names) == 12 and not list(results.glob("*.corrupt*"))
    for config in spec.trials():
        for seed in spec.seeds:
            assert store.get(config, seed) is not None
            assert len(list(results.glob(f"{trial_label(config)}-s{seed}-*.json"))) == 1
    # the records that had finished before the kill were not rewritten, nor recomputed
    after = snapshot(results)
    assert {name: after[name] for name in killed} == killed
    computed = [tuple(map(tuple, json.loads(line))) for line in log.read_text().splitlines()]
    rerun = computed[len(computed_before):]
    finished_records = [json.loads((results / name).read_text()) for name in killed]
    finished = {(rec["config"]["size"][0], rec["seed"]) for rec in finished_records}
    for (width, _), seeds in rerun:
        for seed in seeds:
            assert (width, seed) not in finished, f"w{width} seed {seed} was recomputed"
    assert sum(len(seeds) for _, seeds in rerun) == 12 - len(killed)

    # a third run has nothing to do
    third = subprocess.run(command(0.0), env=env, capture_output=True, text=True, timeout=180)
    assert third.returncode == 0 and "0 trials run" in third.stderr
    assert log.read_text().count("\n") == len(computed) and snapshot(results) == after


# -- real data -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_smoke_sweep_on_real_fashion_mnist_is_reproducible(tmp_path):
    """The shipped smoke spec end to end on real data; the same config and seed give identical metrics."""
    from quantlab import data

    try:
        data.load("fashion_mnist", "test")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"Fashion-MNIST is not available here: {e}")
    spec, store = load_spec("smoke"), Store(tmp_path)
    tally = sweep.run_sweep(spec, store, progress=False)
    assert tally["records_written"] == len(spec.trials()) * len(spec.seeds)
    records = store.records(spec)
    for record in records:
        m = record["metrics"]
        assert m["params"] > m["weights"] > 0
        errors = [m["float"]["test_error"], m["direct"]["2"]["test_error"], m["retrain"]["2"]["test_error"]]
        assert all(0 <= e <= 1 for e in errors)
        assert m["float"]["test_error"] < 0.9  # better than chance
        assert record["provenance"]["device"]["platform"]
    config = spec.trials()[0]
    again = experiment.run_trial(config, [spec.seeds[0]])[0]
    assert json.loads(json.dumps(again)) == store.get(config, spec.seeds[0])["metrics"]
    rows = cli_summary(spec, store)
    assert len(rows) == len(spec.trials()) * 3
