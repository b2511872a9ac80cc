"""The scene catalog: which scenes exist, where they come from and which split they belong to.

It is built from the committed scene list (``scene_lists/*.yaml``: synthetic scenes as a seed and a
count, fixed bench/transfer scenes) plus, when ``paths.scannetpp_release`` is set, the scenes of a
real ScanNet++ release listed in its ``splits/nvs_sem_*.txt``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import SceneError
from .params import Params
from .scene.layout import scene_dir

SPLITS = ("train", "bench", "transfer")


RELEASE_SPLITS = (("nvs_sem_train.txt", "train"), ("nvs_sem_val.txt", "bench"))  # splits/ files with semantics


@dataclass(frozen=True)
class SceneEntry:
    scene_id: str
    source: str  # "synthetic" or "scannetpp"
    split: str  # one of SPLITS
    release_root: Path
    synth_seed: int | None = None  # for synthetic scenes: the set's seed ...
    synth_index: int | None = None  # ... and the scene's index in the set
    problem: SceneError | None = None  # the catalog's objection (a scene listed twice): its partition fails alone

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
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"{params.scene_set.list}: scene ids both synthetic and in the ScanNet++ release: {twice}")
    missing = set(fixed) - set(ids)
    if missing:
        raise ValueError(f"{params.scene_set.list}: split lists name scenes not in the catalog: {sorted(missing)}")
    return entries


def _scannetpp_entries(root: Path, fixed: dict[str, str]) -> list[SceneEntry]:
    """Scenes with semantics in a real release: splits/nvs_sem_train.txt (train) and nvs_sem_val.txt (bench)."""
    listed = release_scenes(root)
    if not listed:
        files = " or ".join(f"splits/{name}" for name, _ in RELEASE_SPLITS)
        raise ValueError(f"ScanNet++ release {root}: no scene in {files}")
    return [SceneEntry(sid, "scannetpp", fixed.get(sid, split), root, problem=problem)
            for sid, (split, problem) in listed.items()]


def release_scenes(root: Path) -> dict[str, tuple[str, SceneError | None]]:
    """scene id -> (split, problem) for every scene of the release's split files, in file order. A scene
    listed more than once keeps its first split and gets a SceneError naming the file and line of each
    further listing (docs/bad_input.md): its partition fails alone."""
    listings: dict[str, list[tuple[str, Path, int]]] = {}
    for split_file, split in RELEASE_SPLITS:
        path = Path(root) / "splits" / split_file
        if path.is_file():
            for line_no, line in enumerate(path.read_text().splitlines(), start=1):
                if line.strip():
                    listings.setdefault(line.strip(), []).append((split, path, line_no))
    out = {}
    for sid, where in listings.items():
        problem = None
        if len(where) > 1:
            _, path, line_no = where[1]
            places = ", ".join(f"{p.name} line {n} ({s})" for s, p, n in where)
            problem = SceneError(sid, path, f"scene listed {len(where)} times in the release's splits: {places}",
                                 field=f"line {line_no}")
        out[sid] = (where[0][0], problem)
    return out


def catalog_by_id(params: Params) -> dict[str, SceneEntry]:
    return {e.scene_id: e for e in load_catalog(params)}
