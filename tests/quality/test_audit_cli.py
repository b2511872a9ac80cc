"""``mosaic audit``: the table and verdict of any QA file (native Parquet or official test-record JSON);
exit 1 when a judged split breaks a threshold, 2 on a table the audit cannot read."""
from __future__ import annotations

import json

import pandas as pd
from audit_data import qa_table
from click.testing import CliRunner

from mosaic_cli import main
from mosaic_pipeline.qa.export import test_records as official_records


def _audit(path, *args: str):
    return CliRunner().invoke(main, ["audit", str(path), *args])


def test_planted_shortcut_exits_one_with_the_failures(tmp_path):
    path = tmp_path / "qa.parquet"
    qa_table(shortcut_share=1.0).to_parquet(path)
    result = _audit(path, "--out", str(tmp_path / "audit"))
    assert result.exit_code == 1, result.output
    assert "| bench | obj_count_occ | 240 | 25.0 |" in result.output
    assert any(line.startswith("FAIL bench obj_count_occ: text-only gap") for line in result.output.splitlines())
    assert {p.name for p in (tmp_path / "audit").iterdir()} == {"audit.parquet", "audit.json", "audit.png", "questions.parquet"}


def test_clean_data_passes(tmp_path):
    path = tmp_path / "qa.parquet"
    qa_table(shortcut_share=0.0).to_parquet(path)
    result = _audit(path)
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("PASS: every threshold holds")


def test_official_test_records_of_a_peer(tmp_path):
    """The official test-record JSON (options "A. 4", mc_answer a letter); the file's stem names its split."""
    qa = qa_table(shortcut_share=1.0)
    path = tmp_path / "peer.json"
    path.write_text(json.dumps(official_records(qa.assign(metadata="{}"))["spatial_mosaic"]))
    result = _audit(path, "--judge", "peer")
    assert result.exit_code == 1, result.output
    assert "| peer | obj_count_occ | 240 |" in result.output and "FAIL peer obj_count_occ" in result.output


def test_a_table_without_the_columns_exits_two(tmp_path):
    path = tmp_path / "other.parquet"
    pd.DataFrame({"question": ["q"], "options": [["a", "b"]]}).to_parquet(path)
    result = _audit(path)
    assert result.exit_code == 2 and "error:" in result.output
