"""The executor is chosen by MOSAIC_EXECUTOR, and the Celery one reads the workers' own YAML."""
from __future__ import annotations

import importlib

import pytest

from mosaic_assets.defs.executors import DEFINITIONS_MODULE, celery_config_path, celery_executor_config, pipeline_executor


def test_default_is_multiprocess_forking_from_the_loaded_definitions(monkeypatch):
    """Steps fork from a server that imported the definitions (not a fresh interpreter per step)."""
    monkeypatch.delenv("MOSAIC_EXECUTOR", raising=False)
    monkeypatch.delenv("MOSAIC_START_METHOD", raising=False)
    for executor in (pipeline_executor(), importlib.import_module(DEFINITIONS_MODULE).defs.resolve_job_def(
            "per_scene").executor_def):
        assert executor.name == "multiprocess"
        config = executor.config_schema.resolve_config({}).value["config"]  # a run without executor config
        assert config["start_method"] == {"forkserver": {"preload_modules": [DEFINITIONS_MODULE]}}


def test_spawn_by_configuration_and_unknown_start_methods_are_errors(monkeypatch):
    monkeypatch.delenv("MOSAIC_EXECUTOR", raising=False)
    monkeypatch.setenv("MOSAIC_START_METHOD", "spawn")
    assert pipeline_executor().config_schema.resolve_config({}).value["config"]["start_method"] == {"spawn": {}}
    monkeypatch.setenv("MOSAIC_START_METHOD", "fork")
    with pytest.raises(ValueError, match="MOSAIC_START_METHOD='fork'"):
        pipeline_executor()


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
