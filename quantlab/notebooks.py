"""Executed chapter notebooks that carry their numbers outside the book.

A chapter's prose quotes its numbers through MyST roles (``{glue:text}`gap2_largest:.2f```), which
only Sphinx renders: in Jupyter the reader would see the roles, not the numbers. :func:`resolve`
rewrites an executed notebook's Markdown cells into plain Markdown: every glue role and directive
becomes its value (formatted as the book formats it), cross-references become the text they stand
for (a chapter's title, ``Fig. 3.2``, a glossary term), admonitions become quotes, and each figure's
caption follows its chart. It is a pure function on notebook JSON (``nbformat`` v4 dicts).

Used twice, so a notebook reads the same wherever it comes from: by the book's Sphinx extension for
the ``.ipynb`` each chapter offers (:mod:`quantlab.book`, glue values from myst-nb's
``<page>.glue.json``), and by ``python -m quantlab notebook`` (:func:`execute`), which runs a chapter
from ``book/<page>.md`` and keeps the glue values its cells emitted.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

GLUE_PREFIX = "application/papermill.record/"
"""How myst-nb's ``glue`` marks its outputs' MIME types in an executed cell."""

_ROLE = re.compile(r"\{(glue:text|glue:md|glue:|glue|doc|numref|term|cite:t|cite:p|download)\}`([^`]*)`")
_GLUE_DIRECTIVE = re.compile(r"^(`{3,})\{glue:(?:md)?\}\s+(\S+)\n(?::[^\n]*\n)*\1[ \t]*$", re.M)
_ADMONITION = re.compile(r"^(`{3,})\{admonition\}\s*([^\n]*)\n((?::[^\n]*\n)*)\n?(.*?)^\1[ \t]*$", re.M | re.S)
_LABELLED = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.S)


def glue_values(nb: Mapping[str, Any], saved: Mapping[str, Any] | None = None) -> dict[str, dict]:
    """Every glued value of an executed notebook, ``{key: MIME bundle}``: myst-nb's ``saved``
    glue file (``{key: output}``, as ``<page>.glue.json``) and the glue outputs left in the cells."""
    values = {key: dict(out.get("data", {})) for key, out in (saved or {}).items()}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                values[name] = {mime.removeprefix(GLUE_PREFIX): data for mime, data in out.get("data", {}).items()}
    return values


def _text(data: Any) -> str:
    return "".join(data) if isinstance(data, list) else str(data)


def _value(bundle: Mapping[str, Any], key: str, spec: str, role: str) -> str:
    if role == "glue:md" and "text/markdown" in bundle:
        return _text(bundle["text/markdown"])
    if role in ("glue", "glue:") and not spec:
        for mime in ("text/markdown", "text/html"):
            if mime in bundle:
                return _text(bundle[mime])
    plain = _text(bundle.get("text/plain", ""))
    try:
        value = ast.literal_eval(plain)
    except (ValueError, SyntaxError):
        value = plain
    if spec:
        try:
            return format(value, spec)
        except (TypeError, ValueError) as e:
            raise ValueError(f"glue value {key!r} ({plain!r}) does not take the format {spec!r}") from e
    return str(value)


def render_markdown(text: str, values: Mapping[str, Mapping[str, Any]], titles: Mapping[str, str] | None = None,
                    figures: Mapping[str, str] | None = None) -> str:
    """``text`` (a Markdown cell) with every glue role and directive replaced by its value from
    ``values`` (:func:`glue_values`), ``{doc}`` by the target's title (``titles``: page -> title),
    ``{numref}`` by ``Fig. <figures[id]>``, ``{term}``, ``{download}`` and ``{cite:*}`` by their text,
    and admonitions by a quoted block. Raises ValueError on a glue key that ``values`` lacks."""
    titles, figures = titles or {}, figures or {}

    def glued(key: str) -> Mapping[str, Any]:
        key = key.split("::")[-1]
        if key not in values:
            raise ValueError(f"the notebook glued no value {key!r}; glued: {', '.join(sorted(values)) or 'none'}")
        return values[key]

    def role(m: re.Match) -> str:
        name, content = m.group(1), m.group(2)
        if name.startswith("glue"):
            key, _, spec = content.split("::")[-1].partition(":")
            return _value(glued(key), key, spec, name)
        labelled = _LABELLED.match(content)
        label, target = (labelled.group(1), labelled.group(2)) if labelled else (None, content)
        if name == "doc":
            return f"*{label or titles.get(target, target)}*"
        if name == "numref":
            return f"Fig. {figures[target]}" if target in figures else (label or target)
        if name == "download":
            return f"`{label or target}`"
        if name.startswith("cite"):
            return f"[{target}]"
        return label or target  # term

    def directive(m: re.Match) -> str:
        bundle = glued(m.group(2))
        return _value(bundle, m.group(2), "", "glue:md" if "text/markdown" in bundle else "glue")

    def admonition(m: re.Match) -> str:
        body = render_markdown(m.group(4).rstrip("\n"), values, titles, figures)
        return "\n".join([f"> **{m.group(2).strip()}**", ">"] + [f"> {line}".rstrip() for line in body.split("\n")])

    text = _ADMONITION.sub(admonition, text)
    text = _GLUE_DIRECTIVE.sub(directive, text)
    return _ROLE.sub(role, text)


def figure_numbers(nb: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{figure name: number}`` of a notebook's figure cells (``mystnb: figure: name`` metadata) in
    order: ``prefix`` + 1, 2, ... (``prefix="3."``: the numbers of chapter 3)."""
    names = [cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("name") for cell in nb.get("cells", [])]
    return {name: f"{prefix}{k}" for k, name in enumerate((n for n in names if n), start=1)}


def resolve(nb: Mapping[str, Any], values: Mapping[str, Mapping[str, Any]], titles: Mapping[str, str] | None = None,
            figures: Mapping[str, str] | None = None) -> dict:
    """A copy of the executed notebook ``nb`` whose Markdown cells are plain Markdown
    (:func:`render_markdown`) and whose figure cells are each followed by their caption
    (``**Fig. 3.2** caption``; ``figures`` as there, default :func:`figure_numbers`)."""
    out = copy.deepcopy(dict(nb))
    figures = figure_numbers(nb) if figures is None else figures
    cells = []
    for cell in out.get("cells", []):
        if cell.get("cell_type") == "markdown":
            cell["source"] = render_markdown(_text(cell.get("source", "")), values, titles, figures)
        cells.append(cell)
        figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
        if cell.get("cell_type") == "code" and figure.get("caption"):
            number = figures.get(figure.get("name"), "")
            caption = render_markdown(" ".join(str(figure["caption"]).split()), values, titles, figures)
            cells.append({"cell_type": "markdown", "id": f"{cell.get('id', len(cells))}-caption", "metadata": {},
                          "source": f"**Fig. {number}** {caption}"})
    out["cells"] = cells
    return out


def page_titles(book: Path) -> dict[str, str]:
    """``{page: title}`` of the Markdown pages in ``book`` (their first ``# `` heading)."""
    titles = {}
    for page in sorted(Path(book).glob("*.md")):
        m = re.search(r"^# (.+)$", page.read_text(), re.M)
        if m:
            titles[page.stem] = m.group(1).strip()
    return titles


def dumps(nb: dict) -> str:
    """The notebook's ``.ipynb`` text, as the book offers it and ``python -m quantlab notebook`` writes it."""
    return json.dumps(nb, indent=1, ensure_ascii=False)


def execute(source: str | Path, timeout: int = 1800) -> dict:
    """Run the MyST notebook chapter ``source`` (``book/<page>.md``) in its folder, as the book does,
    and return it resolved (:func:`resolve`; figures numbered 1, 2, ... within the notebook)."""
    import nbclient
    import nbformat
    from myst_nb.core.read import read_myst_markdown_notebook

    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"no chapter {source}: give a book/<page>.md file")
    nb = nbformat.from_dict(read_myst_markdown_notebook(source.read_text(), path=str(source)))
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name=nb.metadata.get("kernelspec", {}).get(
        "name", "python3"), resources={"metadata": {"path": str(source.parent.resolve())}})
    client.execute()
    return resolve(nb, glue_values(nb), page_titles(source.parent))


__all__ = ["GLUE_PREFIX", "dumps", "execute", "figure_numbers", "glue_values", "page_titles", "render_markdown",
           "resolve"]
