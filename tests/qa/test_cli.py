"""``mosaic qa`` on the hand-written real-layout scene: visibility computed when absent, a given view
table used as is, answers checked, identical bytes on a rerun, a bad input named."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from qa_checker import check_shard

from mosaic_cli import main
from mosaic_pipeline.qa.records import as_frame, read_table
from mosaic_pipeline.scene.scannetpp import load_scene
from mosaic_pipeline.visibility.table import read_visibility
from mosaic_pipeline.visibility.views import read_views, write_views

sys.path.insert(0, str(Path(__file__).parents[1]))
from scenes_by_hand import write_hand_scene  # noqa: E402


def _views(scene_id: str, frames: list[str]) -> pd.DataFrame:
    return pd.DataFrame([{"scene_id": scene_id, "sample_id": 0, "frame_ids": frames, "n_frames": len(frames),
                          "pairwise_overlaps": [0.2], "max_overlap": 0.2, "mean_overlap": 0.2,
                          "overlap_level": "medium"}])


def test_cli_writes_a_checked_shard(tmp_path, params):
    hand = write_hand_scene(tmp_path / "release")
    out = tmp_path / "out"
    out.mkdir()
    scene = load_scene(hand.scene_dir)
    write_views(_views(scene.scene_id, ["frame_000000", "frame_000020"]), out / "views.parquet")
    result = CliRunner().invoke(main, ["qa", str(hand.scene_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    qa = as_frame(read_table(out / "qa.parquet"))
    assert summary["qa"] == len(qa) > 0 and (out / "visibility.parquet").exists()
    problems, checked = check_shard(qa, scene, read_visibility(out / "visibility.parquet"),
                                    read_views(out / "views.parquet"), params)
    assert problems == [] and checked == len(qa)
    samples = json.loads((out / "samples.json").read_text())
    assert [s["sample_id"] for s in samples] == [0] and len(samples[0]["qa_sample"]) == len(qa)
    first = (out / "qa.parquet").read_bytes()
    assert CliRunner().invoke(main, ["qa", str(hand.scene_dir), "--out", str(out)]).exit_code == 0
    assert (out / "qa.parquet").read_bytes() == first


def test_cli_names_a_bad_views_table(tmp_path):
    hand = write_hand_scene(tmp_path / "release")
    out = tmp_path / "out"
    out.mkdir()
    write_views(_views(hand.scene_dir.name, ["frame_000000", "frame_999999"]), out / "views.parquet")
    result = CliRunner().invoke(main, ["qa", str(hand.scene_dir), "--out", str(out)])
    assert result.exit_code == 1
    assert "views.parquet" in result.output and "frame_ids" in result.output and hand.scene_dir.name in result.output
    assert not (out / "qa.parquet").exists()
