"""A small parameter set for tests: tiny scenes, outputs under a given folder.

A module of its own (not only in conftest.py) so that tests in sub-folders with their own conftest.py
can import it: ``from small_params import write_small_params``.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from mosaic_pipeline.params import params_path

# Small enough for the 2-core CI machine, big enough that frames see several objects.
SMALL_OVERRIDES = {
    "synthetic": {"n_frames": 12, "image_width": 320, "image_height": 240},
    "frames": {"long_side": 160},
    "visibility": {"long_side": 160},
}


def write_small_params(root: Path, n_scenes: int = 2, extra: dict | None = None) -> Path:
    """A params.yaml under ``root`` whose outputs and scene list live there too; returns its path."""
    data = yaml.safe_load(params_path().read_text())
    for section, values in {**SMALL_OVERRIDES, **(extra or {})}.items():
        data[section] = {**data.get(section, {}), **values}
    scene_list = root / "scenes.yaml"
    scene_list.write_text(yaml.safe_dump({"name": "test", "synthetic": {"seed": 0, "count": n_scenes, "id_prefix": "synth"},
                                          "splits": {"bench": [f"synth_{n_scenes - 1:04d}"]}}))
    data["paths"] = {"artifacts": str(root / "artifacts"), "synthetic_release": str(root / "synthetic"),
                     "scannetpp_release": None}
    data["scene_set"] = {"list": str(scene_list)}
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
