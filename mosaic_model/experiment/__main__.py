"""``python -m mosaic_model.experiment``: the experiment's stages (geometry, train, evaluate, export-encoder).

The device machine runs them this way, without the orchestration layer or the ``mosaic`` command installed.
"""
from .runs import cli

cli()
