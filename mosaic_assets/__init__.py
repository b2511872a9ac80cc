"""The orchestration layer: the Dagster definitions of the SpatialMosaic pipeline (docs/architecture.md).

- ``definitions``: the ``Definitions`` object ``dagster dev`` loads (assets, checks, jobs, resources, executors)
- ``defs``: the thin assets by domain, the blocking quality checks, resources, partitions and executors
- ``runner``: ``mosaic run`` - the same jobs outside the UI, one process per scene partition
- ``services``: PostgreSQL, Redis, the UI and Celery workers on loopback (operations tests, backfill benchmark)

The computation lives in ``mosaic_pipeline`` (data) and ``mosaic_model`` (the VLM); nothing below this
package imports Dagster.
"""
