"""The pure pipeline library of mosaic: every computation from scene files to checked QA (docs/architecture.md).

- ``params`` / ``paths``: typed params.yaml and every output path computed from it
- ``scene``: the ScanNet++ release reader, COLMAP and PLY IO, camera geometry
- ``synth``: procedural indoor rooms written in the ScanNet++ layout
- ``frames``, ``catalog``: working-resolution frames; the scene list and its splits
- ``visibility``: one ray cast per frame -> visibility, occlusion, truncation; frame overlap; view sampling
- ``qa``: the task families, options and balance, records and official exports
- ``quality``: Great Expectations suites, validation and Data Docs
- ``plots``: every figure the pipeline, the model and the reports draw
- ``provenance`` / ``repro``: commit and data hashes; reproducing a result by commit
- ``atomic`` / ``errors``: all-or-nothing outputs; errors naming scene, file and field

Nothing here imports Dagster, the model or the command line.
"""
