"""Notebooks that carry their numbers: MyST roles resolved from glued values (quantlab.notebooks)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from quantlab import notebooks

ROOT = Path(__file__).resolve().parent.parent

VALUES = {
    "gap": {"text/plain": "0.21349"},
    "n": {"text/plain": "6514"},
    "verdict": {"text/plain": "'reproduced'"},
    "table": {"text/plain": "<IPython.core.display.Markdown object>", "text/markdown": "| a |\n|---|\n| 1 |"},
    "html": {"text/plain": "<IPython.core.display.HTML object>", "text/html": "<table><tr><td>1</td></tr></table>"},
}


def test_glue_roles_become_their_values_formatted_as_the_book_formats_them():
    text = ("Gap {glue:text}`gap:.2f` points, {glue:text}`n:,d` parameters: **{glue:text}`verdict`**; "
            "{glue:md}`table`; from another page {glue:text}`report.md::gap:.1f`.")
    assert notebooks.render_markdown(text, VALUES) == (
        "Gap 0.21 points, 6,514 parameters: **reproduced**; | a |\n|---|\n| 1 |; from another page 0.2.")


def test_glue_directives_become_their_markdown_or_html():
    text = "before\n\n```{glue:md} table\n:format: myst\n```\n\n```{glue:} html\n```\nafter"
    assert notebooks.render_markdown(text, VALUES) == (
        "before\n\n| a |\n|---|\n| 1 |\n\n<table><tr><td>1</td></tr></table>\nafter")


def test_references_become_the_text_they_stand_for():
    text = ("See {doc}`ffdnn_width`, {doc}`the report <report>`, {numref}`fig-gap`, the {term}`gap`, "
            "{term}`pp <percentage point>`, {download}`data.csv <_csv/data.csv>` and {cite:t}`sung2015`.")
    out = notebooks.render_markdown(text, {}, titles={"ffdnn_width": "Fully connected networks: width"},
                                    figures={"fig-gap": "3.2"})
    assert out == ("See *Fully connected networks: width*, *the report*, Fig. 3.2, the gap, pp, `data.csv` and "
                   "[sung2015].")


def test_an_admonition_becomes_a_quote_with_its_roles_resolved():
    text = "````{admonition} How to re-run\n:class: tip\n\n- runs {glue:text}`n:,d` trials\n````\nnext"
    assert notebooks.render_markdown(text, VALUES) == "> **How to re-run**\n>\n> - runs 6,514 trials\nnext"


def test_a_missing_glue_key_is_named():
    with pytest.raises(ValueError, match="'nope'"):
        notebooks.render_markdown("{glue:text}`nope`", VALUES)


def test_resolve_captions_every_figure_and_keeps_the_input_unchanged():
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "As {numref}`fig-b` shows, {glue:text}`gap:.1f`."},
        {"cell_type": "code", "metadata": {"mystnb": {"figure": {"name": "fig-a", "caption": "First."}}},
         "source": "chart()", "outputs": []},
        {"cell_type": "code", "metadata": {"mystnb": {"figure": {"name": "fig-b", "caption": "Second,\n  see\n"
                                                                                      "{numref}`fig-a`."}}},
         "source": "chart()", "outputs": [{"output_type": "display_data", "data": {"text/plain": "0.5"},
                                             "metadata": {"scrapbook": {"name": "gap"}}}]},
    ]}
    before = json.dumps(nb)
    out = notebooks.resolve(nb, notebooks.glue_values(nb))
    assert json.dumps(nb) == before
    assert [c["source"] for c in out["cells"] if c["cell_type"] == "markdown"] == [
        "As Fig. 2 shows, 0.5.", "**Fig. 1** First.", "**Fig. 2** Second, see Fig. 1."]
    assert all(c["id"].endswith("-caption") for c in out["cells"] if c["source"].startswith("**Fig."))  # nbformat 4.5


@pytest.mark.slow  # runs a Jupyter kernel
def test_a_chapter_run_from_its_source_shows_numbers_not_roles(tmp_path):
    out = tmp_path / "ffdnn_width.ipynb"
    run = subprocess.run([sys.executable, "-m", "quantlab", "notebook", str(ROOT / "book" / "ffdnn_width.md"),
                          "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    nb = json.loads(out.read_text())
    text = "\n".join(c["source"] for c in nb["cells"] if c["cell_type"] == "markdown")
    assert not re.search(r"\{(glue|doc|numref|term|download)", text), "roles left in the notebook's text"
    assert re.search(r"Claim 1, \"Gap in small networks\": \*\*[a-z ]+\*\*; ternary gap \+\d+\.\d\d pp", text)
    assert "**Fig. 1**" in text and any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.slow  # runs a Jupyter kernel
def test_notebook_command_fails_on_a_failing_cell_and_writes_nothing(tmp_path):
    chapter = tmp_path / "broken.md"
    chapter.write_text("---\njupytext:\n  text_representation:\n    format_name: myst\nkernelspec:\n"
                       "  display_name: Python 3\n  name: python3\n---\n\n# Broken\n\n"
                       "```{code-cell} ipython3\nraise ValueError('no records for this chapter')\n```\n")
    run = subprocess.run([sys.executable, "-m", "quantlab", "notebook", str(chapter), "--out",
                          str(tmp_path / "x.ipynb")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "a cell of" in run.stderr and "no records for this chapter" in run.stderr
    assert not (tmp_path / "x.ipynb").exists()


def test_notebook_command_refuses_what_is_not_a_chapter(tmp_path):
    run = subprocess.run([sys.executable, "-m", "quantlab", "notebook", str(tmp_path / "nope.md"), "--out",
                          str(tmp_path / "x.ipynb")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "CHAPTER must be" in run.stderr and not (tmp_path / "x.ipynb").exists()
