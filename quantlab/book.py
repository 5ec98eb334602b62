"""The book's page table, and the Sphinx extension that puts it on the pages.

:data:`PAGES` is the one place that says, for every chapter of the book (``book/<name>.md``), which
sweep specs (and so which result records) it reads, what else it computes, and which specs it offers
as a CSV download. From it:

* :func:`rerun_box` writes the "How to re-run this chapter" admonition (MyST Markdown) that the
  extension puts under the title of every chapter: the ``make lab`` route, the one-line
  ``python -m quantlab notebook`` route, what the chapter reads, and the links to its CSV files;
* :func:`write_csv` writes a chapter's tidy rows to the CSV files that the box links to (a chapter
  calls it; Sphinx's ``{download}`` role then copies them into the site, and a build whose chapter
  did not write a linked file fails, since a missing download is a warning and the build is strict);
* :func:`chapter_spec` gives a chapter the sweep it shows: its shipped spec, or the spec that
  ``$QUANTLAB_SPECS`` puts in its place (e.g. ``ffdnn-width=mnist-width``), so that a chapter renders
  the same sweep on another dataset (the re-run box names it too);
* :func:`setup` is the Sphinx extension (``sphinx.extra_extensions`` in ``_config.yml``). Besides
  the box it (a) offers each notebook page as ``.ipynb`` in the download menu: sphinx-book-theme
  1.3 does that only when an online launch service (Binder, JupyterHub, Colab, ...) is configured,
  and any of them would add a launch button into a repository this book does not have; (b) drops
  sphinx-thebe's scripts when Thebe is off (``launch_buttons.thebe: false``): Jupyter Book always
  loads sphinx-thebe, whose configuration script, written into every page twice, declares
  ``THEBE_JS_URL`` twice (a console error) and points at a CDN.

Sphinx is imported only inside the extension's functions: importing this module costs nothing.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from quantlab.formatting import and_list

CSV_DIR = "_csv"
"""Where :func:`write_csv` writes, relative to the chapter's folder (``book/``; the kernel of a
chapter runs there, under Jupyter Book, jupytext and JupyterLab alike). Not tracked by git."""

BOX_TITLE = "How to re-run this chapter"


@dataclasses.dataclass(frozen=True)
class Page:
    """One chapter: ``specs`` whose records it reads, ``csv`` the specs whose tidy rows it offers as
    CSV files (a subset of ``specs``), ``computes``: what else it does, in words (live training,
    the data), or None, and where its re-run ``box`` goes: under the title (``"top"``) or at the end
    of the page (``"end"``: the front page, whose result comes first). ``swappable``: the chapter
    shows :func:`chapter_spec` of its specs, so ``$QUANTLAB_SPECS`` changes what it reads."""

    specs: tuple[str, ...] = ()
    csv: tuple[str, ...] = ()
    computes: str | None = None
    box: str = "top"
    swappable: bool = False

    def __post_init__(self):
        extra = set(self.csv) - set(self.specs)
        if extra:
            raise ValueError(f"csv specs {sorted(extra)} are not among the specs the page reads {self.specs}")
        if self.box not in ("top", "end"):
            raise ValueError(f"box must be 'top' (under the title) or 'end' (of the page); got {self.box!r}")


REFERENCE_SPECS = ("ffdnn-width", "ffdnn-depth", "cnn-maps", "budget-ffdnn", "budget-cnn")
"""The specs of the paper's claims, in the order ``make reference`` (and ``make reference-gpu``) runs them."""
MAP_SPECS = ("precision-ffdnn", "precision-cnn", "data-ffdnn", "data-cnn", "rules-ffdnn", "signals-ffdnn",
             "signals-cnn")
"""The specs of the beyond-the-paper maps, in the order ``make reference-maps`` runs them."""
BOOK_FACTS = ("n_val", "n_test", "seeds_text", "noise_rule", "more_bits_ffdnn", "more_bits_cnn")
"""Glue keys that name one fact of the whole book: every page that glues one glues the same value
(tests/test_site.py). Any other key is its page's own, and a sweep chapter's (:attr:`Page.swappable`) a
fact of the spec it shows; a key on two pages that is neither fails that test: one name, one fact."""

PAGES: dict[str, Page] = {
    "intro": Page(specs=(*REFERENCE_SPECS, "data-ffdnn", "data-cnn", "signals-ffdnn", "signals-cnn"), box="end",
                  computes="counts and provenance of the reference records, the verdicts of "
                           "`quantlab.analysis.report` and the sweep planner's CPU estimate"),
    "quantizer": Page(computes="trains its own small FFDNN live (network and budget in its first cell; "
                               "the float network is cached in `$QUANTLAB_CACHE/float`); it reads no result records"),
    "retraining": Page(specs=("budget-ffdnn", "budget-cnn"), csv=("budget-ffdnn", "budget-cnn")),
    "ffdnn_width": Page(specs=("ffdnn-width",), csv=("ffdnn-width",), swappable=True),
    "ffdnn_depth": Page(specs=("ffdnn-depth",), csv=("ffdnn-depth",), swappable=True),
    "cnn_maps": Page(specs=("cnn-maps", "ffdnn-width"), csv=("cnn-maps",), swappable=True),
    "compression": Page(specs=("ffdnn-width", "cnn-maps")),
    "precision": Page(specs=("precision-ffdnn", "precision-cnn"), csv=("precision-ffdnn", "precision-cnn")),
    "signals": Page(specs=("signals-ffdnn", "signals-cnn", "precision-ffdnn", "precision-cnn"),
                    csv=("signals-ffdnn", "signals-cnn")),
    "data_limit": Page(specs=("data-ffdnn", "data-cnn"), csv=("data-ffdnn", "data-cnn")),
    "rules": Page(specs=("rules-ffdnn",), csv=("rules-ffdnn",)),
    "report": Page(specs=("ffdnn-width", "ffdnn-depth", "cnn-maps", "data-ffdnn", "data-cnn", "precision-ffdnn",
                          "precision-cnn", "rules-ffdnn", "signals-ffdnn", "signals-cnn")),
    "data": Page(computes="loads Fashion-MNIST through `quantlab.data` (cached in `$QUANTLAB_CACHE`, "
                          "default `~/.cache/quantlab`); it reads no result records"),
}
"""Every chapter of the book by file name (``book/<name>.md``). A notebook page missing here is
reported by the extension (a warning: the strict build fails)."""


def page_of(docname: str) -> str:
    """``book/ffdnn_width`` -> ``ffdnn_width``."""
    return docname.rsplit("/", 1)[-1]


COLUMNS_CSV = f"{CSV_DIR}/columns.csv"
"""The column dictionary of the CSVs (:data:`quantlab.analysis.rows.CSV_COLUMNS`), relative to a chapter."""


def csv_name(spec: str) -> str:
    """The CSV file of a spec's tidy rows, relative to the chapter: ``_csv/<spec>.csv``."""
    return f"{CSV_DIR}/{spec}.csv"


def curves_csv_name(spec: str) -> str:
    """The CSV file of a spec's per-epoch curves, relative to the chapter: ``_csv/<spec>-curves.csv``."""
    return f"{CSV_DIR}/{spec}-curves.csv"


def _shown_spec(name: str) -> Any:
    """The spec a chapter shows under ``name`` (a shipped spec, or what ``$QUANTLAB_SPECS`` put in
    the place of one); None for rows of a spec neither names (they get no curves file)."""
    from quantlab.experiments.spec import SpecError, load_spec

    for entry in PAGES.values():
        for shipped in entry.csv:
            spec = chapter_spec(shipped)
            if spec.name == name:
                return spec
    try:
        return load_spec(name)
    except SpecError:
        return None


def write_csv(rows: Iterable[Mapping[str, Any]], directory: str | os.PathLike = CSV_DIR) -> list[Path]:
    """Writes tidy rows (:func:`quantlab.analysis.rows.tidy`, one spec or several) to one CSV file per
    spec, ``<directory>/<spec>.csv`` (:func:`quantlab.analysis.rows.write_csv`), each spec's per-epoch
    curves (:func:`quantlab.analysis.rows.curves`, read from the same records) to
    ``<directory>/<spec>-curves.csv``, and the column dictionary beside them (:data:`COLUMNS_CSV`);
    returns the tidy files' paths in the order the specs first appear. Rows without a ``spec`` raise
    ValueError."""
    from quantlab.analysis import rows as rowmod

    by_spec: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        if not r.get("spec"):
            raise ValueError("rows without a 'spec' field: write_csv names its files after the spec of each row")
        by_spec.setdefault(r["spec"], []).append(r)
    if not by_spec:
        raise ValueError("no rows to write")
    rowmod.write_columns(Path(directory) / Path(COLUMNS_CSV).name)
    for spec in by_spec:
        shown = _shown_spec(spec)
        if shown is not None and (curves := rowmod.curves(shown)):
            rowmod.write_csv(curves, Path(directory) / Path(curves_csv_name(spec)).name)
    return [rowmod.write_csv(rs, Path(directory) / f"{spec}.csv") for spec, rs in by_spec.items()]


def write_table(rows: Iterable[Mapping[str, Any]], name: str, directory: str | os.PathLike = CSV_DIR) -> Path:
    """Writes rows that are not a spec's tidy rows (e.g. the report's verdicts,
    :func:`quantlab.analysis.report.finding_rows`) to ``<directory>/<name>.csv``
    (:func:`quantlab.analysis.rows.write_csv`, columns in the rows' own order) and returns its path."""
    from quantlab.analysis import rows as rowmod

    return rowmod.write_csv(rows, Path(directory) / f"{name}.csv", own_order=True)


ENV_SPECS = "QUANTLAB_SPECS"
"""Environment variable: comma-separated ``shipped=other`` pairs, each putting spec ``other`` (a shipped
spec's name or a ``.toml`` path) in the place of shipped spec ``shipped`` in the chapters that show it
(:attr:`Page.swappable`), e.g. ``ffdnn-width=mnist-width,cnn-maps=cifar10-maps``."""

SAME_KIND = ("family", "bits", "step_policies", "quantizers", "retrain_epochs", "train_subsets", "methods")
"""The fields a replacing spec must share with the spec it replaces (a chapter's text and charts are
written for them); its dataset, sizes, seeds and budgets may differ (the size axis must vary alike)."""


def spec_overrides(text: str | None = None) -> dict[str, str]:
    """``{shipped: other}`` parsed from ``text`` (default ``$QUANTLAB_SPECS``; empty: none). Raises
    ValueError naming the variable, the bad entry and the valid form."""
    text = os.environ.get(ENV_SPECS, "") if text is None else text
    out: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        shipped, sep, other = (part.strip() for part in entry.partition("="))
        if not (sep and shipped and other):
            raise ValueError(f"${ENV_SPECS}: entry {entry!r} is not of the form shipped=other "
                             "(e.g. ffdnn-width=mnist-width or cnn-maps=path/to/spec.toml)")
        shown = sorted({s for page in PAGES.values() if page.swappable for s in page.specs})
        if shipped not in shown:
            raise ValueError(f"${ENV_SPECS}: {shipped!r} is not a spec that a chapter can swap for another; "
                             f"valid: {', '.join(shown)}")
        out[shipped] = other
    return out


def _varied(spec: Any) -> tuple[str, ...]:
    """What a spec's sizes vary: a subset of ``("width", "depth")`` for FFDNNs, ``("feature maps",)`` for CNNs."""
    if spec.family == "cnn":
        return ("feature maps",) if len(set(spec.sizes)) > 1 else ()
    return tuple(axis for i, axis in enumerate(("width", "depth")) if len({size[i] for size in spec.sizes}) > 1)


def chapter_spec(shipped: str) -> Any:
    """The sweep (:class:`quantlab.experiments.spec.SweepSpec`) a chapter shows in the place of the
    shipped spec ``shipped``: the spec ``$QUANTLAB_SPECS`` maps it to, else ``shipped`` itself.
    A replacement must be a sweep of the same kind (:data:`SAME_KIND`, and its sizes must vary the
    same axes); else ValueError says which field differs."""
    from quantlab.experiments.spec import SpecError, load_spec

    base = load_spec(shipped)
    other = spec_overrides().get(shipped)
    if other is None:
        return base
    try:
        spec = load_spec(other)
    except SpecError as e:
        raise ValueError(f"${ENV_SPECS}: {shipped}={other}: {e}") from None
    why = f"${ENV_SPECS}: {other!r} cannot stand in for {shipped!r}:"
    for field in SAME_KIND:
        if getattr(spec, field) != getattr(base, field):
            raise ValueError(f"{why} its {field} is {getattr(spec, field)!r}, the chapter's sweep has "
                             f"{getattr(base, field)!r}")
    if _varied(spec) != _varied(base):
        raise ValueError(f"{why} its sizes vary {' and '.join(_varied(spec)) or 'nothing'}, the chapter's "
                         f"vary {' and '.join(_varied(base)) or 'nothing'}")
    return spec


def spec_file(spec: Any) -> str:
    """Where a spec comes from, for the reader: the shipped file's path in the repository, or the
    path it was loaded from."""
    return f"quantlab/experiments/specs/{spec.name}.toml" if spec.shipped or spec.source is None else str(spec.source)


def _spec_text(spec: Any) -> str:
    return f"`{spec.name}` ({len(spec.trials())} trials x {len(spec.seeds)} seeds, `{spec_file(spec)}`)"


def rerun_box(page: str, source: str | None = None) -> str:
    """The "How to re-run this chapter" admonition of chapter ``page`` (a key of :data:`PAGES`), as
    MyST Markdown. ``source`` is the chapter's path in the repository (default ``book/<page>.md``).
    Spec facts (networks, seeds) are read from the shipped specs, not typed."""
    if page not in PAGES:
        raise KeyError(f"chapter {page!r} is not in quantlab.book.PAGES; add what it reads there")
    entry = PAGES[page]
    source = source or f"book/{page}.md"
    stem = Path(source).stem
    lines = [
        f"- **In JupyterLab**: `make lab` opens `lab/{stem}.ipynb`, this page as a notebook with its numbers in "
        f"its text (re-running a cell updates its output, not the text); to change the chapter, right-click "
        f"`{source}` and choose *Open With > Jupytext Notebook* (its text shows the glue roles).",
        f"- **Without a browser**: `.venv/bin/python -m quantlab notebook {source} --out /tmp/{stem}.ipynb` runs it "
        f"and writes the notebook with its numbers in the text, as on this page.",
        "- **The downloaded notebook** (`.ipynb` in the download menu) is this page executed, its numbers in its "
        "text. To run it again it needs quantlab and the records: a clone of the repository (`make book` there "
        "sets both up), with the notebook in the clone's `book/` folder.",
    ]
    from quantlab.experiments.spec import load_spec

    shown = {s: chapter_spec(s) if entry.swappable else load_spec(s) for s in entry.specs}
    if entry.specs:
        from quantlab.experiments.environment import REPO_ROOT
        from quantlab.experiments.store import default_results_dir
        from quantlab.experiments.sweep import ENV_TRAIN

        specs = and_list([_spec_text(s) for s in shown.values()])
        where = default_results_dir(next(iter(shown.values())))
        where = "results/" if where == REPO_ROOT / "results" else str(where)
        lines.append(f"- **It reads** the records in `{where}` of {'spec' if len(entry.specs) == 1 else 'specs'} "
                     f"{specs}. Where one is missing the chapter stops and names the command that makes it "
                     f"(or set `{ENV_TRAIN}=1` to let the chapter train it).")
    if entry.computes:
        lines.append(f"- **It {'also ' if entry.specs else ''}computes**: {entry.computes}.")
    if entry.csv:
        names = [shown[s].name for s in entry.csv]
        links = ", ".join(f"{{download}}`{s}.csv <{csv_name(s)}>`" for s in names)
        curves = ", ".join(f"{{download}}`{s}-curves.csv <{curves_csv_name(s)}>`" for s in names)
        lines.append(f"- **Data**: {links}, the tidy results it draws (one row per network, seed, method and "
                     f"bit width); {curves}, every record's validation curve (one row per stage, bit width and "
                     f"epoch); each column's meaning and unit in {{download}}`columns.csv <{COLUMNS_CSV}>`.")
    body = "\n".join(lines)
    return f"````{{admonition}} {BOX_TITLE}\n:class: tip rerun-box\n\n{body}\n````\n"


_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
_TITLE = re.compile(r"^# .*$", re.M)


def insert_box(text: str, box: str, where: str = "top") -> str:
    """``text`` (a MyST notebook's source) with ``box`` inserted after its first ``# title`` line
    (or after its front matter when it has no title), or appended with ``where="end"``."""
    if where == "end":
        return f"{text.rstrip()}\n\n{box}"
    front = _FRONT_MATTER.match(text)
    start = front.end() if front else 0
    title = _TITLE.search(text, start)
    at = title.end() if title else start
    return f"{text[:at]}\n\n{box}\n{text[at:]}"


# -- the Sphinx extension ----------------------------------------------------------------------

def _is_notebook_source(text: str) -> bool:
    return bool(re.search(r"^kernelspec:", text[:2000], re.M))


def _source_read(app, docname: str, source: list[str]) -> None:
    if not _is_notebook_source(source[0]):
        return
    page = page_of(docname)
    if page not in PAGES:
        from sphinx.util import logging

        logging.getLogger(__name__).warning(
            f"{docname}: a notebook chapter missing from quantlab.book.PAGES (what it reads, for its re-run box)",
            location=docname)
        return
    rel = Path(app.env.doc2path(docname)).resolve().relative_to(Path(app.srcdir).resolve()).as_posix()
    source[0] = insert_box(source[0], rerun_box(page, rel), PAGES[page].box)


def _thebe_on(app) -> bool:
    opts = app.config.html_theme_options or {}
    return bool((opts.get("launch_buttons") or {}).get("thebe"))


def _drop_thebe(app) -> None:
    """Thebe off: disconnect sphinx-thebe's script and page-config handlers and drop its CSS."""
    if _thebe_on(app):
        return
    for event, handlers in app.events.listeners.items():
        keep = [h for h in handlers if getattr(h.handler, "__module__", "").split(".")[0] != "sphinx_thebe"
                or event == "builder-inited"]
        handlers[:] = keep
    builder_css = getattr(app.builder, "css_files", None)
    if builder_css is not None:
        builder_css[:] = [c for c in builder_css if "sphinx-thebe" not in str(getattr(c, "filename", c))]
    app.registry.css_files[:] = [c for c in app.registry.css_files if "sphinx-thebe" not in str(c[0])]


def _check_scripts(app) -> None:
    """Every local script of ``html_js_files`` exists in ``html_static_path``, or the build fails here.

    The vega scripts ship with the book (``book/_static/vega``); a missing one would otherwise build a
    site whose charts are all blank while Sphinx says "build succeeded".
    """
    from sphinx.errors import ExtensionError

    static = [Path(app.confdir) / d for d in app.config.html_static_path]
    for entry in app.config.html_js_files:
        name = entry[0] if isinstance(entry, (tuple, list)) else str(entry)
        if "://" in name or any((d / name).is_file() for d in static):
            continue
        raise ExtensionError(
            f"html_js_files names {name!r}, which is in none of html_static_path "
            f"({', '.join(str(d) for d in static)}): the book's charts would be blank. Restore it "
            f"(git checkout book/_static) or refetch the vega scripts (make vega).")


def _page_context(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Offers the executed notebook of a MyST-notebook page as ``.ipynb`` (what sphinx-book-theme
    does only when a launch service is configured), its glue roles, cross-references and figure
    numbers resolved to plain Markdown (:func:`quantlab.notebooks.resolve`), so it reads in Jupyter
    as on the page."""
    if doctree is None or context.get("ipynb_source"):
        return
    meta = app.env.metadata.get(pagename, {})
    if "kernelspec" not in meta or not str(context.get("sourcename", "")).endswith((".md", ".md.txt")):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.exists():
        return
    import json

    from quantlab import notebooks

    saved = executed.with_suffix(".glue.json")
    nb = json.loads(executed.read_text())
    values = notebooks.glue_values(nb, json.loads(saved.read_text()) if saved.exists() else None)
    titles = {Path(doc).name: node.astext() for doc, node in app.env.titles.items()}
    figures = {name: ".".join(map(str, number))
               for name, number in app.env.toc_fignumbers.get(pagename, {}).get("figure", {}).items()}
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(notebooks.dumps(notebooks.resolve(nb, values, titles, figures)))
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app) -> dict:
    app.connect("source-read", _source_read)
    app.connect("builder-inited", _drop_thebe, priority=900)
    app.connect("builder-inited", _check_scripts)
    # before sphinx-book-theme's header buttons (priority 501), after its empty list is prepared (500)
    app.connect("html-page-context", _page_context, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


__all__ = ["BOX_TITLE", "CSV_DIR", "ENV_SPECS", "PAGES", "Page", "SAME_KIND", "chapter_spec", "csv_name", "insert_box",
           "page_of", "rerun_box", "setup", "spec_file", "spec_overrides", "write_csv"]
