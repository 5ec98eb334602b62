"""The GitHub Actions workflow that publishes the book: it passes actionlint, builds with the README's
command on the machine the project is made for, and deploys what `make book` writes."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
LINT = ROOT / "scripts" / "actionlint.sh"


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), *map(str, files)], capture_output=True, text=True, timeout=300)


def test_the_workflow_passes_actionlint():
    run = actionlint(WORKFLOW)
    assert run.returncode == 0, run.stdout + run.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ matrix.nope }}\n      - uses: actions/checkout\n")
    run = actionlint(broken)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"{broken}:6:" in run.stdout and "nope" in run.stdout


def test_the_workflow_builds_the_book_and_deploys_it():
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    build, deploy = jobs["build"], jobs["deploy"]
    runs = [s["run"] for s in build["steps"] if "run" in s]
    assert runs == ["make book"]  # the README's command, nothing installed by hand
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    # The container's Python is the one requires-python and the lock are made for.
    python = re.fullmatch(r"python:(\d+\.\d+)-bookworm", build["container"]).group(1)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires.startswith(f">={python}") or f"=={python}" in requires, (python, requires)
