"""SpatialMosaicVLM: the model, its training, evaluation and scoring (MODEL.md; DATA.md section 7).

- ``vggt``: the VGGT geometry encoder, parameter names as the official checkpoint
- ``modeling``: the VLM (open_clip vision, frozen VGGT, cross-attention fusion, projector, causal LM)
- ``data`` / ``tokenizer``: QA parquet -> prompts, tokens and cached frames; BPE on the QA corpus
- ``train`` / ``checkpoint`` / ``tracking``: resumable MLflow-tracked training, safetensors checkpoints
- ``metrics`` / ``evaluate`` / ``plots``: the official scoring rules, greedy decoding, score tables, figures
- ``cli``: ``mosaic train | evaluate | score``; ``dagster_resource``: the MLflow Dagster resource

Nothing here imports Dagster except ``dagster_resource``.
"""
