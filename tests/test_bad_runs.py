"""Bad input around a run (docs/bad_input.md): params.yaml errors, unknown scene ids, a scene listed twice,
a full disk while writing a shard, a run killed mid-way, and `mosaic validate` on the project's own
split-less output. Each is one line naming the file (and field), or a rerun that completes byte-identical."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from scenes_by_hand import write_hand_scene

from mosaic_cli import main
from mosaic_pipeline.catalog import load_catalog
from mosaic_pipeline.errors import OutputError, SceneError
from mosaic_pipeline.params import REPO_ROOT, ParamsError, load_params, params_path
from mosaic_pipeline.visibility.views import write_views

KILL = """
import os, signal, sys
from pathlib import Path
real = os.replace
def replace(src, dst):  # killed with the temporary of sys.argv[1] half written, just before its rename
    if Path(dst).name == sys.argv[1]:
        p = Path(src)
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
os.replace = replace
from mosaic_cli import main
main(sys.argv[2:], prog_name="mosaic")
"""


def _params_file(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(params_path().read_text())
    edit(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("edit, text", [
    (lambda d: d["visibility"].update(long_sid=320), "visibility.long_sid: unknown key"),
    (lambda d: d["views"].update(seed="seven"), "views.seed: input should be a valid integer"),
    (lambda d: d["scannetpp"]["label_mapping"].update(column="label"), "scannetpp.label_mapping.column: input "
                                                                        "should be 'instance_map_to' or"),
    (lambda d: d.pop("qa"), "qa: missing"),
], ids=["unknown key", "wrong type", "bad choice", "missing section"])
def test_params_errors_are_one_line(tmp_path, monkeypatch, edit, text):
    path = _params_file(tmp_path, edit)
    with pytest.raises(ParamsError, match=text):
        load_params(path)
    monkeypatch.setenv("MOSAIC_PARAMS", str(path))
    hand = write_hand_scene(tmp_path / "release")
    result = CliRunner().invoke(main, ["scenes", "check", str(hand.scene_dir)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: ") and text in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_params_not_yaml(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("visibility: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(path)


def test_unknown_scene_id_on_the_command_line():
    result = CliRunner().invoke(main, ["run", "--scene", "synth_9999", "--no-downstream"])
    assert result.exit_code == 2 and "unknown scene id(s) synth_9999: not in the catalog" in result.output


def test_a_scene_listed_twice_fails_alone(tmp_path):
    from mosaic_assets.defs.resources import MosaicParams

    (tmp_path / "splits").mkdir()
    (tmp_path / "splits/nvs_sem_train.txt").write_text("0a5c013435\n1b2c3d4e5f\n")
    (tmp_path / "splits/nvs_sem_val.txt").write_text("0a5c013435\n")
    path = _params_file(tmp_path, lambda d: d["paths"].update(scannetpp_release=str(tmp_path)))
    real = {e.scene_id: e for e in load_catalog(load_params(path)) if e.source == "scannetpp"}
    assert list(real) == ["0a5c013435", "1b2c3d4e5f"] and real["1b2c3d4e5f"].problem is None
    resource = MosaicParams(params_file=str(path))
    assert resource.scene("1b2c3d4e5f").split == "bench" or resource.scene("1b2c3d4e5f").split == "train"
    with pytest.raises(SceneError) as err:
        resource.scene("0a5c013435")
    assert err.value.path == tmp_path / "splits/nvs_sem_val.txt" and err.value.field == "line 1"
    assert "listed 2 times in the release's splits: nvs_sem_train.txt line 1 (train), nvs_sem_val.txt line 1" \
        in str(err.value)


# ---- writing: a full disk, a killed run --------------------------------------------------------------

@pytest.fixture
def hand_out(tmp_path):
    """The hand scene and an output folder holding a fixed view sample (so that QA is asked)."""
    hand = write_hand_scene(tmp_path / "release")
    out = tmp_path / "out"
    out.mkdir()
    write_views(pd.DataFrame([{"scene_id": hand.scene_id, "sample_id": 0, "frame_ids": ["frame_000000", "frame_000020"],
                               "n_frames": 2, "pairwise_overlaps": [0.2], "max_overlap": 0.2, "mean_overlap": 0.2,
                               "overlap_level": "medium"}]), out / "views.parquet")
    return hand, out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_disk_full_while_writing_a_shard(hand_out, monkeypatch):
    hand, out = hand_out
    clean = out.parent / "clean"
    clean.mkdir()
    (clean / "views.parquet").write_bytes((out / "views.parquet").read_bytes())
    assert CliRunner().invoke(main, ["qa", str(hand.scene_dir), "--out", str(clean)]).exit_code == 0
    real = pq.write_table

    def full_disk(table, where, **kw):  # the shard's temporary gets 100 bytes, then the disk is full
        real(table, where, **kw)
        if Path(where).name.startswith(".qa.parquet."):
            Path(where).write_bytes(Path(where).read_bytes()[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("mosaic_pipeline.qa.records.pq.write_table", full_disk)
    result = CliRunner().invoke(main, ["qa", str(hand.scene_dir), "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr == (f"error: [Errno 28] No space left on device while writing {out / 'qa.parquet'}: "
                             "nothing of it was written (an older version, if any, is intact); free space and rerun\n")
    assert sorted(_files(out)) == ["views.parquet", "visibility.parquet"]  # no qa.parquet, no temporary
    monkeypatch.setattr("mosaic_pipeline.qa.records.pq.write_table", real)
    assert CliRunner().invoke(main, ["qa", str(hand.scene_dir), "--out", str(out)]).exit_code == 0
    assert _files(out) == _files(clean)


def test_output_error_keeps_the_old_file(tmp_path):
    from mosaic_pipeline.atomic import atomic_file

    target = tmp_path / "shard.parquet"
    target.write_text("old")
    with pytest.raises(OutputError, match="while writing"), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["shard.parquet"]


@pytest.mark.parametrize("victim", ["visibility.parquet", "qa.parquet"])
def test_killed_run_reruns_byte_identical(hand_out, victim):
    hand, out = hand_out
    clean = out.parent / "clean"
    clean.mkdir()
    (clean / "views.parquet").write_bytes((out / "views.parquet").read_bytes())
    assert CliRunner().invoke(main, ["qa", str(hand.scene_dir), "--out", str(clean)]).exit_code == 0
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    killed = subprocess.run([sys.executable, "-c", KILL, victim, "qa", str(hand.scene_dir), "--out", str(out)],
                            env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert victim not in _files(out) and any(n.startswith(f".{victim}.") for n in _files(out))  # half-written temp
    rerun = CliRunner().invoke(main, ["qa", str(hand.scene_dir), "--out", str(out)])
    assert rerun.exit_code == 0, rerun.output
    assert _files(out) == _files(clean)  # the same files, byte for byte, and no temporary left


def test_validate_on_the_output_of_mosaic_qa(hand_out):
    """Without --split: one clear line (not a pandas traceback); with --split: a validation report."""
    hand, out = hand_out
    assert CliRunner().invoke(main, ["qa", str(hand.scene_dir), "--out", str(out)]).exit_code == 0
    result = CliRunner().invoke(main, ["validate", str(out / "qa.parquet")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith(f"error: {out / 'qa.parquet'}: field 'split': no QA has a split")
    assert CliRunner().invoke(main, ["qa", str(hand.scene_dir), "--out", str(out), "--split", "bench"]).exit_code == 0
    result = CliRunner().invoke(main, ["validate", str(out / "qa.parquet"), "--scope", "qa_shard"])
    assert "Traceback" not in result.output and result.stdout.rstrip().endswith("0 failed"), result.output
    assert json.loads(json.dumps(result.exit_code)) == 0
