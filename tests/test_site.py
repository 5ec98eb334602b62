"""Browser test of the built book: every chapter that draws a chart renders it, offline, without console errors.

The site is built (or found up to date, in seconds) with `make book`. Each chart page is opened in headless
Chromium; the rendered DOM must hold vega's marks for every Altair output, and the console must be free of
messages other than the known harmless one. A screenshot of each chart page lands in _build/screenshots/.
Chart pages are found from the sources: every page in _toc.yml whose source uses `alt.` or `charts.`.
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHART_USE = re.compile(r"\balt\.|\bcharts\.")
# Every Jupyter Book 1.x page logs this (thebe's config script is included twice); it is harmless.
HARMLESS_CONSOLE = (re.compile(r"Identifier 'THEBE_JS_URL' has already been declared"),)
CONSOLE_LINE = re.compile(r':CONSOLE[:(]?\d*\)?\] "(?P<msg>.*)", source: (?P<src>.*?) \((?P<line>\d+)\)$')
VIRTUAL_TIME_MS = 15000

pytestmark = pytest.mark.browser


def toc_files() -> list[str]:
    """Source paths (without suffix) of every page in _toc.yml, root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    out = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                out.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return out


def source_of(page: str) -> Path | None:
    for suffix in (".md", ".ipynb"):
        path = ROOT / (page + suffix)
        if path.exists():
            return path
    return None


def chart_pages() -> list[str]:
    pages = []
    for page in toc_files():
        src = source_of(page)
        if src is not None and CHART_USE.search(src.read_text()):
            pages.append(page)
    return pages


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


def run_chromium(chromium: str, url: str, *extra: str) -> subprocess.CompletedProcess:
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


# Injected first into <head> of a copy of the page: records console.error / console.warn, uncaught errors,
# unhandled promise rejections and failed resource loads (which Chromium's log does not show) into a
# <pre> element that --dump-dom then prints. Chromium's own CONSOLE log lines carry no level.
CAPTURE_ID = "quantlab-console-capture"
CAPTURE_JS = """<script>(function () {
  var log = [];
  function sync() {
    if (!document.body) return;
    var pre = document.getElementById("%(id)s");
    if (!pre) { pre = document.createElement("pre"); pre.id = "%(id)s"; pre.hidden = true; document.body.appendChild(pre); }
    pre.textContent = JSON.stringify(log);
  }
  function text(a) {
    try { return a && a.stack ? String(a.stack) : (typeof a === "object" ? JSON.stringify(a) : String(a)); }
    catch (e) { return String(a); }
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
  window.addEventListener("load", sync);
})();</script>""" % {"id": CAPTURE_ID}


def dump_dom_with_console(chromium: str, page: Path) -> tuple[str, list[str]]:
    """The rendered DOM of `page` and the console problems recorded while it loaded."""
    html = page.read_text()
    head = re.search(r"<head[^>]*>", html)
    assert head, f"{page} has no <head>"
    probe = page.with_name(f"_consolecheck_{page.name}")
    probe.write_text(html[: head.end()] + CAPTURE_JS + html[head.end() :])
    try:
        r = run_chromium(chromium, probe.as_uri(), "--dump-dom")
    finally:
        probe.unlink(missing_ok=True)
    dom = r.stdout
    assert r.returncode == 0 and "</html>" in dom, f"chromium failed on {page}:\n{r.stderr[-4000:]}"
    m = re.search(rf'<pre id="{CAPTURE_ID}"[^>]*>(.*?)</pre>', dom, re.S)
    assert m, f"the console probe did not run on {page}; chromium log:\n" + "\n".join(chromium_console(r.stderr))
    return dom, json.loads(htmllib.unescape(m.group(1)))


def chromium_console(stderr: str) -> list[str]:
    """Chromium's own CONSOLE log lines (all levels, for diagnostics)."""
    out = []
    for line in stderr.splitlines():
        m = CONSOLE_LINE.search(line)
        if m:
            out.append(f"{m['msg']} ({m['src']}:{m['line']})")
    return out


def test_chart_pages_are_discovered():
    assert "book/data" in chart_pages()


def test_site_has_index_and_every_toc_page(site):
    assert (site / "index.html").exists()
    for page in toc_files():
        assert (site / f"{page}.html").exists(), f"{page} was not built"


@pytest.mark.parametrize("page", chart_pages())
def test_chart_page_local_scripts_exist(site, page):
    """Failed script loads do not reach the console log, so check every <script src> statically."""
    html = (site / f"{page}.html").read_text()
    srcs = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    assert any(s.split("?")[0].endswith("vega/vega.min.js") for s in srcs), "vega is not loaded from _static"
    for src in srcs:
        assert not re.match(r"(https?:)?//", src), f"{page} loads a script from the network: {src}"
        path = (site / page).parent / src.split("?")[0]
        assert path.exists(), f"{page}: script {src} is missing from the built site"


@pytest.mark.parametrize("page", chart_pages())
def test_chart_page_renders_offline(site, chromium, page):
    dom, console = dump_dom_with_console(chromium, site / f"{page}.html")

    # Look at elements only: Altair's inline scripts contain its error templates as text.
    elements = re.sub(r"<script\b[^>]*>.*?</script>", "", dom, flags=re.S)
    containers = re.findall(r'<div[^>]*\bid="(altair-viz-[^"]+)"', elements)
    assert containers, f"{page}: no Altair output in the page (did the chapter's cells draw a chart?)"
    rendered = re.findall(r'<(?:svg|canvas)[^>]*\bclass="marks"', elements)
    assert len(rendered) >= len(containers), (
        f"{page}: {len(containers)} Altair outputs but {len(rendered)} rendered vega views"
    )
    assert "vega-embed" in elements
    errors = re.findall(r'<div class="error"[^>]*>(.*?)</div>', elements)
    assert not errors, f"{page}: Altair showed errors instead of charts: {errors}"
    remote = re.findall(r'<script[^>]*\ssrc="((?:https?:)?//[^"]*)"', dom)
    assert not remote, f"{page}: scripts requested from the network (Altair's CDN fallback?): {remote}"

    bad = [m for m in console if not any(h.search(m) for h in HARMLESS_CONSOLE)]
    assert not bad, f"{page}: console errors or warnings, failed loads or uncaught errors:\n" + "\n".join(bad)


@pytest.mark.parametrize("page", chart_pages())
def test_chart_page_screenshot(site, chromium, page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / (page.replace("/", "_") + ".png")
    shot.unlink(missing_ok=True)
    url = (site / f"{page}.html").as_uri()
    r = run_chromium(chromium, url, f"--screenshot={shot}", "--window-size=1200,3000", "--hide-scrollbars")
    assert shot.exists() and shot.stat().st_size > 10_000, f"no screenshot of {page}:\n{r.stderr[-4000:]}"
