"""quantlab.book: the page table, the re-run box it generates, the CSV files of the chapters and the Sphinx
extension's hooks (on stand-ins for Sphinx's objects; tests/test_site.py checks the built site)."""

from __future__ import annotations

import ast
import csv
import json
import re
import types
from pathlib import Path

import pytest
import yaml

from bookpages import fact_conflicts, glued_facts, toc_files

from quantlab import book
from quantlab.analysis import rows as rowmod
from quantlab.experiments.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent


def test_every_notebook_chapter_is_in_the_table_and_every_entry_is_a_chapter():
    notebooks = [p for p in toc_files() if re.search(r"^kernelspec:", (ROOT / f"{p}.md").read_text(), re.M)]
    assert sorted(book.page_of(p) for p in notebooks) == sorted(book.PAGES)
    for name, page in book.PAGES.items():
        for spec in page.specs:
            load_spec(spec)  # a shipped spec
        assert set(page.csv) <= set(page.specs)
        assert page.specs or page.computes, f"{name}: says neither what it reads nor what it computes"


def test_page_rejects_csv_of_a_spec_it_does_not_read():
    with pytest.raises(ValueError, match="not among"):
        book.Page(specs=("ffdnn-width",), csv=("cnn-maps",))


def test_rerun_box_routes_reads_and_downloads():
    box = book.rerun_box("retraining")
    assert box.startswith("````{admonition} " + book.BOX_TITLE) and box.rstrip().endswith("````")
    assert "`make lab` opens `lab/" in box and "Open With > Jupytext Notebook" in box
    assert "`.venv/bin/python -m quantlab notebook book/retraining.md --out /tmp/retraining.ipynb`" in box
    for name in ("budget-ffdnn", "budget-cnn"):
        spec = load_spec(name)
        assert (f"`{name}` ({len(spec.trials())} trials x {len(spec.seeds)} seeds, "
                f"`quantlab/experiments/specs/{name}.toml`)") in box
        assert f"{{download}}`{name}.csv <{book.csv_name(name)}>`" in box
    assert f"{{download}}`columns.csv <{book.COLUMNS_CSV}>`" in box and "QUANTLAB_TRAIN=1" in box
    quantizer = book.rerun_box("quantizer")
    assert "It reads" not in quantizer and "{download}" not in quantizer and "trains its own" in quantizer
    assert "book/x/quantizer.md" in book.rerun_box("quantizer", "book/x/quantizer.md")
    with pytest.raises(KeyError, match="PAGES"):
        book.rerun_box("no_such_chapter")


def test_insert_box_goes_under_the_title():
    text = "---\njupytext:\n  x: 1\nkernelspec:\n  name: python3\n---\n\n# Title\n\nFirst paragraph.\n"
    out = book.insert_box(text, "BOX\n")
    assert out.index("# Title") < out.index("BOX") < out.index("First paragraph.")
    assert out.startswith("---\njupytext:")
    untitled = book.insert_box("---\na: 1\n---\nbody\n", "BOX\n")
    assert untitled.index("BOX") < untitled.index("body") and untitled.startswith("---\na: 1\n---\n")
    end = book.insert_box(text, "BOX\n", "end")
    assert end.startswith(text.rstrip()) and end.endswith("\n\nBOX\n")
    assert book.PAGES["intro"].box == "end" and book.PAGES["ffdnn_width"].box == "top"
    with pytest.raises(ValueError, match="box"):
        book.Page(box="middle")


def test_write_csv_one_file_per_spec(tmp_path):
    rows = [{"spec": s, "trial": f"t{i}", "seed": 0, "method": "float", "bits": 32, "test_error": 0.1 * i,
             "params": 10, "weights": 9} for i, s in enumerate(["a", "b", "a"])]
    paths = book.write_csv(rows, tmp_path / "csv")
    assert paths == [tmp_path / "csv" / "a.csv", tmp_path / "csv" / "b.csv"]
    with open(paths[0], newline="") as f:
        back = list(csv.DictReader(f))
    assert [r["trial"] for r in back] == ["t0", "t2"] and float(back[1]["test_error"]) == 0.2
    assert (tmp_path / "csv" / "columns.csv").is_file()  # the column dictionary travels with the data
    with pytest.raises(ValueError, match="spec"):
        book.write_csv([{"trial": "x"}], tmp_path)
    with pytest.raises(ValueError, match="no rows"):
        book.write_csv([], tmp_path)


def test_write_table_keeps_the_rows_own_column_order(tmp_path):
    rows = [{"claim": 1, "sweep": "a", "verdict": "reproduced", "small_gap": 0.5},
            {"claim": 2, "sweep": "a", "verdict": "inconclusive", "large_gap": 0.01, "cells": [1, 2]}]
    with open(book.write_table(rows, "verdicts", tmp_path), newline="") as f:
        back = list(csv.reader(f))
    assert back[0] == ["claim", "sweep", "verdict", "small_gap", "large_gap"]  # lists are left out
    assert back[2] == ["2", "a", "inconclusive", "", "0.01"]


def test_write_csv_default_folder_is_relative_to_the_chapter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [{"spec": "s", "trial": "t", "seed": 0, "method": "float", "bits": 32, "test_error": 0.5}]
    path, = book.write_csv(rows)
    assert path == Path(book.csv_name("s")) and (tmp_path / book.csv_name("s")).is_file()
    assert rowmod.CSV_FIELDS[0] == "spec"


# -- the Sphinx hooks, on stand-ins -----------------------------------------------------------------------

MD = "---\nkernelspec:\n  name: python3\n---\n\n# A chapter\n\ntext\n"


def fake_app(tmp_path, thebe=False):
    title = types.SimpleNamespace(astext=lambda: "The data: Fashion-MNIST")
    env = types.SimpleNamespace(doc2path=lambda docname: str(tmp_path / f"{docname}.md"),
                                metadata={"book/data": {"kernelspec": {"name": "python3"}}, "book/bibliography": {}},
                                titles={"book/data": title},
                                toc_fignumbers={"book/data": {"figure": {"fig-a": (12, 1)}}})
    return types.SimpleNamespace(
        env=env, srcdir=str(tmp_path), outdir=str(tmp_path / "_build" / "html"),
        config=types.SimpleNamespace(html_theme_options={"launch_buttons": {"thebe": thebe}}))


def test_source_read_adds_the_box_to_notebook_chapters_only(tmp_path):
    app = fake_app(tmp_path)
    source = [MD]
    book._source_read(app, "book/data", source)
    assert book.BOX_TITLE in source[0] and "book/data.md" in source[0]
    plain = ["# Bibliography\n\ntext\n"]
    book._source_read(app, "book/bibliography", plain)
    assert plain == ["# Bibliography\n\ntext\n"]


def test_page_context_offers_the_executed_notebook(tmp_path):
    app = fake_app(tmp_path)
    executed = tmp_path / "_build" / "jupyter_execute" / "book" / "data.ipynb"
    executed.parent.mkdir(parents=True)
    executed.write_text(json.dumps({"nbformat": 4, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "{doc}`data`: {glue:text}`n:,d` images, {numref}`fig-a`"},
        {"cell_type": "code", "metadata": {"mystnb": {"figure": {"name": "fig-a", "caption": "Counts."}}},
         "source": "chart()", "outputs": []}]}))
    executed.with_suffix(".glue.json").write_text(json.dumps({"n": {"data": {"text/plain": "60000"}}}))
    context = {"sourcename": "book/data.md"}
    book._page_context(app, "book/data", "page.html", context, doctree=object())
    assert context["ipynb_source"] == "book/data.ipynb"
    offered = json.loads((tmp_path / "_build" / "html" / "_sources" / "book" / "data.ipynb").read_text())
    assert [c["source"] for c in offered["cells"] if c["cell_type"] == "markdown"] == [
        "*The data: Fashion-MNIST*: 60,000 images, Fig. 12.1", "**Fig. 12.1** Counts."]
    other = {"sourcename": "book/bibliography.md"}
    book._page_context(app, "book/bibliography", "page.html", other, doctree=object())
    assert "ipynb_source" not in other


def test_drop_thebe_disconnects_sphinx_thebe_unless_thebe_is_on(tmp_path):
    import sphinx_thebe

    listener = types.SimpleNamespace
    other = listener(id=2, handler=book._source_read, priority=500)

    def app_with_listeners(thebe):
        app = fake_app(tmp_path, thebe)
        app.events = types.SimpleNamespace(listeners={
            "env-before-read-docs": [listener(id=1, handler=sphinx_thebe.init_thebe_core, priority=500), other],
            "doctree-resolved": [listener(id=3, handler=sphinx_thebe.update_thebe_context, priority=500)],
            "builder-inited": [listener(id=4, handler=sphinx_thebe.st_static_path, priority=500)],
        })
        app.builder = types.SimpleNamespace(css_files=[types.SimpleNamespace(filename="sphinx-thebe.css"),
                                                       types.SimpleNamespace(filename="theme.css")])
        app.registry = types.SimpleNamespace(css_files=[("sphinx-thebe.css", {}), ("x.css", {})])
        return app

    app = app_with_listeners(thebe=False)
    book._drop_thebe(app)
    assert app.events.listeners["env-before-read-docs"] == [other]
    assert app.events.listeners["doctree-resolved"] == []
    assert [c.filename for c in app.builder.css_files] == ["theme.css"]
    assert app.registry.css_files == [("x.css", {})]
    on = app_with_listeners(thebe=True)
    book._drop_thebe(on)
    assert len(on.events.listeners["env-before-read-docs"]) == 2


def test_build_fails_loudly_when_a_chart_script_is_missing(tmp_path):
    """The vega scripts ship with the book; a build without one fails instead of publishing blank charts."""
    from sphinx.errors import ExtensionError

    (tmp_path / "static" / "vega").mkdir(parents=True)
    (tmp_path / "static" / "vega" / "vega.min.js").write_text("")
    config = types.SimpleNamespace(html_static_path=["static"],
                                   html_js_files=["vega/vega.min.js", ("https://example.org/x.js", {})])
    app = types.SimpleNamespace(confdir=str(tmp_path), config=config)
    book._check_scripts(app)  # present locally, or remote
    config.html_js_files.append("vega/vega-lite.min.js")
    with pytest.raises(ExtensionError, match="vega/vega-lite.min.js.*make vega"):
        book._check_scripts(app)


def test_the_chart_scripts_ship_with_the_book():
    """book/_static/vega holds the files html_js_files names, byte for byte as scripts/fetch_vega.sh fetched them."""
    import hashlib

    vega = ROOT / "book" / "_static" / "vega"
    sums = [line.split() for line in (vega / "SHA256SUMS").read_text().splitlines() if not line.startswith("#")]
    assert sorted(name for _, name in sums) == ["vega-embed.min.js", "vega-lite.min.js", "vega.min.js"]
    for digest, name in sums:
        assert hashlib.sha256((vega / name).read_bytes()).hexdigest() == digest, f"{name} differs from SHA256SUMS"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    for name in config["html_js_files"]:
        assert (ROOT / config["html_static_path"][0] / name).is_file(), name


def test_the_lists_of_reference_specs_have_one_home():
    """quantlab.book names the reference and map specs; the Makefile and the GPU script read them there."""
    from quantlab.experiments.spec import shipped_specs

    assert set(book.REFERENCE_SPECS + book.MAP_SPECS) <= set(shipped_specs())
    makefile = (ROOT / "Makefile").read_text()
    assert "$(call SPECS_OF,REFERENCE_SPECS)" in makefile and "$(call SPECS_OF,MAP_SPECS)" in makefile
    for line in makefile.splitlines():  # no list of its own: no line names two of the specs
        named = [name for name in book.REFERENCE_SPECS + book.MAP_SPECS if re.search(rf"\b{name}\b", line)]
        assert len(named) < 2, line
    assert "REFERENCE_SPECS" in (ROOT / "scripts" / "reference_gpu.sh").read_text()


# A code cell's source (group 1), after its options: `:key: value` lines or a YAML block between `---` lines.
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(?:---\n.*?^---\n|(?::[^\n]*\n)*)(.*?)^```", re.S | re.M)


def test_chapters_define_no_function_and_compare_no_numbers():
    """Chapters are thin: a code cell calls the library, formats and glues. A function, lambda or class
    in a cell, or an ordering comparison (<, <=, >, >=: the shape of a threshold, a verdict or a
    selection), belongs in a tested library function instead."""
    found = []
    for page in sorted((ROOT / "book").glob("*.md")):
        text = page.read_text()
        for cell in CODE_CELL.finditer(text):
            source = cell.group(1)
            first = text[: cell.start(1)].count("\n") + 1
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)) or (
                        isinstance(node, ast.Compare)
                        and any(isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for op in node.ops)):
                    found.append(f"{page.name}:{first + node.lineno - 1}: {ast.unparse(node).splitlines()[0][:80]}")
    assert not found, "chapter code that belongs in the library:\n" + "\n".join(found)


def chapter_sections(page: str) -> list[tuple[str, str]]:
    """The `## ` sections of a chapter, in order: (heading, text up to the next `## ` heading)."""
    text = (ROOT / f"{page}.md").read_text()
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return list(zip(parts[1::2], parts[2::2]))


def claim_chapters() -> list[str]:
    """The chapters of the parts "The paper's claims" and "Beyond the paper" (_toc.yml)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] if part["caption"] in ("The paper's claims", "Beyond the paper")
            for c in part["chapters"]]


@pytest.mark.parametrize("page", claim_chapters())
def test_chapter_ends_with_its_findings_and_exercises(page):
    """Every chapter ends with "What this chapter found" (computed: glued numbers or verdicts, never typed
    in) and "Exercises" (at least two a reader can run)."""
    sections = chapter_sections(page)
    assert [h for h, _ in sections[-2:]] == ["What this chapter found", "Exercises"], [h for h, _ in sections]
    found, exercises = sections[-2][1], sections[-1][1]
    assert "{glue:" in found or "```{glue:md}" in found, f"{page}: the findings glue nothing computed"
    prose = re.sub(r"\{glue:[a-z]+\}`[^`]*`|```\{glue:md\}.*?```", "", found, flags=re.S)
    assert not re.search(r"\d+\.\d+\s*(%|points|pp)", prose), f"{page}: a typed-in number in the findings"
    assert len(re.findall(r"^\d+\. ", exercises, re.M)) >= 2, f"{page}: fewer than two exercises"


def test_one_name_one_fact_across_pages(tmp_path):
    """The site test's rule on glue files: a shared key must be a registered book fact with one value;
    sweep chapters' keys are their own."""
    def page(name, **values):
        glued = {k: {"data": {"text/plain": repr(v)}} for k, v in values.items()}
        (tmp_path / f"{name}.glue.json").write_text(json.dumps(glued))

    page("intro", n_test=10000, dataset="Fashion-MNIST")
    page("report", n_test=10000)
    page("ffdnn_width", gap2_largest=0.21)
    page("cnn_maps", gap2_largest=1.11)
    facts = glued_facts(tmp_path, book.PAGES)
    assert facts["ffdnn_width:gap2_largest"] == {"ffdnn_width": "0.21"} and "gap2_largest" not in facts
    assert fact_conflicts(facts, book.BOOK_FACTS) == []
    page("report", n_test=9999, dataset="Fashion-MNIST")
    problems = fact_conflicts(glued_facts(tmp_path, book.PAGES), book.BOOK_FACTS)
    assert len(problems) == 2
    assert "'dataset' is glued on ['intro', 'report'] but is not one of" in problems[0]
    assert "'n_test' differs between pages: {'intro': '10000', 'report': '9999'}" in problems[1]


def test_seeds_text_names_each_count():
    assert rowmod.seeds_text(["ffdnn-width", "cnn-maps", "budget-ffdnn"]) == (
        "5 in ffdnn-width and cnn-maps and 3 in budget-ffdnn")
    assert rowmod.seeds_text(["ffdnn-width", "budget-ffdnn", "budget-cnn", "data-cnn"]) == (
        "5 in ffdnn-width and 3 in the other 3 specs")
    assert rowmod.seeds_text(["budget-ffdnn", "budget-cnn"]) == "3 in every spec"
