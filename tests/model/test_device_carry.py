"""scripts/device_carry.py: a work folder too large for one device command travels in loads that each fit,
and the loads of one split join into the same files on the other side, or fail naming what is missing."""
from __future__ import annotations

import filecmp
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mosaic_pipeline.params import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "device_carry.py"
KIB = 1024


def _carry(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


@pytest.fixture()
def work(tmp_path) -> Path:
    """A work folder after the CPU part: ledger, checkout, the VLM bundle (QA and frames), a first run's logs."""
    w = tmp_path / "work"
    files = {"ledger.json": 200, "checkout.json": 300, "vlm-bundle/qa.parquet": 5 * KIB,
             "vlm-bundle/manifest.json": 100, "logs/experiment.log": 700, "bundle/depth/a.npy": 9 * KIB,
             **{f"vlm-bundle/frames/synthetic/s{i}/images/{j}.jpg": 900 + 37 * i + j for i in range(3) for j in range(4)}}
    for rel, size in files.items():
        (w / rel).parent.mkdir(parents=True, exist_ok=True)
        (w / rel).write_bytes(bytes((i * 7 + len(rel)) % 256 for i in range(size)))
    return w


def _loads(dest: Path) -> list[Path]:
    return sorted(dest.parent.glob(f"{dest.name}.*"), key=lambda p: int(p.suffix[1:]))


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.name != ".load.json"}


def test_the_runs_part_splits_into_loads_under_the_budget_and_joins_into_the_same_files(work, tmp_path):
    dest = tmp_path / "repo" / ".xwork"
    done = _carry("split", str(work), str(dest), "runs", "--budget-mib", str(6 * KIB / 2**20))
    assert done.returncode == 0, done.stderr
    loads = _loads(dest)
    assert len(loads) >= 3 and len(done.stdout.splitlines()) == len(loads)
    assert '".whl"' in done.stdout.splitlines()[-1] and '".whl"' not in done.stdout.splitlines()[0]
    for load in loads:
        assert sum((load / f).stat().st_size for f in _files(load)) <= 6 * KIB
    expected = {p for p in _files(work) if p.parts[0] != "bundle"}  # runs: no geometry bundle
    assert set().union(*(_files(load) for load in loads)) == expected
    device = tmp_path / "device"  # what consecutive calls leave on the warm machine
    for load in loads:
        shutil.copytree(load, device / load.name)
    (device / ".xwork").mkdir()
    (device / ".xwork" / "ledger.json").write_text("an older ledger, replaced")
    assert _carry("join", str(device / ".xwork")).returncode == 0
    assert _files(device / ".xwork") == expected
    assert all(filecmp.cmp(work / f, device / ".xwork" / f, shallow=False) for f in expected)
    # joined loads are gone: the next command of the machine joins nothing, so what the experiment wrote since
    # (its ledger, replaced atomically) is not put back to the carried one
    assert [p.name for p in device.iterdir()] == [".xwork"]
    assert _carry("join", str(device / ".xwork")).returncode != 0


def test_a_load_missing_on_the_machine_fails_naming_it_and_a_file_over_the_budget_fails(work, tmp_path):
    dest = tmp_path / "repo" / ".xwork"
    assert _carry("split", str(work), str(dest), "geometry", "--budget-mib", str(10 * KIB / 2**20)).returncode == 0
    loads = _loads(dest)
    device = tmp_path / "device"
    for load in loads[1:]:  # the first call's load went with a machine given back
        shutil.copytree(load, device / load.name)
    done = _carry("join", str(device / ".xwork"))
    assert done.returncode != 0 and f"{dest.name}.1" in done.stderr
    big = _carry("split", str(work), str(dest), "geometry", "--budget-mib", str(4 * KIB / 2**20))
    assert big.returncode != 0 and "bundle/depth/a.npy" in big.stderr


def test_the_cpu_part_must_have_run(tmp_path):
    done = _carry("split", str(tmp_path), str(tmp_path / ".x"), "runs", "--budget-mib", "1")
    assert done.returncode != 0 and "ledger.json" in done.stderr


def _random(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))  # incompressible: the pieces are what the bytes weigh


def test_what_a_command_made_or_changed_comes_back_in_pieces_and_unpacks_into_the_work_folder(work, tmp_path):
    device = tmp_path / "device"
    shutil.copytree(work, device)
    (device / "mlflow").mkdir()
    (device / "mlflow" / "blind-s0.db").write_text("carried, then written to")
    (device / "mlflow" / "geometry.db").write_text("carried, untouched")
    assert _carry("snapshot", str(device)).returncode == 0
    (device / "ledger.json").write_text('{"geometry": "done"}')
    with (device / "mlflow" / "blind-s0.db").open("a") as f:
        f.write(" by the run")
    (device / "logs" / "experiment.log").write_text("a longer log of this command")
    _random(device / "geometry" / "encoder.safetensors", 40 * KIB, 1)
    _random(device / "geometry" / "vggt.safetensors", 90 * KIB, 2)  # stays on the machine
    _random(device / "mlflow" / "artifacts" / "1" / "abc" / "artifacts" / "checkpoint" / "model.safetensors",
            90 * KIB, 3)  # the final weights as MLflow logged them: stay too
    (device / "eval" / "training" / "blind-s0" / "bench").mkdir(parents=True)
    (device / "eval" / "training" / "blind-s0" / "bench" / "scores.json").write_text('{"overall": 25.0}')
    out = tmp_path / "out"
    out.mkdir()
    packed = _carry("pack", str(device), str(out), "--piece-mib", str(16 * KIB / 2**20))
    assert packed.returncode == 0, packed.stderr
    pieces = sorted(out.iterdir())
    assert len(pieces) == 3 and all(p.stat().st_size <= 16 * KIB for p in pieces)

    unpacked = _carry("unpack", str(out), str(work))
    assert unpacked.returncode == 0, unpacked.stderr
    came_back = {"ledger.json", "mlflow/blind-s0.db", "logs/experiment.log", "geometry/encoder.safetensors",
                 "eval/training/blind-s0/bench/scores.json"}
    assert all(filecmp.cmp(device / f, work / f, shallow=False) for f in came_back)
    assert not (work / "geometry" / "vggt.safetensors").exists() and not (work / "mlflow" / "geometry.db").exists()
    assert not (work / "mlflow" / "artifacts").exists()

    (out / "work.tar.gz.2").unlink()  # a piece that did not come back
    missing = _carry("unpack", str(out), str(work))
    assert missing.returncode != 0 and "work.tar.gz.2" in missing.stderr


def test_more_than_a_command_returns_fails_naming_the_largest_file(work, tmp_path):
    assert _carry("snapshot", str(work)).returncode == 0
    _random(work / "eval" / "official" / "full-s0" / "bench" / "predictions.jsonl", 20 * KIB, 4)
    out = tmp_path / "out"
    out.mkdir()
    done = _carry("pack", str(work), str(out), "--piece-mib", str(KIB / 2**20))  # 20+ pieces > 8 files
    assert done.returncode != 0 and "eval/official/full-s0/bench/predictions.jsonl" in done.stderr


def test_the_geometry_part_alone_gives_the_runs_their_frames_as_the_bundle_step_wrote_them(tmp_path):
    """scripts/device_experiment.sh, on a machine that holds the geometry part: the runs' frames are made there
    from bundle/ by the bundle step's own function, the same bytes as the CPU machine's vlm-bundle/."""
    import pandas as pd

    from mosaic_model.experiment.bundle import FRAMES, MANIFEST, QA, qa_frames_bundle

    work = tmp_path / "work"
    full = work / "bundle"
    (full / FRAMES).mkdir(parents=True)
    pd.DataFrame({"data_source": ["synthetic", "synthetic"], "scene_id": ["s0", "s1"],
                  "source_frame_ids": [["0", "2"], ["1"]]}).to_parquet(full / QA)
    (full / MANIFEST).write_text('{"qa_sha256": "x"}')
    for k, (scene, frame) in enumerate([("s0", "0"), ("s0", "1"), ("s0", "2"), ("s1", "1")]):  # s0/1: no question
        _random(full / FRAMES / "synthetic" / scene / "images" / f"{frame}.jpg", 700, k)
        _random(full / "depth" / scene / f"{frame}.npy", 300, 5)
    qa_frames_bundle(full, work / "vlm-bundle")  # the CPU machine's bundle step
    for name in ("ledger.json", "checkout.json"):
        (work / name).write_text("{}")
    dest = tmp_path / "repo" / ".xwork"
    assert _carry("split", str(work), str(dest), "geometry", "--budget-mib", "1").returncode == 0
    device = tmp_path / "device"
    for load in _loads(dest):
        shutil.copytree(load, device / load.name)
    assert _carry("join", str(device / ".xwork")).returncode == 0
    assert not (device / ".xwork" / "vlm-bundle").exists()  # the geometry part: bundle/ only
    made = subprocess.run([sys.executable, "-m", "mosaic_model.experiment.bundle", "qa-frames",
                           str(device / ".xwork" / "bundle"), str(device / ".xwork" / "vlm-bundle")],
                          capture_output=True, text=True, cwd=REPO_ROOT)
    assert made.returncode == 0, made.stderr
    cpu, there = work / "vlm-bundle", device / ".xwork" / "vlm-bundle"
    assert _files(there) == _files(cpu) and len(_files(cpu)) == 2 + 3
    assert all(filecmp.cmp(cpu / f, there / f, shallow=False) for f in _files(cpu))
    assert 'qa-frames "$WORK/bundle" "$WORK/vlm-bundle"' in (REPO_ROOT / "scripts/device_experiment.sh").read_text()
