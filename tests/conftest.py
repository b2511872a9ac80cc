"""Shared fixtures: a small parameter set (tiny scenes, outputs under a temporary folder)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mosaic_assets.params import Params, load_params, params_path

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


@pytest.fixture
def small_params_file(tmp_path) -> Path:
    return write_small_params(tmp_path)


@pytest.fixture
def small_params(small_params_file) -> Params:
    return load_params(small_params_file)
