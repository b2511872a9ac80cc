"""Tables that DVC restored (``dvc pull`` / ``dvc checkout``) recorded in the Dagster instance.

Per-scene assets read their upstream tables from the ``path`` of the upstream asset's latest
materialization. In a checkout whose data came from the DVC remote the instance has none, so a
stage that reruns (e.g. ``qa`` after a QA parameter changed) would find no input. Before a per-scene
run of a subset of assets, every restorable table outside the subset that is on disk but not the
latest recorded ``path`` is recorded as a runless materialization, marked as restored.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

import dagster as dg

from ..params import Params
from .assets.quality import PATH_KEY
from .assets.visibility import views_path, visibility_path

RESTORED_TAG = "mosaic/restored_by"
RESTORABLE: dict[str, Callable[[Params, str], Path]] = {"visibility": visibility_path, "view_samples": views_path}


def _recorded_path(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> str | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1).records
    meta = records[0].asset_materialization.metadata if records else {}
    return str(meta[PATH_KEY].value) if PATH_KEY in meta else None


def record_restored(instance: dg.DagsterInstance, params: Params, partition: str,
                    selected: Collection[str]) -> list[str]:
    """Record the restorable tables of ``partition`` missing from the instance; returns their asset names."""
    recorded = []
    for name, path_of in RESTORABLE.items():
        path, key = path_of(params, partition), dg.AssetKey(name)
        if name in selected or not path.is_file() or _recorded_path(instance, key, partition) == str(path):
            continue
        instance.report_runless_asset_event(dg.AssetMaterialization(
            key, partition=partition, metadata={PATH_KEY: dg.MetadataValue.path(str(path))},
            description="restored by DVC: the file was on disk without a materialization in this instance",
            tags={RESTORED_TAG: "dvc"}))
        recorded.append(name)
    return recorded
