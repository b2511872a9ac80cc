"""Refresh mosaic_pipeline/quality/data_docs_static/ from npm, as VENDOR.json pins it.

    .venv/bin/python scripts/vendor_data_docs.py

Each package of VENDOR.json is fetched with ``npm pack NAME@VERSION``; the files it lists are copied to
their ``path`` and the package's license file to ``licenses/``. Run it after editing VENDOR.json, e.g. when
a Great Expectations upgrade makes Data Docs load other CDN files (tests/quality/test_data_docs.py then
names every remote script or stylesheet left in a built site).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from mosaic_pipeline.quality.data_docs import MANIFEST, VENDOR_DIR


def fetch(package: str, into: Path) -> Path:
    """The unpacked npm tarball of ``package`` (NAME@VERSION)."""
    name = subprocess.run(["npm", "pack", "--silent", package], cwd=into, check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]
    unpacked = into / package.replace("/", "_")
    with tarfile.open(into / name) as tar:
        tar.extractall(unpacked, filter="data")
    return unpacked / "package"


def main() -> None:
    manifest = json.loads(MANIFEST.read_text())
    for old in [p for p in VENDOR_DIR.iterdir() if p != MANIFEST]:
        shutil.rmtree(old)
    with tempfile.TemporaryDirectory() as tmp:
        for package, meta in manifest["packages"].items():
            root = fetch(package, Path(tmp))
            for f in (f for f in manifest["files"] if f["package"] == package):
                (VENDOR_DIR / f["path"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / f["source"], VENDOR_DIR / f["path"])
            if meta["license_file"]:
                (VENDOR_DIR / "licenses").mkdir(exist_ok=True)
                shutil.copyfile(root / meta["license_file"], VENDOR_DIR / "licenses" / package.rsplit("@", 1)[0]
                                .replace("/", "_").lstrip("@"))
            print(f"{package}: {meta['license']}")


if __name__ == "__main__":
    main()
