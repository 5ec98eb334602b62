"""A sweep chapter given another spec renders that sweep the same way (``$QUANTLAB_SPECS``,
``quantlab.book.chapter_spec``): the paper's own datasets (MNIST, CIFAR-10) cannot be downloaded here,
so the committed Fashion-MNIST records are re-filed under the other spec's keys in a temporary store
(synthetic records for this test only), and the executed chapter must name the other dataset and spec
and show the same numbers."""

from __future__ import annotations

import pytest

from quantlab import book
from quantlab.analysis import stats
from quantlab.analysis.rows import summarise, tidy
from quantlab.experiments.spec import load_spec
from quantlab.experiments.store import Store
from quantlab.formatting import glue_ends

pytestmark = pytest.mark.slow


def refile(source, target, root, store_dir) -> None:
    """Copies the committed records of spec ``source`` into ``store_dir`` under spec ``target``'s keys."""
    committed, store = Store(root / "results"), Store(store_dir)
    for a, b in zip(source.trials(), target.trials(), strict=True):
        for seed in target.seeds:
            record = committed.get(a, seed)
            store.put(b, seed, record["metrics"], record["provenance"])


def execute(root, chapter: str, workdir) -> tuple[dict[str, str], str]:
    """Runs ``book/<chapter>.md`` in a kernel started in ``workdir`` (environment inherited); returns
    its glued values (name -> text) and all its other outputs' text."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from nbclient import NotebookClient

    notebook = read_myst_markdown_notebook((root / "book" / f"{chapter}.md").read_text())
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    glued, shown = {}, []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            prefix = "application/papermill.record/" if name else ""
            data = out.get("data", {})
            text = data.get(f"{prefix}text/markdown") or data.get(f"{prefix}text/plain") or out.get("text", "")
            if name:
                glued[name] = text
            else:
                shown.append(text)
    return glued, "\n".join(shown)


def test_width_chapter_renders_the_mnist_sweep(repo_root, tmp_path, monkeypatch):
    shipped, mnist = load_spec("ffdnn-width"), load_spec("mnist-width")
    refile(shipped, mnist, repo_root, tmp_path / "store")
    monkeypatch.setenv("QUANTLAB_RESULTS", str(tmp_path / "store"))
    monkeypatch.setenv(book.ENV_SPECS, "ffdnn-width=mnist-width")
    glued, shown = execute(repo_root, "ffdnn_width", tmp_path)

    assert glued["data_note"].startswith("The data is MNIST (a stand-in") and "Fashion" not in glued["data_note"]
    assert "`mnist-width`" in glued["sweep_source"] and "specs/mnist-width.toml" in glued["sweep_source"]
    assert mnist.description in shown and "Spec `mnist-width` on MNIST" in shown
    assert (tmp_path / book.csv_name("mnist-width")).is_file()
    assert (tmp_path / book.curves_csv_name("mnist-width")).is_file()  # the curves of the spec shown
    # the same numbers as the records it was given: the shipped sweep's, read through the other keys
    expected = glue_ends(stats.sweep_ends(summarise(tidy(shipped, store=Store(repo_root / "results")))))
    assert float(glued["gap2_smallest"]) == pytest.approx(expected["gap2_smallest"])
    assert float(glued["gap3_largest"]) == pytest.approx(expected["gap3_largest"])


def test_cnn_chapter_renders_a_spec_file_on_cifar10(repo_root, tmp_path, monkeypatch):
    text = (repo_root / "quantlab/experiments/specs/cnn-maps.toml").read_text()
    path = tmp_path / "cifar10-small.toml"
    path.write_text(text.replace('dataset = "fashion_mnist"', 'dataset = "cifar10"'))
    refile(load_spec("cnn-maps"), load_spec(path), repo_root, tmp_path / "store")
    refile(load_spec("ffdnn-width"), load_spec("ffdnn-width"), repo_root, tmp_path / "store")  # its comparison
    monkeypatch.setenv("QUANTLAB_RESULTS", str(tmp_path / "store"))
    monkeypatch.setenv(book.ENV_SPECS, f"cnn-maps={path}")
    glued, shown = execute(repo_root, "cnn_maps", tmp_path)

    assert glued["data_note"].startswith("The data is CIFAR-10, most likely the paper's own")
    assert str(path) in glued["sweep_source"] and "Spec `cifar10-small` on CIFAR-10" in shown
    assert glued["ffdnn_dataset"] == "'Fashion-MNIST'"  # its FFDNN comparison stays on the shipped sweep


def test_chapter_spec_keeps_the_shipped_spec_without_overrides(monkeypatch):
    monkeypatch.delenv(book.ENV_SPECS, raising=False)
    assert book.chapter_spec("ffdnn-width") == load_spec("ffdnn-width")
    assert "`ffdnn-width`" in book.rerun_box("ffdnn_width")


@pytest.mark.parametrize("value, message", [
    ("ffdnn-width", "not of the form shipped=other"),
    ("report=ffdnn-width", "not a spec that a chapter can swap for another; valid: cnn-maps, ffdnn-depth, ffdnn-width"),
    ("ffdnn-width=cnn-maps", "its family is 'cnn'"),
    ("ffdnn-width=budget-ffdnn", "its bits is (2,)"),
    ("ffdnn-width=ffdnn-depth", "its sizes vary width and depth, the chapter's vary width"),
    ("ffdnn-width=no-such-spec", "unknown spec 'no-such-spec'"),
])
def test_chapter_spec_names_what_is_wrong(monkeypatch, value, message):
    monkeypatch.setenv(book.ENV_SPECS, value)
    with pytest.raises(ValueError, match=r"\$QUANTLAB_SPECS") as error:
        book.chapter_spec("ffdnn-width")
    assert message in str(error.value)


def test_rerun_box_names_the_spec_in_place(monkeypatch, tmp_path):
    monkeypatch.setenv(book.ENV_SPECS, "ffdnn-width=mnist-width")
    box = book.rerun_box("ffdnn_width")
    assert "records in `results/` of spec `mnist-width`" in box and "mnist-width.csv <_csv/mnist-width.csv>" in box
    monkeypatch.setenv("QUANTLAB_RESULTS", str(tmp_path))
    assert f"records in `{tmp_path}` of spec `mnist-width`" in book.rerun_box("ffdnn_width")
    assert "`ffdnn-width`" in book.rerun_box("compression")  # a chapter that does not swap reads the shipped spec


def test_swappable_chapters_and_only_they_call_chapter_spec(repo_root):
    for page, entry in book.PAGES.items():
        source = repo_root / "book" / f"{page}.md"
        calls = source.read_text().count("chapter_spec(") if source.exists() else 0
        assert (calls > 0) == entry.swappable, page
