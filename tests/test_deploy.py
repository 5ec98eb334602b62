"""Exported networks: safetensors files (packed codes) load back into the same network, ONNX Runtime runs
the integer-only network exactly as JAX does on the whole test set, the packed file is small, and the
exporter finds a spec's network or names the valid choices."""

import numpy as np
import pytest

from quantlab import data
from quantlab.deploy import export, fileformat, onnxgraph, sizes
from quantlab.experiments.spec import load_spec
from quantlab.nn import integer
from quantlab.training.experiment import TrialConfig

import networks


def _same(a: integer.FixedPointNetwork, b: integer.FixedPointNetwork) -> None:
    assert (a.family, a.bits, a.signal_bits) == (b.family, b.bits, b.signal_bits)
    for x, y in zip((*a.codes, *a.biases, a.weight_steps), (*b.codes, *b.biases, b.weight_steps)):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    if a.signal_steps is not None:
        np.testing.assert_array_equal(a.signal_steps, b.signal_steps)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["ffdnn", "cnn"])
@pytest.mark.parametrize("bits, packing", [(2, "bits"), (2, "base3"), (3, "bits")])
def test_safetensors_round_trip(tmp_path, family, bits, packing):
    images, _ = data.load("fashion_mnist", "test")
    *_, net = networks.quantized(family, bits, 4)
    path = fileformat.save(tmp_path / "net.safetensors", net, {"seed": 0, "label": "tiny"}, packing)
    loaded, meta = fileformat.load(path)
    _same(net, loaded)
    assert meta["seed"] == 0 and meta["packing"] == packing and meta["signal_bits"] == 4
    for variant in integer.VARIANTS:
        np.testing.assert_array_equal(integer.run(loaded, images, variant)[0], integer.run(net, images, variant)[0])


@pytest.mark.slow
@pytest.mark.parametrize("family", ["ffdnn", "cnn"])
@pytest.mark.parametrize("bits", [2, 3])
def test_onnx_runtime_computes_the_integer_network(tmp_path, family, bits):
    images, _ = data.load("fashion_mnist", "test")
    *_, net = networks.quantized(family, bits, 4)
    path = onnxgraph.save(tmp_path / "net.onnx", net, images.shape[1:], {"seed": 0})
    np.testing.assert_array_equal(onnxgraph.run(path, images), integer.run(net, images, "integer")[0])


def test_ternary_file_is_a_fifteenth_of_float32():
    """784-1024x3-10: the packed file against the float32 file, and the fixed overhead over the ECR's count."""
    files = sizes.file_bytes(TrialConfig(family="ffdnn", size=(1024, 3)))
    assert files["packed_2"] <= files["float32"] / 15 and files["base3"] < files["packed_2"]
    assert 0 < files["packed_2"] - files["bits_2"] < 2048 and 0 < files["packed_3"] - files["bits_3"] < 2048
    assert files["onnx"] > files["weights"]  # int8 codes: a byte a weight


@pytest.mark.slow
def test_file_sizes_do_not_depend_on_the_values():
    *_, net = networks.quantized("ffdnn", 3, None)
    files = sizes.file_bytes(TrialConfig(family="ffdnn", size=networks.SIZES["ffdnn"]))
    assert len(fileformat.to_bytes(net)) == files["packed_3"]


def test_refusals_name_the_valid_values():
    spec = load_spec("ffdnn-width")
    with pytest.raises(ValueError, match="valid: ffdnn-w1024-d3, ffdnn-w128-d3"):
        export.find_trial(spec, "ffdnn-w100-d3", 2)
    with pytest.raises(ValueError, match="--bits 4 is not a bit width of ffdnn-w8-d3 in ffdnn-width; valid: 2, 3"):
        export.find_trial(spec, "ffdnn-w8-d3", 4)
    with pytest.raises(ValueError, match=r"--signal-bits 3 .* valid: none \(float\)"):
        export.find_trial(spec, "ffdnn-w8-d3", 2, 3)
    with pytest.raises(ValueError, match="needs fixed-point signals"):
        onnxgraph.to_model(networks.quantized("ffdnn", 2, None)[-1], (28, 28, 1))
    with pytest.raises(ValueError, match="not a quantlab-fixed-point file"):
        fileformat.from_bytes(fileformat.float_bytes({"Dense_0": {"bias": np.zeros(2, np.float32)}}))


@pytest.mark.slow
def test_the_exported_network_has_the_records_test_error(tmp_path, capsys):
    """The command line end to end on the smoke sweep: the re-run reproduces the record, and the file's
    network, loaded back and run in integers, makes exactly the record's test errors."""
    from quantlab.__main__ import main
    from quantlab.experiments.store import Store
    from quantlab.experiments.sweep import run_sweep

    spec, store = load_spec("smoke"), Store(tmp_path / "results")
    run_sweep(spec, store, progress=False)
    out = tmp_path / "net.safetensors"
    argv = ["export", "smoke", "--network", "ffdnn-w16-d1", "--seed", "0", "--bits", "2", "--out", str(out),
            "--results", str(store.root), "--no-progress", "--packing", "base3"]
    assert main(argv) == 0
    assert "(record: " in capsys.readouterr().out
    net, meta = fileformat.load(out)
    record = store.get(export.find_trial(spec, "ffdnn-w16-d1", 2), 0)
    assert meta["record_key"] == record["key"] and meta["test_error"] == meta["record_test_error"]
    images, labels = data.load("fashion_mnist", "test")
    error = np.mean(integer.predict(net, images) != labels)
    assert error == pytest.approx(record["metrics"]["retrain"]["2"]["test_error"], abs=1e-6)  # float32 there
    assert main([*argv[:7], "5", *argv[8:]]) == 2
    assert "--bits 5 is not a bit width of ffdnn-w16-d1 in smoke; valid: 2" in capsys.readouterr().err
