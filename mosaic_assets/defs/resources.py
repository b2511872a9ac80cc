"""Resources: access to params.yaml (the single source of parameters) and the scene catalog."""
from __future__ import annotations

from pathlib import Path

import dagster as dg

from mosaic_pipeline.catalog import SceneEntry, catalog_by_id
from mosaic_pipeline.params import Params, load_params, params_path
from mosaic_pipeline.provenance import PARAMS_FILE_TAG, PARAMS_SHA256_TAG, dagster_run_tags

__all__ = ["PARAMS_FILE_TAG", "PARAMS_SHA256_TAG", "MosaicParams"]


class MosaicParams(dg.ConfigurableResource):
    """params.yaml, optionally another file for one run (run config; the run's tags name it and its hash).

    Every run that reads parameters, launched from anywhere (``mosaic run``, the UI's Materialize, a
    schedule, a test), gets the provenance tags when its steps start: the commit and dirty flag of the
    code that runs, the params file's and dvc.lock's sha256 (mosaic_pipeline.provenance). Job-level and
    ``mosaic run`` tags name them at launch already; these, computed in the run's own process, win.
    """

    params_file: str = ""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if context.run is None or context.instance is None:
            return
        tags = dagster_run_tags(self.path())
        if self.params_file:
            tags[PARAMS_FILE_TAG] = self.params_file
        if any(context.run.tags.get(k) != v for k, v in tags.items()):
            context.instance.add_run_tags(context.run.run_id, tags)

    def path(self) -> Path:
        return Path(self.params_file) if self.params_file else params_path()

    def load(self) -> Params:
        return load_params(self.path())

    def scene(self, scene_id: str) -> SceneEntry:
        entries = catalog_by_id(self.load())
        if scene_id not in entries:
            raise dg.Failure(f"scene {scene_id} is not in the catalog ({self.load().scene_set.list})")
        if entries[scene_id].problem is not None:
            raise entries[scene_id].problem
        return entries[scene_id]
