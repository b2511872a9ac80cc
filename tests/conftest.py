"""Shared fixtures: a small parameter set (tiny scenes, outputs under a temporary folder)."""
from __future__ import annotations

from pathlib import Path

import pytest
from small_params import SMALL_OVERRIDES, write_small_params  # noqa: F401  (re-exported for tests/*.py)

from mosaic_pipeline.params import Params, load_params


@pytest.fixture
def small_params_file(tmp_path) -> Path:
    return write_small_params(tmp_path)


@pytest.fixture
def small_params(small_params_file) -> Params:
    return load_params(small_params_file)
