"""The review site: the per-shard review pages and the checks' Data Docs over HTTP on loopback.

A browser refuses ``file://`` links from an http page (the Dagster UI), so `mosaic ui` serves these two
folders beside the webserver on ``review.host:review.port`` (params.yaml), and the asset metadata links
the URLs built here (docs/review.md):

- ``/review/<scene_id>/index.html``: a shard's review page (``paths.review_dir``)
- ``/data_docs/<check>/<partition>/gx/uncommitted/data_docs/local_site/index.html``: a check's Data Docs
  (``paths.quality_docs``)

Static files only: the pages are written by the checks; the server never writes.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from .. import paths
from ..params import Params

REVIEW, DATA_DOCS = "review", "data_docs"  # URL prefixes (mounts)


class PortTaken(OSError):
    """The review site's address is in use (or cannot be bound)."""


def mounts(params: Params) -> dict[str, Path]:
    """URL prefix -> the folder served under it."""
    return {REVIEW: paths.review_root(params), DATA_DOCS: paths.quality_docs_root(params)}


def base_url(params: Params) -> str:
    return f"http://{params.review.host}:{params.review.port}"


def url_of(params: Params, path: Path) -> str:
    """The http URL of a file under one of the served folders."""
    path = Path(path).resolve()
    for prefix, folder in mounts(params).items():
        if path.is_relative_to(folder.resolve()):
            return f"{base_url(params)}/{prefix}/{quote(path.relative_to(folder.resolve()).as_posix())}"
    raise ValueError(f"{path} is not under a served folder ({', '.join(map(str, mounts(params).values()))})")


def file_of(params: Params, url: str) -> Path:
    """The served file behind a URL of the review site (the inverse of ``url_of``)."""
    parts = urlsplit(url)
    prefix, _, rest = parts.path.lstrip("/").partition("/")
    folders = mounts(params)
    if f"{parts.scheme}://{parts.netloc}" != base_url(params) or prefix not in folders:
        raise ValueError(f"{url} is not a URL of the review site {base_url(params)}")
    return folders[prefix] / unquote(rest)


def review_url(params: Params, scene_id: str) -> str:
    """The stable URL of a shard's review page (the partition in it)."""
    return url_of(params, paths.review_dir(params, scene_id) / "index.html")


class _Handler(SimpleHTTPRequestHandler):
    """Serves each mount's folder under its prefix; ``/`` lists the review pages; nothing else exists."""

    def __init__(self, *args, mounts: Mapping[str, Path], **kwargs):
        self.mounts = mounts
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        prefix, _, rest = urlsplit(path).path.lstrip("/").partition("/")
        if prefix not in self.mounts:
            return str(Path(self.mounts[REVIEW]) / ".no-such-mount" / "404")
        self.directory = str(self.mounts[prefix])
        return super().translate_path("/" + rest)  # drops "..": a path never leaves the mount

    def do_GET(self) -> None:
        if urlsplit(self.path).path in ("", "/"):
            self.send_response(302)
            self.send_header("Location", f"/{REVIEW}/")
            self.end_headers()
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # pages are rewritten by every check run
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # the Dagster log is busy enough
        pass


@contextmanager
def serve(params: Params) -> Iterator[str]:
    """Serve the review site in a thread of this process while the block runs; yields its base URL.

    Raises PortTaken naming the address when it cannot be bound.
    """
    address = (params.review.host, params.review.port)
    try:
        server = ThreadingHTTPServer(address, partial(_Handler, mounts=mounts(params)))
    except OSError as exc:
        raise PortTaken(exc.errno, f"review site: cannot listen on {address[0]}:{address[1]} "
                                   f"(params.yaml review.host/port): {exc.strerror}") from exc
    thread = threading.Thread(target=server.serve_forever, name="review-site", daemon=True)
    thread.start()
    try:
        yield base_url(params)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
