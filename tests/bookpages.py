"""The book's pages as _toc.yml lists them (chapters within parts included), and the facts its executed
pages glue, for the book and site tests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_files() -> list[str]:
    """Source paths (without suffix) of every page in _toc.yml, root first, in reading order."""
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


def glued_facts(folder: Path, pages: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``{fact: {page: value}}`` from the glue files (``<page>.glue.json``) an executed book leaves in
    ``folder``: a key glued by a sweep chapter (``pages[page].swappable``, :data:`quantlab.book.PAGES`)
    is that chapter's own (``<page>:<key>``), any other key names a fact of the book. Values are the
    glued outputs' Markdown or plain text."""
    facts: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.glue.json")):
        page = path.name.split(".")[0]
        for key, output in json.loads(path.read_text()).items():
            data = output["data"]
            fact = f"{page}:{key}" if page in pages and pages[page].swappable else key
            facts.setdefault(fact, {})[page] = data.get("text/markdown", data.get("text/plain"))
    return facts


def fact_conflicts(facts: Mapping[str, Mapping[str, str]], book_facts: Sequence[str]) -> list[str]:
    """What breaks "one name, one fact" in :func:`glued_facts`: a key glued on several pages that
    ``book_facts`` does not name, or a fact with different values on different pages."""
    problems = []
    for fact, by_page in sorted(facts.items()):
        if len(by_page) < 2:
            continue
        if fact not in book_facts:
            problems.append(f"{fact!r} is glued on {sorted(by_page)} but is not one of quantlab.book.BOOK_FACTS: "
                            "give each page's value its own name, or register the fact")
        elif len(set(by_page.values())) > 1:
            problems.append(f"{fact!r} differs between pages: {dict(sorted(by_page.items()))}")
    return problems
