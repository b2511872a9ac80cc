"""Scene partitions: one static partition per catalog entry (scene list + optional ScanNet++ release)."""
from __future__ import annotations

import dagster as dg

from mosaic_pipeline.catalog import load_catalog
from mosaic_pipeline.params import default_params

scene_partitions = dg.StaticPartitionsDefinition([e.scene_id for e in load_catalog(default_params())])
