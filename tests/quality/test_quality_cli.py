"""``mosaic validate``: one line per expectation; exit 1 on a failed expectation, 2 on a bad table."""
from __future__ import annotations

from click.testing import CliRunner
from quality_shards import all_answers_a

from mosaic_cli import main


def _validate(tmp_path, shard, *args: str):
    path = tmp_path / "qa.parquet"
    shard.to_parquet(path)
    return CliRunner().invoke(main, ["validate", str(path), "--scope", "qa_shard", *args])


def test_unbalanced_shard_exits_nonzero_with_report(shard, tmp_path):
    result = _validate(tmp_path, all_answers_a(shard, "object_count"))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    failed = [line for line in lines if line.startswith("FAIL")]
    assert len(failed) == 2 and lines[-1] == f"{len(lines) - 3} passed, 2 failed"
    assert failed[0].startswith("FAIL  qa_letter_balance: expect_column_values_to_be_between on ")
    assert all("object_count letter shares A 1.00 B 0.00 C 0.00 D 0.00 (n 24)" in line for line in failed)


def test_good_shard_exits_zero_and_writes_docs(shard, tmp_path):
    result = _validate(tmp_path, shard, "--docs", str(tmp_path / "docs"))
    assert result.exit_code == 0, result.output
    assert all(line.startswith("PASS") for line in result.output.splitlines()[:-1])
    assert (tmp_path / "docs" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").is_file()


def test_table_without_needed_columns_exits_2(shard, tmp_path):
    result = _validate(tmp_path, shard.drop(columns=["metadata"]))
    assert result.exit_code == 2 and "lacks column(s) metadata" in result.output
