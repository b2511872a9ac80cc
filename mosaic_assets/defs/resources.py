"""Resources: access to params.yaml (the single source of parameters) and the scene catalog."""
from __future__ import annotations

from pathlib import Path

import dagster as dg

from ..catalog import SceneEntry, catalog_by_id
from ..params import Params, load_params, params_path


class MosaicParams(dg.ConfigurableResource):
    """params.yaml, optionally another file for one run (its path is recorded in the run config)."""

    params_file: str = ""

    def load(self) -> Params:
        return load_params(Path(self.params_file) if self.params_file else params_path())

    def scene(self, scene_id: str) -> SceneEntry:
        entries = catalog_by_id(self.load())
        if scene_id not in entries:
            raise dg.Failure(f"scene {scene_id} is not in the catalog ({self.load().scene_set.list})")
        return entries[scene_id]
