"""Browser test of the built book: every page of _toc.yml, opened offline in headless Chromium, as a reader sees it.

The site is built (or found up to date, in seconds) with `make book`. Every page must

* load without a single console error or warning, uncaught error, unhandled rejection or failed resource load
  (a probe script injected first into <head> records them into the DOM, which --dump-dom prints);
* load no script or stylesheet from the network, and find every local one it names;
* render every Altair output as a vega view (an SVG or canvas with class "marks"), without vega-embed errors;
* keep every output inside the text column: no element outside the code-cell inputs sticks out to the right
  of the article, and no output scrolls sideways (the probe measures the laid-out page at the width of the
  screenshots and writes what it finds into the DOM);
* and get a full-page screenshot in _build/screenshots/<page>.png (for a person to look at).

Besides: every chapter of quantlab.book.PAGES shows its "How to re-run this chapter" box; every CSV it links is
downloaded from the site and read back (same rows as the records it was written from); every notebook page
offers its executed .ipynb in the download menu; the bibliography lists every entry of book/references.bib and
the intro cites the paper.
"""

from __future__ import annotations

import csv
import html as htmllib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from bookpages import fact_conflicts, glued_facts, toc_files

from quantlab import book as qbook

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHART_USE = re.compile(r"\balt\.|\bcharts\.")
CONSOLE_LINE = re.compile(r':CONSOLE[:(]?\d*\)?\] "(?P<msg>.*)", source: (?P<src>.*?) \((?P<line>\d+)\)$')
VIRTUAL_TIME_MS = 15000
WINDOW_WIDTH = 1200  # a laptop browser window; the book's text column is then about 650 px wide
MAX_SHOT_HEIGHT = 16000

pytestmark = pytest.mark.browser


def source_of(page: str) -> Path | None:
    for suffix in (".md", ".ipynb"):
        path = ROOT / (page + suffix)
        if path.exists():
            return path
    return None


def is_notebook(page: str) -> bool:
    src = source_of(page)
    return src is not None and (src.suffix == ".ipynb" or re.search(r"^kernelspec:", src.read_text(), re.M) is not None)


def chart_pages() -> list[str]:
    pages = []
    for page in toc_files():
        src = source_of(page)
        if src is not None and CHART_USE.search(src.read_text()):
            pages.append(page)
    return pages


def chapter_pages() -> list[str]:
    """The notebook pages of the book: each is a chapter with a re-run box."""
    return [p for p in toc_files() if is_notebook(p)]


@pytest.fixture(scope="session")
def site() -> Path:
    """The built site; `make book` rebuilds it only if a source changed since the last build."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(
        ["make", "--no-print-directory", "book"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, f"`make book` failed:\n{r.stdout[-8000:]}\n{r.stderr[-8000:]}"
    assert (HTML / "index.html").exists()
    return HTML


def run_chromium(chromium: str, url: str, *extra: str, height: int = 3000,
                 width: int = WINDOW_WIDTH) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="quantlab-chromium-") as profile:
        return subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                f"--window-size={width},{height}",
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={VIRTUAL_TIME_MS}",
                "--enable-logging=stderr",
                "--v=0",
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )


# Injected first into <head> of a copy of the page. It records console.error / console.warn, uncaught errors,
# unhandled promise rejections and failed resource loads (which Chromium's log does not show) and, every 200 ms of
# (virtual) time after the page loaded, measures the layout: Altair outputs without a vega view, and elements that
# stick out of the article's right edge or scroll sideways, leaving out the code-cell inputs (code may scroll).
# Everything goes as JSON into a hidden <pre> that --dump-dom prints.
PROBE_ID = "quantlab-probe"
PROBE_JS = """<script>(function () {
  var log = [], layout = null;
  function sync() {
    if (!document.body) return;
    var pre = document.getElementById("%(id)s");
    if (!pre) {
      pre = document.createElement("pre"); pre.id = "%(id)s"; pre.hidden = true; document.body.appendChild(pre);
    }
    pre.textContent = JSON.stringify({console: log, layout: layout});
  }
  function text(a) {
    try { return a && a.stack ? String(a.stack) : (typeof a === "object" ? JSON.stringify(a) : String(a)); }
    catch (e) { return String(a); }
  }
  function describe(el) {
    var d = el.tagName.toLowerCase();
    if (el.id) d += "#" + el.id;
    if (typeof el.className === "string" && el.className.trim())
      d += "." + el.className.trim().split(/\\s+/).slice(0, 3).join(".");
    var section = el.closest("section[id]");
    var t = (el.textContent || "").replace(/\\s+/g, " ").trim().slice(0, 70);
    return d + (section ? " in section #" + section.id : "") + (t ? ' "' + t + '"' : "");
  }
  function measure() {
    var article = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
    var right = article.getBoundingClientRect().right;
    var overflow = [];
    var all = article.querySelectorAll("*");
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      if (el.closest(".cell_input") || el.closest("#%(id)s") || el.closest(".vega-actions")) continue;
      var r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      var style = getComputedStyle(el);
      if (style.visibility === "hidden" || style.display === "none") continue;
      var sticks = r.right > right + 1;
      var scrolls = (style.overflowX === "auto" || style.overflowX === "scroll" || style.overflowX === "hidden") &&
                    el.scrollWidth > el.clientWidth + 1;
      if (sticks || scrolls) {
        // report the outermost offender only
        var parent = el.parentElement, reported = false;
        for (var j = 0; j < overflow.length; j++) if (overflow[j].el.contains(el)) { reported = true; break; }
        if (!reported) overflow.push({el: el, what: describe(el), right: Math.round(r.right),
                                      column_right: Math.round(right), scroll_width: el.scrollWidth,
                                      client_width: el.clientWidth, sticks_out: sticks, scrolls: scrolls});
      }
    }
    var charts = [];
    var views = document.querySelectorAll('div[id^="altair-viz-"]');
    for (var k = 0; k < views.length; k++) {
      charts.push({id: views[k].id, rendered: !!views[k].querySelector("svg.marks, canvas.marks")});
    }
    layout = {
      overflow: overflow.map(function (o) {
        var c = {}; for (var key in o) if (key !== "el") c[key] = o[key]; return c;
      }),
      charts: charts,
      column_width: Math.round(article.getBoundingClientRect().width),
      height: Math.ceil(Math.max(document.documentElement.scrollHeight, document.body.scrollHeight))
    };
    sync();
  }
  ["error", "warn"].forEach(function (level) {
    var original = console[level];
    console[level] = function () {
      log.push("console." + level + ": " + Array.prototype.map.call(arguments, text).join(" ")); sync();
      return original.apply(console, arguments);
    };
  });
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) log.push("failed to load: " + (t.src || t.href));
    else log.push("uncaught: " + e.message + " (" + e.filename + ":" + e.lineno + ")");
    sync();
  }, true);
  window.addEventListener("unhandledrejection", function (e) {
    log.push("unhandled rejection: " + text(e.reason)); sync();
  });
  document.addEventListener("DOMContentLoaded", sync);
  window.addEventListener("load", function () { sync(); measure(); setInterval(measure, 200); });
})();</script>""" % {"id": PROBE_ID}


def probe_page(chromium: str, page: Path) -> tuple[str, dict]:
    """The rendered DOM of `page` and what the probe recorded: {"console": [...], "layout": {...}}."""
    html = page.read_text()
    head = re.search(r"<head[^>]*>", html)
    assert head, f"{page} has no <head>"
    probe = page.with_name(f"_probe_{page.name}")
    probe.write_text(html[: head.end()] + PROBE_JS + html[head.end() :])
    try:
        r = run_chromium(chromium, probe.as_uri(), "--dump-dom")
    finally:
        probe.unlink(missing_ok=True)
    dom = r.stdout
    assert r.returncode == 0 and "</html>" in dom, f"chromium failed on {page}:\n{r.stderr[-4000:]}"
    m = re.search(rf'<pre id="{PROBE_ID}"[^>]*>(.*?)</pre>', dom, re.S)
    assert m, f"the probe did not run on {page}; chromium log:\n" + "\n".join(chromium_console(r.stderr))
    found = json.loads(htmllib.unescape(m.group(1)))
    assert found["layout"] is not None, f"{page}: the page never finished loading (no layout measured)"
    return dom, found


def chromium_console(stderr: str) -> list[str]:
    """Chromium's own CONSOLE log lines (all levels, for diagnostics)."""
    out = []
    for line in stderr.splitlines():
        m = CONSOLE_LINE.search(line)
        if m:
            out.append(f"{m['msg']} ({m['src']}:{m['line']})")
    return out


def elements(dom: str) -> str:
    """The DOM without script bodies (Altair's inline scripts contain its error templates as text)."""
    return re.sub(r"<script\b[^>]*>.*?</script>", "", dom, flags=re.S)


@pytest.fixture(scope="session")
def probed(site, chromium):
    """Each page probed once per session: {page: (dom, found)}."""
    cache: dict[str, tuple[str, dict]] = {}

    def get(page: str) -> tuple[str, dict]:
        if page not in cache:
            cache[page] = probe_page(chromium, site / f"{page}.html")
        return cache[page]

    return get


def test_pages_are_discovered():
    pages = toc_files()
    assert pages[0] == "book/intro" and "book/data" in pages and "book/bibliography" in pages
    assert "book/data" in chart_pages()
    assert set(chapter_pages()) < set(pages)


def test_site_has_index_and_every_toc_page(site):
    assert (site / "index.html").exists()
    for page in toc_files():
        assert (site / f"{page}.html").exists(), f"{page} was not built"


@pytest.mark.parametrize("page", toc_files())
def test_page_loads_only_local_assets(site, page):
    """Failed loads of scripts and stylesheets are checked statically too (not every failure reaches the console)."""
    html = (site / f"{page}.html").read_text()
    assets = (re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
              + re.findall(r'<link[^>]*\shref="([^"]+\.css[^"]*)"', html))
    for src in assets:
        assert not re.match(r"(https?:)?//", src), f"{page} loads from the network: {src}"
        path = (site / page).parent / unquote(src.split("?")[0])
        assert path.exists(), f"{page}: {src} is missing from the built site"
    assert "THEBE_JS_URL" not in html and "thebe" not in " ".join(re.findall(r"<script[^>]*>", html)), (
        f"{page}: sphinx-thebe's scripts are in the page although Thebe is off")
    if page in chart_pages():
        srcs = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
        assert any(s.split("?")[0].endswith("vega/vega.min.js") for s in srcs), "vega is not loaded from _static"


# What a page must never show, whatever the cache held when the book was built: warnings of any kind, the
# logs of TensorFlow / absl / TFDS and their progress bars, tracebacks, and paths of the build machine.
NOISE = re.compile(r"\w*Warning\b|WARNING|absl|oneDNN|tensorflow|Dl Size|Dl Completed|Extraction completed|"
                   r"Downloading and preparing|Traceback|site-packages|/root/|/home/|/tmp/|\.cache/quantlab")
#: The cell tag that declares a stderr output on purpose (none does today).
STDERR_TAG = "expect-stderr"


def output_texts(output: dict) -> list[str]:
    """The text a reader sees of one output of an executed notebook (streams, plain text, markdown)."""
    if output["output_type"] == "stream":
        return ["".join(output["text"])]
    data = output.get("data", {})
    return ["".join(data[m]) for m in ("text/plain", "text/markdown") if m in data] + (
        ["".join(output.get("traceback", []))] if output["output_type"] == "error" else [])


@pytest.mark.parametrize("page", chapter_pages())
def test_executed_notebook_has_no_stderr_or_noise(site, page):
    """Reads _build/jupyter_execute: no stderr output unless the cell carries the tag STDERR_TAG, and no
    warning, log line, progress bar or machine path in any output (a cold cache once put 34 stderr blocks of
    TFDS's first-use preparation into the data chapter)."""
    executed = ROOT / "_build" / "jupyter_execute" / f"{page}.ipynb"
    assert executed.is_file(), f"{executed} is missing: was the book built by `make book`?"
    problems = []
    for i, cell in enumerate(json.loads(executed.read_text())["cells"]):
        for output in cell.get("outputs", []):
            declared = STDERR_TAG in cell.get("metadata", {}).get("tags", [])
            if output.get("name") == "stderr" and not declared:
                problems.append(f"cell {i}: stderr output {''.join(output['text'])[:300]!r}")
            for text in output_texts(output):
                if not declared and (m := NOISE.search(text)):
                    problems.append(f"cell {i}: {m.group(0)!r} in {text[max(0, m.start() - 100):m.end() + 100]!r}")
    assert not problems, f"{page}: the page shows build noise:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", toc_files())
def test_page_console_is_clean(probed, page):
    dom, found = probed(page)
    assert not found["console"], (
        f"{page}: console errors or warnings, failed loads or uncaught errors:\n" + "\n".join(found["console"]))
    remote = re.findall(r'<script[^>]*\ssrc="((?:https?:)?//[^"]*)"', dom)
    assert not remote, f"{page}: scripts requested from the network (Altair's CDN fallback?): {remote}"


@pytest.mark.parametrize("page", toc_files())
def test_page_outputs_fit_the_column(probed, page):
    _, found = probed(page)
    layout = found["layout"]
    lines = [f"{o['what']}: right edge {o['right']} px (column ends at {o['column_right']} px), "
             f"scroll width {o['scroll_width']} > {o['client_width']} px" if o["scrolls"] else
             f"{o['what']}: right edge {o['right']} px (column ends at {o['column_right']} px)"
             for o in layout["overflow"]]
    assert not lines, (f"{page}: wider than the text column ({layout['column_width']} px at a {WINDOW_WIDTH} px "
                       "window):\n" + "\n".join(lines))


@pytest.mark.parametrize("page", chart_pages())
def test_chart_page_renders_every_chart(probed, page):
    dom, found = probed(page)
    charts = found["layout"]["charts"]
    assert charts, f"{page}: no Altair output in the page (did the chapter's cells draw a chart?)"
    blank = [c["id"] for c in charts if not c["rendered"]]
    assert not blank, f"{page}: {len(blank)} of {len(charts)} Altair outputs without a rendered vega view: {blank}"
    body = elements(dom)
    assert "vega-embed" in body
    errors = re.findall(r'<div class="error"[^>]*>(.*?)</div>', body)
    assert not errors, f"{page}: Altair showed errors instead of charts: {errors}"


@pytest.mark.parametrize("page", chart_pages())
def test_every_chart_is_a_numbered_figure_with_a_caption(site, page):
    """Each Altair output sits in a <figure> with a number (Fig. 3.2) and a caption of at least a sentence
    (the cell's `mystnb: figure:` metadata); numbers are unique on the page and follow its chapter number."""
    html = (site / f"{page}.html").read_text()
    figures = re.findall(r"<figure\b.*?</figure>", html, re.S)
    charts = html.count("vegaEmbed(")
    in_figures = [f for f in figures if "vegaEmbed(" in f]
    assert sum(f.count("vegaEmbed(") for f in in_figures) == charts, (
        f"{page}: {charts} charts, {sum(f.count('vegaEmbed(') for f in in_figures)} of them in a figure: give each "
        "chart cell `mystnb: figure: {name, caption}` metadata, one chart a cell")
    numbers = []
    for f in in_figures:
        number = re.search(r'<span class="caption-number">Fig\. ([\d.]+) </span>', f)
        caption = re.search(r'<span class="caption-text">(.*?)</span><a class="headerlink"', f, re.S)
        assert number and caption, f"{page}: a chart figure without a number or a caption:\n{f[-600:]}"
        words = re.sub(r"<[^>]+>", "", caption.group(1)).split()
        assert len(words) >= 8, f"{page}: Fig. {number.group(1)}'s caption is too short to explain it: {words}"
        numbers.append(number.group(1))
    assert len(set(numbers)) == len(numbers), f"{page}: figure numbers repeat: {numbers}"
    chapter = re.search(r'<h1>\s*<span class="section-number">(\d+)\. </span>', html)
    if chapter:  # a numbered chapter: Fig. <chapter>.1, .2, ... in page order
        assert numbers == [f"{chapter.group(1)}.{k}" for k in range(1, len(numbers) + 1)], (page, numbers)


def test_no_two_pages_give_one_fact_two_values(site):
    """One name, one fact: a value glued on several pages is a fact of quantlab.book.BOOK_FACTS and has the
    same value on each (seeds, split sizes, the noise rule ...), so no two pages state a fact differently."""
    facts = glued_facts(ROOT / "_build" / "jupyter_execute" / "book", qbook.PAGES)
    assert len(facts) > 100, "the executed book left (almost) no glue files"
    assert set(qbook.BOOK_FACTS) <= set(facts), f"book facts glued nowhere: {set(qbook.BOOK_FACTS) - set(facts)}"
    problems = fact_conflicts(facts, qbook.BOOK_FACTS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", toc_files())
def test_page_screenshot(site, chromium, probed, page):
    """A full-page screenshot for a person to look at (the probe measured the page's height)."""
    _, found = probed(page)
    height = min(max(int(found["layout"]["height"]), 800), MAX_SHOT_HEIGHT)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / (page.replace("/", "_") + ".png")
    shot.unlink(missing_ok=True)
    r = run_chromium(chromium, (site / f"{page}.html").as_uri(), f"--screenshot={shot}", height=height)
    assert shot.exists() and shot.stat().st_size > 10_000, f"no screenshot of {page}:\n{r.stderr[-4000:]}"


# -- what each chapter offers: the re-run box, its CSV files, the notebook --------------------------------

def test_every_chapter_is_in_the_page_table():
    from quantlab import book

    missing = [p for p in chapter_pages() if book.page_of(p) not in book.PAGES]
    assert not missing, f"chapters missing from quantlab.book.PAGES: {missing}"


@pytest.mark.parametrize("page", chapter_pages())
def test_chapter_has_its_rerun_box(probed, page):
    from quantlab import book

    dom, _ = probed(page)
    body = elements(dom)
    box = re.search(r'<div class="[^"]*\brerun-box\b[^"]*">(.*?)</div>', body, re.S)
    assert box, f"{page}: no 'How to re-run this chapter' box"
    if book.PAGES[book.page_of(page)].box == "top":
        assert body.index(box.group(0)) < body.find('<div class="cell'), f"{page}: the box is not above the first cell"
    else:
        assert body.index(box.group(0)) > body.rfind('<div class="cell'), f"{page}: the box is not at the end"
    text = htmllib.unescape(re.sub(r"<[^>]+>", "", box.group(1)))
    assert book.BOX_TITLE in text
    name = book.page_of(page)
    assert "make lab" in text and f"python -m quantlab notebook book/{name}.md --out /tmp/{name}.ipynb" in text
    for spec in book.PAGES[name].specs:
        assert f"{spec}" in text, f"{page}: the box does not name spec {spec}"


def csv_links(dom: str) -> list[str]:
    return re.findall(r'<a class="reference download internal"[^>]*href="([^"]+\.csv)"', dom)


def csv_pages() -> list[str]:
    """The pages that offer CSV files (quantlab.book.PAGES)."""
    from quantlab import book

    return [p for p in toc_files() if book.page_of(p) in book.PAGES and book.PAGES[book.page_of(p)].csv]


def test_sweep_chapters_offer_csv():
    assert {"book/ffdnn_width", "book/ffdnn_depth", "book/cnn_maps"} <= set(csv_pages())


def test_report_offers_its_verdicts_as_csv(site, probed):
    from quantlab.analysis import report
    from quantlab.analysis.rows import tidy

    dom, _ = probed("book/report")
    (href,) = [h for h in csv_links(dom) if Path(unquote(h)).name == "verdicts.csv"]
    with open(((site / "book/report").parent / unquote(href)).resolve(), newline="") as f:
        rows = list(csv.DictReader(f))
    findings = report.assess({s: tidy(s) for s in report.CLAIM_SWEEPS})
    assert [(r["sweep"], r["verdict"]) for r in rows] == [(f.sweep, f.verdict) for f in findings]


@pytest.mark.parametrize("page", csv_pages())
def test_chapter_csv_downloads_read_back(site, probed, page):
    """Each CSV the box links is in the site and holds the tidy rows of its spec's records, and the
    column dictionary beside them explains every column."""
    from quantlab import book
    from quantlab.analysis import rows as rowmod

    dom, _ = probed(page)
    links = csv_links(dom)
    columns = [h for h in links if Path(unquote(h)).name == Path(book.COLUMNS_CSV).name]
    curves = [h for h in links if Path(unquote(h)).stem.endswith("-curves")]
    links = [h for h in links if h not in columns + curves]
    assert len(columns) == 1, f"{page}: no single link to {book.COLUMNS_CSV}: {columns}"
    with open(((site / page).parent / unquote(columns[0])).resolve(), newline="") as f:
        explained = {r["column"] for r in csv.DictReader(f)}
    specs = book.PAGES[book.page_of(page)].csv
    assert sorted(Path(unquote(h)).stem for h in links) == sorted(specs), f"{page}: CSV links {links}"
    assert sorted(Path(unquote(h)).stem for h in curves) == sorted(f"{s}-curves" for s in specs), curves
    for href in curves:
        with open(((site / page).parent / unquote(href)).resolve(), newline="") as f:
            rows = list(csv.DictReader(f))
        spec = Path(unquote(href)).stem.removesuffix("-curves")
        assert len(rows) == len(rowmod.curves(spec)) > 0 and set(rows[0]) <= explained, href
    for href in links:
        path = ((site / page).parent / unquote(href)).resolve()
        assert path.is_file(), f"{page}: the link {href} points at nothing in the built site"
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        spec = path.stem
        expected = rowmod.tidy(spec, allow_missing=True)
        assert len(rows) == len(expected) > 0, f"{href}: {len(rows)} rows, the records of {spec} give {len(expected)}"
        assert list(rows[0])[: len(rowmod.CSV_FIELDS)] == list(rowmod.CSV_FIELDS)
        assert set(rows[0]) <= explained, f"{href}: columns without a meaning in columns.csv"
        assert {r["spec"] for r in rows} == {spec}
        for got, want in zip(rows, expected):
            assert (got["trial"], int(got["seed"]), got["method"], int(got["bits"])) == (
                want["trial"], want["seed"], want["method"], want["bits"])
            assert float(np.float32(got["test_error"])) == want["test_error"]  # the records' float32, exactly


@pytest.mark.parametrize("page", chapter_pages())
def test_chapter_offers_its_notebook(site, page):
    html = (site / f"{page}.html").read_text()
    links = re.findall(r'<a href="([^"]+\.ipynb)"[^>]*download-notebook-button|'
                       r'<a href="([^"]+\.ipynb)"', html)
    hrefs = [a or b for a, b in links]
    assert hrefs, f"{page}: no .ipynb in the download menu"
    path = ((site / page).parent / unquote(hrefs[0])).resolve()
    assert path.is_file(), f"{page}: {hrefs[0]} is missing from the site"
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4 and any(c["cell_type"] == "code" and c.get("outputs") for c in nb["cells"]), (
        f"{path}: not an executed notebook")
    # It reads alone: the text carries the page's numbers, not MyST roles Jupyter would show as they are.
    text = "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"])
                     for c in nb["cells"] if c["cell_type"] == "markdown")
    left = re.findall(r"\{(?:glue|doc|numref|term|download|cite)[a-z:]*\}`[^`]*`|```\{glue", text)
    assert not left, f"{path}: MyST roles left in the text: {left[:5]}"
    page_numbers = {n for n in re.findall(r"Fig\. (\d+(?:\.\d+)?)", html)}
    assert page_numbers <= set(re.findall(r"Fig\. (\d+(?:\.\d+)?)", text)), (
        f"{path}: the page's figure numbers {sorted(page_numbers)} are not all in the notebook")



def test_make_lab_notebooks_carry_their_numbers(site):
    """`make lab` opens lab/<chapter>.ipynb: one notebook per chapter, executed, its text without MyST roles."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "--no-print-directory", "lab-notebooks"], cwd=ROOT, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    lab = ROOT / "lab"
    assert sorted(p.stem for p in lab.glob("*.ipynb")) == sorted(Path(p).name for p in chapter_pages())
    for path in lab.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        assert not re.findall(r"\{(?:glue|doc|numref)[a-z:]*\}`", text), f"{path}: MyST roles in its text"
        assert any(c["cell_type"] == "code" and c.get("outputs") for c in nb["cells"]), f"{path}: not executed"

# -- the front page's first screen ----------------------------------------------------------------------------

FIRST_SCREEN_JS = """<script>window.addEventListener("load", function () { setTimeout(function () {
  var box = document.querySelector("div.finding"), pre = document.createElement("pre");
  pre.id = "first-screen"; pre.hidden = true;
  pre.textContent = JSON.stringify(box ? {bottom: box.getBoundingClientRect().bottom, text: box.innerText} : null);
  document.body.appendChild(pre); }, 1000); });</script>"""


@pytest.mark.parametrize("width,height", [(1280, 800), (412, 900)])
def test_front_page_first_screen_states_the_finding_and_every_verdict(site, chromium, width, height):
    """A laptop's and a phone's first screen of the front page hold the paper's finding in plain words and
    this book's verdict on every claim (screenshots in _build/screenshots for a person to look at)."""
    from quantlab.analysis import report
    from quantlab.analysis.rows import tidy

    page = site / "book" / "intro.html"
    html = page.read_text()
    head = re.search(r"<head[^>]*>", html)
    probe = page.with_name("_first_screen_intro.html")
    probe.write_text(html[: head.end()] + FIRST_SCREEN_JS + html[head.end():])
    try:
        r = run_chromium(chromium, probe.as_uri(), "--dump-dom", width=width, height=height)
    finally:
        probe.unlink(missing_ok=True)
    m = re.search(r'<pre id="first-screen"[^>]*>(.*?)</pre>', r.stdout, re.S)
    assert m, f"the front page did not load in Chromium:\n{r.stderr[-3000:]}"
    box = json.loads(htmllib.unescape(m.group(1)))
    assert box, "the front page has no finding box (a ```{container} finding``` under its title)"
    assert box["bottom"] <= height, f"at {width}x{height} the finding box ends at {box['bottom']:.0f} px"
    findings = report.assess({sweep: tidy(sweep) for sweep in report.CLAIM_SWEEPS})
    text = " ".join(box["text"].split()).replace("\u2019", "'")  # Sphinx curls apostrophes
    assert "found that" in text and "three values" in text, text
    for number, line in report.plain_lines(findings).items():
        assert line.replace("**", "") in text, f"claim {number}'s verdict is not in the first screen: {line}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"intro-first-screen-{width}x{height}.png"
    run_chromium(chromium, page.as_uri(), f"--screenshot={shot}", width=width, height=height)
    assert shot.exists() and shot.stat().st_size > 10_000


# -- bibliography --------------------------------------------------------------------------------------------

def test_bibliography_lists_every_entry_and_the_intro_cites_the_paper(site, probed):
    keys = re.findall(r"^@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text(), re.M)
    assert "sung2015resiliency" in keys and "xiao2017fashion" in keys
    dom, _ = probed("book/bibliography")
    body = elements(dom)
    entries = re.findall(r'<div class="citation" id="id\d+"|<dt class="label" id="[^"]+"|class="citation"', body)
    assert len(entries) >= len(keys), f"the bibliography shows {len(entries)} entries for {len(keys)} in references.bib"
    assert "Resiliency of Deep Neural Networks under Quantization" in body
    assert "https://arxiv.org/abs/1511.06488" in body
    intro, _ = probed("book/intro")
    first = re.search(r"<p>This book is a companion to (.*?)</p>", intro, re.S)
    assert first, "the intro's first paragraph changed: update this test"
    cite = re.search(r'<a class="reference internal" href="bibliography.html#(id\d+)"[^>]*title="([^"]*)"',
                     first.group(1))
    assert cite and "Resiliency of deep neural networks under quantization" in cite.group(2), (
        "the intro's first paragraph does not cite the paper")
    assert f'id="{cite.group(1)}"' in body, "the intro's citation does not lead to a bibliography entry"
    assert "https://arxiv.org/abs/1511.06488" in first.group(1)
    assert "github.com/zalandoresearch/fashion-mnist" in intro
