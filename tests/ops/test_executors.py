"""The executor is chosen by MOSAIC_EXECUTOR, and the Celery one reads the workers' own YAML."""
from __future__ import annotations

import dagster as dg
import pytest

from mosaic_assets.defs.executors import celery_config_path, celery_executor_config, pipeline_executor


def test_default_is_multiprocess(monkeypatch):
    monkeypatch.delenv("MOSAIC_EXECUTOR", raising=False)
    assert pipeline_executor() is dg.multiprocess_executor


def test_celery_executor_from_the_workers_yaml(monkeypatch, tmp_path):
    monkeypatch.setenv("MOSAIC_EXECUTOR", "celery")
    monkeypatch.delenv("MOSAIC_CELERY_CONFIG", raising=False)
    config = celery_executor_config(celery_config_path())
    assert config["broker"] == {"env": "MOSAIC_CELERY_BROKER"} and config["config_source"]["task_acks_late"]
    executor = pipeline_executor()
    assert executor.name == "celery"

    other = tmp_path / "celery.yaml"
    other.write_text("execution:\n  config:\n    broker: redis://127.0.0.1:1/0\n")
    monkeypatch.setenv("MOSAIC_CELERY_CONFIG", str(other))
    assert celery_executor_config(celery_config_path()) == {"broker": "redis://127.0.0.1:1/0"}


def test_unknown_executor_is_an_error(monkeypatch):
    monkeypatch.setenv("MOSAIC_EXECUTOR", "k8s")
    with pytest.raises(ValueError, match="MOSAIC_EXECUTOR='k8s'"):
        pipeline_executor()
