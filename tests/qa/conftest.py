"""QA test inputs: two hand-built box rooms with visibility and view tables, and their shards."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from qa_fixtures import Shard, make_shard  # noqa: E402

from mosaic_pipeline.params import Params, load_params  # noqa: E402


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params()


@pytest.fixture(scope="session")
def shards(params) -> list[Shard]:
    """Two scenes, every task group."""
    return [make_shard(seed, params) for seed in (0, 1)]
