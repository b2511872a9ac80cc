"""Data Docs render offline: every script, stylesheet and image a built site's pages load is a file of the
site (read back by parsing the pages' HTML, not by the rewriting code), and the vendored copies are the
pinned npm files of VENDOR.json."""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest
from quality_shards import TASKS, good_shard

from mosaic_pipeline.quality.data_docs import MANIFEST, VENDOR_DIR, localize_page
from mosaic_pipeline.quality.validation import validate_tables


class Loads(HTMLParser):
    """What a page loads by itself: script sources, stylesheets, icons and images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "img") and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href") and a.get("rel") in ("stylesheet", "icon", "shortcut icon"):
            self.urls.append(a["href"])


def page_loads(page: Path) -> list[str]:
    parser = Loads()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.urls


@pytest.fixture(scope="module")
def site(tmp_path_factory, params) -> Path:
    docs = tmp_path_factory.mktemp("docs") / "docs"
    report = validate_tables({"qa_shard": good_shard()}, params, TASKS, docs)
    return report.docs_index.parent


def test_every_page_loads_only_files_of_the_site(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 5  # the index, a page per suite and one per validation result
    for page in pages:
        loads = page_loads(page)
        remote = [u for u in loads if urlparse(u).scheme]
        assert not remote, f"{page.relative_to(site)} loads {remote}: vendor them in VENDOR.json"
        missing = [u for u in loads if not (page.parent / u).resolve().is_file()]
        assert not missing, f"{page.relative_to(site)}: {missing} not in the site"
    assert "./static/vendor/jquery/jquery.min.js" in page_loads(site / "index.html")


def test_font_awesome_finds_its_fonts(site):
    css = next(site.rglob("all.min.css"))
    woff2 = {u.split(")")[0] for u in css.read_text().split("url(")[1:] if u.split(")")[0].endswith(".woff2")}
    assert woff2 and all((css.parent / f).is_file() for f in woff2), woff2  # the .ttf fallbacks are not read


def test_vendored_files_are_the_manifest():
    manifest = json.loads(MANIFEST.read_text())
    listed = {f["path"] for f in manifest["files"]}
    shipped = {p.relative_to(VENDOR_DIR).as_posix() for p in VENDOR_DIR.rglob("*") if p.is_file()}
    licenses = {p for p in shipped if p.startswith("licenses/")}
    assert shipped - licenses - {MANIFEST.name} == listed
    assert all(f["package"] in manifest["packages"] for f in manifest["files"])
    assert len(licenses) == sum(bool(p["license_file"]) for p in manifest["packages"].values())


def test_localize_page_by_hand():
    page = ('<link href="https://code.jquery.com/jquery-3.7.1.min.js" rel="stylesheet">'
            '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1&id=x">'
            '<link href="../static/images/favicon.ico" rel="icon"><a href="https://greatexpectations.io">GX</a>')
    urls = {"https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js"}
    assert localize_page(page, "../..", urls) == (
        '<link href="../../static/vendor/jquery/jquery.min.js" rel="stylesheet">'
        '<img src="../../static/images/logo-long.png">'
        '<link href="../../static/images/favicon.ico" rel="icon">'
        '<a href="https://greatexpectations.io">GX</a>')  # links a person follows stay
