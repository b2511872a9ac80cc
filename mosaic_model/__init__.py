"""SpatialMosaicVLM: the model, its training, evaluation and scoring (docs/model.md; docs/metrics.md).

- ``vggt``: the VGGT geometry encoder, parameter names as the official checkpoint
- ``modeling``: the VLM (open_clip vision, frozen VGGT, cross-attention fusion, projector, causal LM)
- ``data`` / ``tokenizer``: QA parquet -> prompts, tokens and cached frames; BPE on the QA corpus
- ``train`` / ``checkpoint`` / ``tracking``: resumable MLflow-tracked training, safetensors checkpoints
- ``metrics`` / ``evaluate``: the official scoring rules, greedy decoding, score tables
- ``geometry_pretrain``: depth + relative-pose pretraining of the geometry encoder
- ``experiment``: the paper experiment's tooling (bundle, baselines, runs, report)

Nothing here imports Dagster or the orchestration layer (``mosaic_assets``); the command line is ``mosaic_cli``.
"""
