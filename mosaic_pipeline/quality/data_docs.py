"""Data Docs that render offline.

Great Expectations' Data Docs pages load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from
CDNs, and its logo from GX's web-assets bucket (with the data context id in the query). Without a network
the pages show their headings and nothing else: the tables of validation results and suites are drawn by
those scripts. The project ships the files (``data_docs_static/``, pinned npm versions and their licenses,
listed in ``VENDOR.json`` and refreshed by ``scripts/vendor_data_docs.py``); ``localize_site`` copies them
into a built site and points every page at the copies.

Serving the sites over http (`mosaic ui`, ``serve.py``) fixes the link from the UI, not what the pages
load: the copies stay for machines without a network (the CI runner, the GPU hosts; docs/review.md).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

VENDOR_DIR = Path(__file__).with_name("data_docs_static")
MANIFEST = VENDOR_DIR / "VENDOR.json"
SITE_VENDOR = "static/vendor"  # inside a Data Docs site
GX_WEB_ASSET = re.compile(r"https://great-expectations-web-assets\.s3\.[\w.-]+/([\w.-]+)(?:\?[^\"'\s]*)?")
SITE_STATIC = re.compile(r"(?<=[\"'])(?:\.\./)+static/")  # GX's validation pages miss a level for the favicon


def vendored_urls() -> dict[str, str]:
    """CDN URL -> the vendored copy's path inside ``VENDOR_DIR``."""
    return {url: f["path"] for f in json.loads(MANIFEST.read_text())["files"] for url in f["urls"]}


def localize_page(html: str, to_site: str, urls: dict[str, str]) -> str:
    """``html`` with each vendored CDN reference and the GX logo pointed at the site's copies, and the
    site's own static files at the right depth.

    ``to_site``: the relative path from the page's folder to the site root ("." or "../..").
    """
    for url, path in urls.items():
        html = html.replace(f'"{url}"', f'"{to_site}/{SITE_VENDOR}/{path}"')
    html = SITE_STATIC.sub(f"{to_site}/static/", html)
    return GX_WEB_ASSET.sub(lambda m: f"{to_site}/static/images/{m.group(1)}", html)


def localize_site(site: Path) -> None:
    """Copy the vendored files (and their licenses) into ``site`` and point every page of it at them."""
    shutil.copytree(VENDOR_DIR, site / SITE_VENDOR, ignore=shutil.ignore_patterns(MANIFEST.name),
                    dirs_exist_ok=True)
    urls = vendored_urls()
    for page in sorted(site.rglob("*.html")):
        to_site = Path(os.path.relpath(site, page.parent)).as_posix()
        page.write_text(localize_page(page.read_text(encoding="utf-8"), to_site, urls), encoding="utf-8")
