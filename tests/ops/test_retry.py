"""A bad scene fails alone in `mosaic run`, named with its step; once fixed, it is retried alone.

The scenes are a small real-layout release (two hand-written ScanNet++ scenes) so that one of them
can be broken on disk the way real data breaks: a missing annotation file.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from scenes_by_hand import write_hand_scene
from small_params import write_small_params

from mosaic_assets.services import BIN, REPO, project_env

GOOD, BAD = "0a1b2c3d4e", "5f6a7b8c9d"


def _real_release_params(root: Path) -> Path:
    """params.yaml whose catalog is a two-scene real-layout release (no synthetic scenes)."""
    release = root / "release"
    for sid in (GOOD, BAD):
        write_hand_scene(release, sid)
    (release / "splits").mkdir()
    (release / "splits" / "nvs_sem_train.txt").write_text(f"{GOOD}\n{BAD}\n")
    params = write_small_params(root)
    data = yaml.safe_load(params.read_text())
    data["paths"]["scannetpp_release"] = str(release)
    (root / "scenes.yaml").write_text(yaml.safe_dump({"name": "two real-layout scenes"}))
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    return params


def _mosaic_run(root: Path, params: Path, *args: str) -> subprocess.CompletedProcess:
    env = project_env(MOSAIC_PARAMS=params, DAGSTER_HOME=root / "dagster_home")
    return subprocess.run([str(BIN / "mosaic"), "run", "--no-downstream", "--workers", "2", *args], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_failed_scene_fails_alone_and_is_retried_alone(tmp_path):
    params = _real_release_params(tmp_path)
    anno = tmp_path / "release" / "data" / BAD / "scans" / "segments_anno.json"
    anno.unlink()

    first = _mosaic_run(tmp_path, params)
    assert first.returncode == 1, first.stdout + first.stderr
    assert re.search(rf"^ok +{GOOD} ", first.stdout, re.M), first.stdout
    (failed,) = [line for line in first.stdout.splitlines() if line.startswith("FAILED")]
    assert re.match(rf"FAILED {BAD} +run \S+ +scenes: .*{BAD}.*segments_anno\.json", failed), failed
    assert "scene partitions: 100%" in first.stderr and "2/2" in first.stderr  # the progress bar

    write_hand_scene(tmp_path / "release", BAD)  # fixed
    retry = _mosaic_run(tmp_path, params, "--scene", BAD)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert re.search(rf"^ok +{BAD} ", retry.stdout, re.M) and GOOD not in retry.stdout, retry.stdout
    assert "1/1" in retry.stderr
