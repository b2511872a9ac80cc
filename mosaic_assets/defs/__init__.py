"""The Dagster layer: thin assets over the pure modules, resources, partitions and jobs.

Only this package (and ``mosaic_assets.definitions``) imports Dagster.
"""
