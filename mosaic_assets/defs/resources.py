"""Resources: access to params.yaml (the single source of parameters) and the scene catalog."""
from __future__ import annotations

from pathlib import Path

import dagster as dg

from mosaic_pipeline.catalog import SceneEntry, catalog_by_id
from mosaic_pipeline.params import Params, load_params, params_path
from mosaic_pipeline.provenance import file_sha256

PARAMS_FILE_TAG, PARAMS_SHA256_TAG = "mosaic/params_file", "mosaic/params_sha256"


class MosaicParams(dg.ConfigurableResource):
    """params.yaml, optionally another file for one run (run config; the run's tags name it and its hash)."""

    params_file: str = ""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.params_file and context.run is not None and context.instance is not None:
            context.instance.add_run_tags(context.run.run_id, {
                PARAMS_FILE_TAG: self.params_file, PARAMS_SHA256_TAG: file_sha256(Path(self.params_file))})

    def load(self) -> Params:
        return load_params(Path(self.params_file) if self.params_file else params_path())

    def scene(self, scene_id: str) -> SceneEntry:
        entries = catalog_by_id(self.load())
        if scene_id not in entries:
            raise dg.Failure(f"scene {scene_id} is not in the catalog ({self.load().scene_set.list})")
        if entries[scene_id].problem is not None:
            raise entries[scene_id].problem
        return entries[scene_id]
