"""The scene catalog: which scenes exist, where they come from and which split they belong to.

It is built from the committed scene list (``scene_lists/*.yaml``: synthetic scenes as a seed and a
count, fixed bench/transfer scenes) plus, when ``paths.scannetpp_release`` is set, the scenes of a
real ScanNet++ release listed in its ``splits/nvs_sem_*.txt``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .params import Params
from .scene.layout import scene_dir

SPLITS = ("train", "bench", "transfer")


@dataclass(frozen=True)
class SceneEntry:
    scene_id: str
    source: str  # "synthetic" or "scannetpp"
    split: str  # one of SPLITS
    release_root: Path
    synth_seed: int | None = None  # for synthetic scenes: the set's seed ...
    synth_index: int | None = None  # ... and the scene's index in the set

    @property
    def scene_dir(self) -> Path:
        return scene_dir(self.release_root, self.scene_id)


def synthetic_scene_id(prefix: str, index: int) -> str:
    return f"{prefix}_{index:04d}"


def load_catalog(params: Params) -> list[SceneEntry]:
    spec = yaml.safe_load(params.resolve(params.scene_set.list).read_text())
    fixed = {sid: split for split, ids in (spec.get("splits") or {}).items() for sid in ids}
    unknown = set(fixed.values()) - set(SPLITS)
    if unknown:
        raise ValueError(f"{params.scene_set.list}: unknown split(s) {sorted(unknown)}; expected {SPLITS}")
    entries: list[SceneEntry] = []
    synth = spec.get("synthetic")
    if synth:
        root = params.resolve(params.paths.synthetic_release)
        for i in range(int(synth["count"])):
            sid = synthetic_scene_id(synth.get("id_prefix", "synth"), i)
            entries.append(SceneEntry(sid, "synthetic", fixed.get(sid, "train"), root, int(synth["seed"]), i))
    if params.paths.scannetpp_release:
        entries += _scannetpp_entries(params.resolve(params.paths.scannetpp_release), fixed)
    ids = [e.scene_id for e in entries]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{params.scene_set.list}: duplicate scene ids in the catalog")
    missing = set(fixed) - set(ids)
    if missing:
        raise ValueError(f"{params.scene_set.list}: split lists name scenes not in the catalog: {sorted(missing)}")
    return entries


def _scannetpp_entries(root: Path, fixed: dict[str, str]) -> list[SceneEntry]:
    """Scenes with semantics in a real release: splits/nvs_sem_train.txt (train) and nvs_sem_val.txt (bench)."""
    out = []
    for split_file, split in (("nvs_sem_train.txt", "train"), ("nvs_sem_val.txt", "bench")):
        path = root / "splits" / split_file
        if not path.exists():
            continue
        for sid in path.read_text().split():
            out.append(SceneEntry(sid, "scannetpp", fixed.get(sid, split), root))
    if not out:
        raise ValueError(f"ScanNet++ release {root}: no splits/nvs_sem_train.txt or nvs_sem_val.txt found")
    return out


def catalog_by_id(params: Params) -> dict[str, SceneEntry]:
    return {e.scene_id: e for e in load_catalog(params)}
