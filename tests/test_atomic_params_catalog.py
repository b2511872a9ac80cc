"""Atomic outputs, params.yaml loading and the scene catalog."""
from __future__ import annotations

import pytest
import yaml

from mosaic_pipeline.atomic import atomic_dir, atomic_file
from mosaic_pipeline.catalog import load_catalog
from mosaic_pipeline.params import load_params, params_path


def test_atomic_file_crash_leaves_old_content(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_dir_replaces_whole_folder_or_nothing(tmp_path):
    target = tmp_path / "scene"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("crash")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with atomic_dir(target) as tmp:
        (tmp / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene"]


def test_params_overrides_and_unknown_keys(tmp_path):
    p = load_params(overrides={"visibility": {"long_side": 320}})
    assert p.visibility.long_side == 320 and p.visibility.near_plane == 0.05
    data = yaml.safe_load(params_path().read_text())
    data["views"]["max_overlapp"] = 0.3
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match="max_overlapp"):
        load_params(bad)


def test_default_catalog_is_scene_disjoint_and_complete():
    entries = load_catalog(load_params())
    ids = [e.scene_id for e in entries]
    assert len(ids) == len(set(ids)) == 24
    splits = {s: {e.scene_id for e in entries if e.split == s} for s in ("train", "bench", "transfer")}
    assert all(splits.values())
    assert not (splits["train"] & splits["bench"]) and not (splits["bench"] & splits["transfer"])
    assert entries[0].scene_dir.parts[-2:] == ("data", "synth_0000")


def test_catalog_rejects_split_for_unknown_scene(tmp_path):
    lst = tmp_path / "scenes.yaml"
    lst.write_text(yaml.safe_dump({"synthetic": {"seed": 0, "count": 2}, "splits": {"bench": ["synth_0009"]}}))
    with pytest.raises(ValueError, match="synth_0009"):
        load_catalog(load_params(overrides={"scene_set": {"list": str(lst)}}))


def test_catalog_adds_a_real_release(tmp_path):
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "nvs_sem_train.txt").write_text("0a5c013435\n")
    (tmp_path / "splits" / "nvs_sem_val.txt").write_text("1b2c3d4e5f\n")
    entries = load_catalog(load_params(overrides={"paths": {"scannetpp_release": str(tmp_path)}}))
    real = {e.scene_id: e.split for e in entries if e.source == "scannetpp"}
    assert real == {"0a5c013435": "train", "1b2c3d4e5f": "bench"}
