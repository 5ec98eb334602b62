"""Accelerators and the paper's own datasets (issue 13), what can be checked without a GPU or a network:

* the layer implementations are chosen per platform, and on a CPU the choice is what it always was
  (quantlab.nn.conv / quantlab.nn.dense: the committed records depend on its exact numerics);
* the MNIST and CIFAR-10 specs load, and offline their sweeps stop at once with the data error;
* the executor options of the command line, and a clear error where Ray is missing.
"""

from __future__ import annotations

import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quantlab.__main__ import main
from quantlab.experiments.spec import load_spec
from quantlab.experiments.store import Store
from quantlab.nn import models


def test_layers_are_chosen_per_platform(monkeypatch):
    monkeypatch.delenv(models.ENV_LAYERS, raising=False)
    assert models.layer_impl("cpu") == "fused"
    assert models.layer_impl("gpu") == models.layer_impl("cuda") == models.layer_impl("tpu") == "lax"
    monkeypatch.setenv(models.ENV_LAYERS, "lax")
    assert models.layer_impl("cpu") == "lax"
    monkeypatch.setenv(models.ENV_LAYERS, "cudnn")
    with pytest.raises(ValueError, match="QUANTLAB_LAYERS"):
        models.layer_impl("cpu")


def _hlo(model, params, x):
    def loss(p):
        return jnp.mean(jax.nn.log_softmax(model.apply({"params": p}, x))[:, 0])

    text = jax.jit(jax.grad(loss)).lower(params).as_text()
    return re.sub(r"loc\(.*?\)|#loc\d*( = .*)?", "", text)  # source locations differ, nothing else may


@pytest.mark.parametrize("family,size", [("ffdnn", (32, 2)), ("cnn", (4, 8))])
def test_on_cpu_the_default_is_the_cpu_layers_exactly(monkeypatch, family, size):
    """The committed records were computed with quantlab.nn.conv / quantlab.nn.dense: on a CPU the default
    model must compile to exactly the program of impl="fused" (not merely to close numbers)."""
    monkeypatch.delenv(models.ENV_LAYERS, raising=False)
    if jax.default_backend() != "cpu":
        pytest.skip("checks the CPU default")
    default, fused = models.make_model(family, size), models.make_model(family, size, impl="fused")
    assert default.impl == "fused"
    x = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1), dtype=np.uint8)
    params = models.init_params(default, jax.random.key(0), (28, 28, 1))
    assert _hlo(default, params, x) == _hlo(fused, params, x)
    # the layer classes themselves: quantlab.nn.dense.Dense (and quantlab.nn.conv's layer for the CNN)
    assert "custom_vjp" in str(jax.make_jaxpr(lambda p: default.apply({"params": p}, x))(params))


@pytest.mark.parametrize("family,size", [("ffdnn", (32, 2)), ("cnn", (4, 8))])
def test_both_layer_implementations_share_parameters_and_agree(family, size):
    fused, lax = models.make_model(family, size, impl="fused"), models.make_model(family, size, impl="lax")
    key = jax.random.key(1)
    p_fused = models.init_params(fused, key, (28, 28, 1))
    p_lax = models.init_params(lax, key, (28, 28, 1))
    assert jax.tree.structure(p_fused) == jax.tree.structure(p_lax)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(p_fused), jax.tree.leaves(p_lax)))
    x = np.random.default_rng(1).integers(0, 256, (8, 28, 28, 1), dtype=np.uint8)
    np.testing.assert_allclose(fused.apply({"params": p_fused}, x), lax.apply({"params": p_lax}, x), atol=1e-5)
    with pytest.raises(ValueError, match="impl must be"):
        models.make_model(family, size, impl="cudnn")


@pytest.mark.parametrize("name,dataset,family", [("mnist-width", "mnist", "ffdnn"), ("cifar10-maps", "cifar10", "cnn")])
def test_the_papers_datasets_fail_offline_with_the_data_error(tmp_path, monkeypatch, capsys, name, dataset, family):
    spec = load_spec(name)
    assert spec.shipped and spec.dataset == dataset and spec.family == family and len(spec.trials()) >= 6
    monkeypatch.setenv("QUANTLAB_OFFLINE", "1")
    monkeypatch.setenv("QUANTLAB_CACHE", str(tmp_path / "cache"))  # nothing prepared here
    results = tmp_path / "results"
    code = main(["sweep", name, "--results", str(results), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {dataset} (TFDS ") and "is not prepared" in err and "sha256sum -c" in err
    assert "Traceback" not in err
    assert not list(results.glob("*.json")) and list(Store(results).scan()) == []


def test_executor_options_are_checked_before_anything_runs(tmp_path, capsys):
    results = str(tmp_path / "results")
    assert main(["sweep", "smoke", "--results", results, "--address", "127.0.0.1:6379"]) == 2
    assert "error: address: only for the ray executor (--executor ray)" in capsys.readouterr().err
    assert main(["sweep", "smoke", "--results", results, "--executor", "ray", "--address", "auto",
                 "--num-cpus", "2"]) == 2
    assert "--num-cpus sizes a local Ray cluster" in capsys.readouterr().err
    assert main(["sweep", "smoke", "--results", results, "--executor", "ray", "--max-retries", "-1"]) == 2
    assert "max_retries must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_the_ray_executor_without_ray_is_one_line(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "fake.toml"
    spec.write_text('dataset = "fashion_mnist"\nfamily = "ffdnn"\nwidths = [1]\ndepths = [1]\nbits = [2]\nseeds = [0]\n'
                    'train_subset = 100\n')
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code = main(["sweep", str(spec), "--results", str(tmp_path / "r"), "--executor", "ray", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == ("error: the ray executor needs Ray: pip install 'quantlab[ray]' "
                                         "(or use --executor local)")
    assert not list((tmp_path / "r").glob("*.json"))
