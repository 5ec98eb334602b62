"""Sweep specifications: the shipped specs, the TOML format, and an error for every bad spec."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from quantlab.experiments import spec as specmod
from quantlab.experiments.spec import SpecError, SweepSpec, describe_specs, load_spec, shipped_specs, spec_from_dict
from quantlab.training.train import TrainConfig, default_config

ROOT = Path(__file__).resolve().parent.parent

SHIPPED = {"smoke", "ffdnn-width", "ffdnn-depth", "cnn-maps", "budget-ffdnn", "budget-cnn"}


def write(tmp_path, text: str, name: str = "my-sweep"):
    path = tmp_path / f"{name}.toml"
    path.write_text(textwrap.dedent(text))
    return path


HEAD = 'dataset = "fashion_mnist"\nfamily = "ffdnn"\n'
BASE = HEAD + """widths = [16, 32]
depths = [1, 2]
bits = [2, 3]
seeds = [0, 1]
"""


# -- shipped specs ---------------------------------------------------------------------------------

def test_shipped_specs_are_listed_and_load():
    assert SHIPPED <= set(shipped_specs())
    descriptions = dict(describe_specs())
    for name in shipped_specs():
        spec = load_spec(name)
        assert spec.name == name and spec.shipped
        assert descriptions[name] and "\n" not in descriptions[name]
        budgets = len(spec.retrain_epochs) if spec.retrain_epochs else 1
        subsets = len(spec.train_subsets) if spec.train_subsets else 1
        assert len(spec.trials()) == (len(spec.sizes) * subsets * len(spec.quantizers) * len(spec.step_policies)
                                      * budgets * len(spec.signal_bits)) >= 1


def test_smoke_spec_is_tiny():
    spec = load_spec("smoke")
    assert (spec.dataset, spec.family) == ("fashion_mnist", "ffdnn")
    assert spec.sizes == ((16, 1), (32, 1))
    assert spec.bits == (2,) and spec.seeds == (0,)
    assert spec.train_subset is not None and spec.train_subset <= 5000
    assert spec.float_train.epochs <= 5 and spec.retrain.epochs <= 3


def test_reference_specs_cover_the_paper_sweeps():
    width = load_spec("ffdnn-width")
    assert [s[0] for s in width.sizes] == [8, 16, 32, 64, 128, 256, 512, 1024]
    assert {s[1] for s in width.sizes} == {3}
    assert width.bits == (2, 3) and width.seeds == (0, 1, 2, 3, 4)
    depth = load_spec("ffdnn-depth")
    assert {s[1] for s in depth.sizes} == {1, 2, 3, 4} and {s[0] for s in depth.sizes} == {32, 128, 512}
    cnn = load_spec("cnn-maps")
    assert cnn.family == "cnn" and (2, 2, 4) in cnn.sizes and (32, 32, 64) in cnn.sizes


# -- the format ------------------------------------------------------------------------------------

def test_widths_and_depths_are_a_cartesian_product(tmp_path):
    spec = load_spec(write(tmp_path, BASE))
    assert spec.name == "my-sweep" and not spec.shipped
    assert spec.sizes == ((16, 1), (16, 2), (32, 1), (32, 2))
    trials = spec.trials()
    assert [t.size for t in trials] == list(spec.sizes)
    assert all(t.bits == (2, 3) and t.dataset == "fashion_mnist" and t.train_subset is None for t in trials)


def test_explicit_sizes_feature_maps_and_name(tmp_path):
    spec = load_spec(write(tmp_path, HEAD + 'name = "pairs"\nsizes = [[8, 1], [64, 3]]\nbits = [2]\n'))
    assert spec.name == "pairs" and spec.sizes == ((8, 1), (64, 3))
    cnn = load_spec(write(tmp_path, 'dataset = "fashion_mnist"\nfamily = "cnn"\nfeature_maps = [[2, 4], [4, 4, 8]]\n',
                          "c"))
    assert cnn.sizes == ((2, 4), (4, 4, 8)) and [t.size for t in cnn.trials()] == [(2, 4), (4, 4, 8)]
    alias = load_spec(write(tmp_path, 'dataset = "fashion_mnist"\nfamily = "cnn"\nsizes = [[2, 4]]\n', "c2"))
    assert alias.sizes == ((2, 4),)


def test_budgets_override_the_family_defaults(tmp_path):
    spec = load_spec(write(tmp_path, BASE + "train_subset = 500\n[float_train]\nepochs = 3\nlearning_rate = 1\n"
                                             "[retrain]\nbatch_size = 50\n"))
    assert spec.float_train == dataclasses.replace(default_config("ffdnn", "float"), epochs=3, learning_rate=1.0)
    assert isinstance(spec.float_train.learning_rate, float)
    assert spec.retrain == dataclasses.replace(default_config("ffdnn", "retrain"), batch_size=50)
    trial = spec.trials()[0]
    assert trial.float_train == spec.float_train and trial.retrain == spec.retrain and trial.train_subset == 500
    cnn = load_spec(write(tmp_path, 'dataset = "fashion_mnist"\nfamily = "cnn"\nfeature_maps = [[2]]\n', "c"))
    assert cnn.float_train == default_config("cnn", "float") and cnn.retrain == default_config("cnn", "retrain")


def test_sweepspec_in_python():
    spec = SweepSpec(name="py", sizes=[[16, 1]], bits=[2], seeds=[3], float_train={"epochs": 1},
                     retrain=TrainConfig(epochs=2), methods=["retrain", "float"])
    assert spec.sizes == ((16, 1),) and spec.bits == (2,) and spec.seeds == (3,)
    assert spec.float_train.epochs == 1 and spec.retrain == TrainConfig(epochs=2)
    assert spec.methods == ("float", "retrain")  # canonical order
    assert hash(spec) == hash(SweepSpec(name="py", sizes=[[16, 1]], bits=[2], seeds=[3], float_train={"epochs": 1},
                                        retrain=TrainConfig(epochs=2), methods=["retrain", "float"]))


# -- every bad spec has a clear error --------------------------------------------------------------

def test_unknown_spec_name_lists_shipped_specs():
    with pytest.raises(SpecError) as e:
        load_spec("ffdnn-widht")
    msg = str(e.value)
    assert "unknown spec 'ffdnn-widht'" in msg and "did you mean 'ffdnn-width'" in msg
    assert all(name in msg for name in SHIPPED)


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(write(tmp_path, "widths = [1, 2\n"))


BAD = [
    # (TOML text, fragments the message must contain)
    (BASE + "widht = 3\n", ["unknown field 'widht'", "valid fields:", "widths", "feature_maps"]),
    (BASE + "[float_train]\nepoch = 3\n", ["'epoch'", "[float_train]", "valid fields:", "epochs", "learning_rate"]),
    (BASE + "[retrain]\nepochs = 'ten'\n", ["[retrain] epochs", "int"]),
    (BASE + "[float_train]\noptimizer = 'adamw'\n", ["[float_train]", "optimizer", "adam", "sgd"]),
    (BASE + "[float_train]\nepochs = 0\n", ["[float_train]", "epochs"]),
    (BASE.replace("[16, 32]", "[16, -8]"), ["widths", "-8", ">= 1"]),
    (BASE.replace("[16, 32]", "[0]"), ["widths", "0", ">= 1"]),
    (BASE.replace("[1, 2]", "[0]"), ["depths", ">= 1"]),
    (BASE.replace("[16, 32]", "[]"), ["widths is empty"]),
    (BASE.replace("[16, 32]", "[16, 16]"), ["widths", "more than once"]),
    (BASE.replace("bits = [2, 3]", "bits = [1, 2]"), ["bits", "1", ">= 2"]),
    (BASE.replace("bits = [2, 3]", "bits = [2.5]"), ["bits", "2.5", "integers >= 2"]),
    (BASE.replace("bits = [2, 3]", "bits = [true]"), ["bits", "True"]),
    (BASE.replace("bits = [2, 3]", 'bits = "2"'), ["bits must be a list"]),
    (BASE.replace("bits = [2, 3]", "bits = []"), ["bits is empty"]),
    (BASE.replace("seeds = [0, 1]", "seeds = [-1]"), ["seeds", ">= 0"]),
    (BASE.replace("seeds = [0, 1]", "seeds = []"), ["seeds is empty"]),
    (BASE.replace('"ffdnn"', '"rnn"'), ["unknown family 'rnn'", "ffdnn, cnn"]),
    (BASE.replace('dataset = "fashion_mnist"', 'dataset = "imagenet"'),
     ["unknown dataset 'imagenet'", "fashion_mnist", "mnist", "cifar10"]),
    (BASE.replace('dataset = "fashion_mnist"', 'dataset = "fashion-mnist"'), ["did you mean 'fashion_mnist'"]),
    (BASE + 'methods = ["float", "ptq"]\n', ["unknown method 'ptq'", "float, direct, retrain"]),
    (BASE + "methods = []\n", ["methods", "float, direct, retrain"]),
    (BASE + "train_subset = 0\n", ["train_subset", ">= 1"]),
    (BASE + "feature_maps = [[4]]\n", ["feature_maps is for family 'cnn'"]),
    (BASE + "sizes = [[4, 1]]\n", ["either sizes or widths + depths"]),
    (HEAD + 'widths = [16]\n', ["depths is missing"]),
    (HEAD + 'bits = [2]\n', ["no sizes"]),
    (HEAD + 'sizes = []\n', ["sweep is empty"]),
    (HEAD + 'sizes = [[16]]\n', ["[16]", "[width, depth]"]),
    (HEAD + 'sizes = [[16, 1, 1]]\n', ["[width, depth]"]),
    (HEAD + 'sizes = [16]\n', ["16", "[width, depth]"]),
    (HEAD + 'sizes = [[16, 1], [16, 1]]\n', ["more than once"]),
    ('dataset = "fashion_mnist"\nfamily = "cnn"\nwidths = [1]\ndepths = [1]\n',
     ["widths/depths are for family 'ffdnn'"]),
    ('dataset = "fashion_mnist"\nfamily = "cnn"\nfeature_maps = [[4, 0]]\n', ["[4, 0]", "feature-map counts", ">= 1"]),
    ('dataset = "fashion_mnist"\nfamily = "cnn"\nfeature_maps = [[]]\n', ["feature_maps", "feature-map counts"]),
    ('dataset = "fashion_mnist"\nfamily = "cnn"\n', ["no sizes", "feature_maps"]),
    ('dataset = "fashion_mnist"\nfamily = "cnn"\nfeature_maps = [[4]]\nsizes = [[4]]\n',
     ["either feature_maps or sizes"]),
    ('family = "ffdnn"\nwidths = [16]\ndepths = [1]\n', ["dataset is missing", "fashion_mnist, mnist, cifar10"]),
    ('dataset = "mnist"\nwidths = [16]\ndepths = [1]\n', ["family is missing", "ffdnn, cnn"]),
]


@pytest.mark.parametrize("text,fragments", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_spec_errors_name_the_field_and_valid_values(tmp_path, text, fragments):
    with pytest.raises(SpecError) as e:
        load_spec(write(tmp_path, text))
    msg = str(e.value)
    assert msg.startswith("spec 'my-sweep'") and "my-sweep.toml" in msg, msg
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    assert "\n" not in msg


def test_bad_python_spec_values():
    with pytest.raises(SpecError, match="sweep is empty"):
        SweepSpec(name="x", sizes=[])
    with pytest.raises(SpecError, match="bits"):
        SweepSpec(name="x", sizes=[(8, 1)], bits=(2, 1))
    with pytest.raises(SpecError, match="float_train must be a table"):
        SweepSpec(name="x", sizes=[(8, 1)], float_train=3)
    with pytest.raises(SpecError, match="unknown field"):
        spec_from_dict({"widths": [8], "depths": [1], "colour": "red"}, name="x")


def test_spec_error_is_a_value_error():
    assert issubclass(SpecError, ValueError)
    assert specmod.METHODS == ("float", "direct", "retrain")


def test_quantizer_rules_expand_trials_and_ternary_rules_need_two_bits():
    from quantlab.numerics import rules

    assert specmod.QUANTIZERS == tuple(rules.RULES)  # every rule a spec may name exists, in order
    s = specmod.SweepSpec(name="r", sizes=[(8, 1)], bits=(2,), quantizers=("l2", "twn"),
                          step_policies=("fixed", "adaptive"))
    assert [(t.quantizer, t.step_policy) for t in s.trials()] == [
        ("l2", "fixed"), ("l2", "adaptive"), ("twn", "fixed"), ("twn", "adaptive")]
    with pytest.raises(specmod.SpecError, match="quantizer 'twn' is a ternary rule: bits must be 2; got 3"):
        specmod.SweepSpec(name="r", sizes=[(8, 1)], bits=(2, 3), quantizers=("twn",))
    with pytest.raises(specmod.SpecError, match="unknown quantizer 'xnor'; valid: l2, absmax, twn, ttq"):
        specmod.SweepSpec(name="r", sizes=[(8, 1)], quantizers=("xnor",))


def test_train_subsets_scale_the_epochs_to_the_full_splits_steps():
    s = specmod.SweepSpec(name="d", sizes=[(8, 1)], train_subsets=(1000, 27000, "all"), scale_epochs=True,
                           float_train={"epochs": 10}, retrain={"epochs": 4})
    assert [(t.train_subset, t.float_train.epochs, t.retrain.epochs) for t in s.trials()] == [
        (1000, 100, 40), (27000, 20, 8), (None, 10, 4)]  # 54,000 training examples; at most 10x
    with pytest.raises(specmod.SpecError, match="either train_subset or train_subsets"):
        specmod.SweepSpec(name="d", sizes=[(8, 1)], train_subset=100, train_subsets=(1000,))
    with pytest.raises(specmod.SpecError, match="train_subsets 60000 is larger than"):
        specmod.SweepSpec(name="d", sizes=[(8, 1)], train_subsets=(60000,))


def test_specs_load_and_plan_without_jax(tmp_path):
    """Configs apart from JAX: reading every shipped spec, building its trial configs and planning it (no
    device: a Ray driver's plan) import neither JAX, Flax nor Optax."""
    code = textwrap.dedent(f"""
        import sys
        from quantlab.experiments import spec, sweep
        from quantlab.experiments.store import Store
        for name in spec.shipped_specs():
            s = spec.load_spec(name)
            assert s.trials()
            sweep.plan(s, Store({str(tmp_path)!r}), platform=None)
        heavy = [m for m in ("jax", "flax", "optax", "tensorflow") if m in sys.modules]
        assert not heavy, heavy
    """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
