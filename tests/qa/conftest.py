"""QA test inputs: two hand-built box rooms with visibility and view tables, and their shards."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures import box_room, views_table, visibility_table  # noqa: E402

from mosaic_assets.params import Params, load_params  # noqa: E402
from mosaic_assets.qa.generate import generate_scene_qa  # noqa: E402
from mosaic_assets.qa.records import as_frame, to_table  # noqa: E402
from mosaic_assets.scene.types import Scene  # noqa: E402

N_SAMPLES = 60  # like views.samples_per_scene: enough for every question type to reach its cap


@dataclass
class Shard:
    scene: Scene
    visibility: pd.DataFrame
    views: pd.DataFrame
    qa: pd.DataFrame


def make_shard(seed: int, params: Params, split: str | None = None) -> Shard:
    scene = box_room(f"fixture_{seed:04d}", seed=seed)
    vis, views = visibility_table(scene, seed), views_table(scene, N_SAMPLES, seed)
    qa = as_frame(to_table(generate_scene_qa(scene, vis, views, params, split=split)))
    return Shard(scene, vis, views, qa)


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params()


@pytest.fixture(scope="session")
def shards(params) -> list[Shard]:
    """Two scenes, every task group."""
    return [make_shard(seed, params) for seed in (0, 1)]
