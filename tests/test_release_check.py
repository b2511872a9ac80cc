"""``mosaic scenes check DATA_ROOT``: a whole release, one line per scene and a summary, without
extracting frames or rendering; a bad scene fails alone; exit 1 when any scene fails."""
from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from scenes_by_hand import write_hand_scene, write_video

from mosaic_cli import main

OK, VIDEO, BAD, TWICE = "0a0a0a0a0a", "0b0b0b0b0b", "0c0c0c0c0c", "0d0d0d0d0d"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    for sid in (OK, VIDEO, BAD, TWICE):
        write_hand_scene(root, sid, release_shaped=True)
    shutil.rmtree(root / "data" / VIDEO / "iphone/rgb")
    write_video(root / "data" / VIDEO / "iphone/rgb.mkv", 25)
    mesh = root / "data" / BAD / "scans/mesh_aligned_0.05.ply"
    mesh.write_bytes(mesh.read_bytes()[:-40])
    (root / "splits").mkdir()
    (root / "splits/nvs_sem_train.txt").write_text(f"{OK}\n{VIDEO}\n{TWICE}\n")
    (root / "splits/nvs_sem_val.txt").write_text(f"{BAD}\n{TWICE}\n")
    return root


def test_release_lines_and_summary(release, tmp_path):
    out = tmp_path / "check.json"
    result = CliRunner().invoke(main, ["scenes", "check", str(release), "--json", str(out)])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"ok      {OK}  3 frames, 4 instances")
    assert lines[1].startswith(f"ok      {VIDEO}  3 frames")
    assert lines[2].startswith(f"FAILED  {TWICE}  scene {TWICE} [{release}/splits/nvs_sem_val.txt]: field 'line 2': "
                               "scene listed 2 times")
    assert lines[3].startswith(f"FAILED  {BAD}  scene {BAD} [{release}/data/{BAD}/scans/mesh_aligned_0.05.ply]")
    assert f"release {release}: 2 of 4 scenes ok, 2 failed" in result.stdout
    summary = json.loads(out.read_text())["summary"]
    assert summary["frames"] == 6 and summary["instances"] == 8
    assert summary["label_status"] == {"kept": 2, "mapped": 4, "unlisted": 2, "dropped": 6, "unmapped": 2}
    top = {t["label"]: (t["segGroups"], t["status"]) for t in summary["top_no_class_labels"]}
    assert top == {"REMOVE": (2, "dropped"), "SPLIT": (2, "dropped"), "floor": (2, "dropped"),
                   "wall": (2, "unlisted"), "whiteboard": (2, "unmapped")}


def test_check_reads_no_whole_video(release):
    """The video-only scene is checked by probing: no iphone/rgb/ appears."""
    assert not (release / "data" / VIDEO / "iphone/rgb").exists()


def test_only_some_scenes_and_an_unknown_id(release):
    result = CliRunner().invoke(main, ["scenes", "check", str(release), "--scene", OK])
    assert result.exit_code == 0 and "1 of 1 scenes ok" in result.stdout
    result = CliRunner().invoke(main, ["scenes", "check", str(release), "--scene", "ffffffffff"])
    assert result.exit_code == 2 and "unknown scene id(s) ffffffffff" in result.output


def test_a_bad_map_file_stops_before_any_scene(release, tmp_path):
    shutil.copytree(release, tmp_path / "r")
    (tmp_path / "r/metadata/semantic_benchmark/map_benchmark.csv").write_text("label,n\n")
    result = CliRunner().invoke(main, ["scenes", "check", str(tmp_path / "r")])
    assert result.exit_code == 2 and result.stdout == ""
    assert "map_benchmark.csv: field 'class, count, instance_map_to': missing column" in result.stderr


def test_single_scene_check_probes_the_video(release):
    scene = release / "data" / VIDEO
    result = CliRunner().invoke(main, ["scenes", "check", str(scene)])
    assert result.exit_code == 0 and json.loads(result.stdout)["n_frames"] == 3
    assert not (scene / "iphone/rgb").exists()
