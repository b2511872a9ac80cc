"""The Dagster definitions: thin assets over ``mosaic_pipeline`` and ``mosaic_model``, the blocking quality
checks, resources (params, MLflow), partitions and executors."""
