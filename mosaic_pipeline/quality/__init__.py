"""Data quality: Great Expectations suites (``expectations/*.json``) on validation frames derived from
the QA, visibility and view-sample tables, per-expectation reports, Data Docs and review plots.

Nothing here imports Dagster (the asset checks are in ``mosaic_assets.defs.assets.quality``).
"""
