"""Fixtures of the model tests: the hand-written QA set (model_fixtures) and params with outputs in tmp."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch
from model_fixtures import qa_rows, write_frames

from mosaic_pipeline.params import Params, load_params

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
torch.set_num_threads(1)  # the CI machine has 2 cores shared by several jobs; 1 thread is also deterministic


@dataclass(frozen=True)
class QASet:
    parquet: Path
    image_root: Path


@pytest.fixture(scope="session")
def qa_set(tmp_path_factory) -> QASet:
    root = tmp_path_factory.mktemp("qa")
    write_frames(root / "images")
    parquet = root / "qa.parquet"
    pd.DataFrame(qa_rows()).to_parquet(parquet)
    return QASet(parquet, root / "images")


@pytest.fixture(scope="session")
def params(tmp_path_factory) -> Params:
    return load_params(overrides={"paths": {"artifacts": str(tmp_path_factory.mktemp("artifacts"))}})
