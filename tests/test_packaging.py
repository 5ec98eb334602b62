"""The pinned set agrees everywhere: pyproject.toml, environment.yml, requirements.lock, vega scripts."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;#,]+)")
# Extras that environment.yml and requirements.lock must carry; the others (bench: torch, lab:
# jupyterlab, cuda: the CUDA wheels) are optional there.
ENV_EXTRAS = ("book", "test", "ray", "deploy")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements) -> dict[str, str]:
    out = {}
    for req in requirements:
        m = PIN.match(req)
        if m:
            out[norm(m.group(1))] = m.group(2)
    return out


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pyproject_pins(extras=None) -> dict[str, str]:
    project = pyproject()["project"]
    reqs = list(project["dependencies"])
    for extra, deps in project.get("optional-dependencies", {}).items():
        if extras is None or extra in extras:
            reqs += deps
    return pins(reqs)


def environment_pins() -> tuple[dict[str, str], list]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep.get("pip", [])
        else:
            conda.append(dep)
    return pins(pip), conda


def lock_pins() -> dict[str, str]:
    return pins((ROOT / "requirements.lock").read_text().splitlines())


def test_every_dependency_is_pinned_exactly():
    project = pyproject()["project"]
    reqs = list(project["dependencies"])
    for deps in project.get("optional-dependencies", {}).values():
        reqs += deps
    unpinned = [r for r in reqs if not PIN.match(r)]
    assert not unpinned, f"pyproject.toml has requirements not pinned with ==: {unpinned}"
    assert project["requires-python"] == ">=3.11"


def test_environment_yml_agrees_with_pyproject():
    env, _ = environment_pins()
    ours = pyproject_pins()
    disagree = {n: (ours[n], env[n]) for n in ours.keys() & env.keys() if ours[n] != env[n]}
    assert not disagree, f"pyproject vs environment.yml (name: (pyproject, environment.yml)): {disagree}"
    missing = sorted(pyproject_pins(extras=ENV_EXTRAS).keys() - env.keys())
    assert not missing, f"pinned in pyproject.toml but absent from environment.yml: {missing}"


def test_environment_yml_python_matches():
    _, conda = environment_pins()
    assert "python=3.11" in conda
    assert "pip" in conda


def test_lock_agrees_with_pyproject():
    lock = lock_pins()
    ours = pyproject_pins(extras=ENV_EXTRAS)
    missing = sorted(ours.keys() - lock.keys())
    assert not missing, f"pinned in pyproject.toml but absent from requirements.lock: {missing}"
    disagree = {n: (ours[n], lock[n]) for n in ours if ours[n] != lock[n]}
    assert not disagree, f"pyproject vs requirements.lock (name: (pyproject, lock)): {disagree}"
    assert "quantlab" not in lock, "requirements.lock must not pin the project itself"


def test_lock_is_fully_pinned():
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            assert PIN.match(line), f"requirements.lock line is not an exact pin: {line!r}"


def test_installed_environment_matches_lock():
    from importlib.metadata import PackageNotFoundError, version

    wrong = {}
    for name, want in lock_pins().items():
        try:
            have = version(name)
        except PackageNotFoundError:
            have = None
        if have != want:
            wrong[name] = (want, have)
    assert not wrong, f"installed versions differ from requirements.lock (name: (lock, installed)): {wrong}"


def test_package_data_declared():
    """Every shipped spec (quantlab/experiments/specs/*.toml) is package data of its package."""
    from quantlab.experiments.spec import SPECS_DIR

    setuptools = pyproject()["tool"]["setuptools"]
    assert "specs/*.toml" in setuptools["package-data"]["quantlab.experiments"]
    declared = {path.resolve() for package, patterns in setuptools["package-data"].items() for pattern in patterns
                for path in (ROOT / package.replace(".", "/")).glob(pattern)}
    shipped = {path.resolve() for path in SPECS_DIR.glob("*.toml")}
    assert shipped and shipped <= declared


def test_quantlab_is_the_editable_checkout():
    import quantlab

    assert Path(quantlab.__file__).resolve().parent == ROOT / "quantlab"
    assert isinstance(quantlab.NUMERICS_VERSION, int)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", quantlab.__version__)


def test_import_quantlab_is_light():
    """ARCHITECTURE.md: TensorFlow, tensorflow-datasets and Altair are imported only where needed."""
    code = (
        "import sys, quantlab; "
        "heavy = [m for m in ('tensorflow', 'tensorflow_datasets', 'altair') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, f"`import quantlab` pulled in heavy modules: {r.stdout}{r.stderr}"


# ---- vega scripts served from the book's _static (see facts: offline Altair) ----


def vega_pins() -> dict[str, str]:
    text = (ROOT / "scripts" / "fetch_vega.sh").read_text()
    found = dict(re.findall(r'^\s*"(vega(?:-lite|-embed)?) (\d+\.\d+\.\d+) sha512-\S+"', text, re.M))
    assert set(found) == {"vega", "vega-lite", "vega-embed"}, found
    return found


def altair_versions() -> dict[str, str]:
    alt = pytest.importorskip("altair")
    return {"vega": alt.VEGA_VERSION, "vega-lite": alt.VEGALITE_VERSION, "vega-embed": alt.VEGAEMBED_VERSION}


def test_vega_script_versions_match_altair():
    # Altair records some versions as a major version only ("6"): the npm pin must lie within it.
    for lib, want in altair_versions().items():
        have = vega_pins()[lib]
        assert have == want or have.startswith(want + "."), f"{lib}: npm pin {have} vs altair {want}"


def test_vega_config_js_matches_altair():
    text = (ROOT / "book" / "_static" / "vega-config.js").read_text()
    got = dict(re.findall(r'(\w+_version)\s*:\s*"([^"]+)"', text))
    want = {f"{lib.replace('-', '')}_version": v for lib, v in altair_versions().items()}
    assert got == want, "window.VEGA_DEBUG must hold altair's versions or Altair loads vega from a CDN"


def test_book_config_serves_vega_locally():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = cfg["sphinx"]["config"]
    js = sphinx["html_js_files"]
    assert js == ["vega/vega.min.js", "vega/vega-lite.min.js", "vega/vega-embed.min.js", "vega-config.js"]
    assert "book/_static" in sphinx["html_static_path"]
    assert sphinx["nb_execution_raise_on_error"] is True
    assert cfg["execute"]["execute_notebooks"] == "force"
    assert cfg["only_build_toc_files"] is True


def test_committed_vega_scripts_are_the_pinned_versions():
    """book/_static/vega/SHA256SUMS (written by scripts/fetch_vega.sh) names the versions pinned there."""
    sums = (ROOT / "book" / "_static" / "vega" / "SHA256SUMS").read_text()
    assert dict(re.findall(r"^# (\S+) (\S+)$", sums, re.M)) == vega_pins(), (
        "run `make vega` and commit book/_static/vega")
