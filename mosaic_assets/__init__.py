"""mosaic: the SpatialMosaic data pipeline (scenes -> visibility -> views -> QA) and its Dagster definitions.

Pure computation lives in plain modules (``scene``, ``synth``, ``visibility`` ...) that never import
Dagster; ``mosaic_assets.defs`` holds the thin asset wrappers and ``mosaic_assets.definitions`` the
``Definitions`` object that ``dagster dev`` loads.
"""
