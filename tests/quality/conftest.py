"""Fixtures of the quality tests: the repository's parameters and the hand-built shards."""
from __future__ import annotations

import pandas as pd
import pytest

from mosaic_assets.params import Params, load_params

from quality_shards import good_shard


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params()


@pytest.fixture
def shard() -> pd.DataFrame:
    return good_shard()
