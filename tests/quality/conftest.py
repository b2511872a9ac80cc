"""Fixtures of the quality tests: the repository's parameters and the hand-built shards."""
from __future__ import annotations

import pandas as pd
import pytest
from quality_shards import good_shard

from mosaic_pipeline.params import Params, load_params


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params()


@pytest.fixture
def shard() -> pd.DataFrame:
    return good_shard()
