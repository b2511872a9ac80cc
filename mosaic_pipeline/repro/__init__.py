"""Reproducing a result by commit hash: DVC lock and score comparisons, the reproduce flow, MLflow runs by commit.

Pure modules (no Dagster); DVC is called as a command (its own environment, .venv-dvc/), never imported.
"""
