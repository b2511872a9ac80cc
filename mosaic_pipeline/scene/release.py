"""Checking a whole release before a long run (``mosaic scenes check DATA_ROOT``, docs/scannetpp.md).

Every scene of the release's split files (the catalog's: ``splits/nvs_sem_train.txt``,
``splits/nvs_sem_val.txt``; every folder under ``data/`` when the release has neither) is read and
validated as the pipeline reads it, except that no frame is extracted from ``iphone/rgb.mkv`` (the
video is probed: :func:`.iphone.check_video`) and nothing is rendered. A bad scene is one failed line;
the others go on.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..catalog import release_scenes
from ..errors import SceneError
from ..params import ScanNetppParams
from .labels import LabelMapping, LabelStatus, release_label_mapping
from .layout import scene_dir
from .scannetpp import load_scene, scene_summary

STATUS_REASON = {
    LabelStatus.UNLISTED: "not in the class list", LabelStatus.DROPPED: "None in the map file",
    LabelStatus.UNMAPPED: "no row in the map file",
}


@dataclass(frozen=True)
class SceneCheck:
    scene_id: str
    error: str | None  # the SceneError's message (scene, file, field); None = ok
    summary: dict | None  # scene_summary of an ok scene


def release_scene_ids(root: Path) -> dict[str, SceneError | None]:
    """scene id -> the catalog's objection (a scene listed twice) or None, in split-file order."""
    listed = release_scenes(root)
    if listed:
        return {sid: problem for sid, (_, problem) in listed.items()}
    data = Path(root) / "data"
    return {p.name: None for p in sorted(data.iterdir()) if p.is_dir()} if data.is_dir() else {}


def check_release(root: Path, params: ScanNetppParams, scene_ids: Sequence[str] | None = None
                  ) -> Iterator[SceneCheck]:
    """One SceneCheck per scene (``scene_ids``: a subset of the release's; unknown ones raise ValueError).
    A bad label mapping raises FileInputError before any scene is read."""
    mapping = release_label_mapping(root, params.label_mapping)
    listed = release_scene_ids(root)
    unknown = [sid for sid in scene_ids or () if sid not in listed]
    if unknown:
        raise ValueError(f"unknown scene id(s) {', '.join(unknown)}: not in the release's split files "
                         f"(or data/ folders) of {root}")
    for sid in scene_ids or listed:
        yield check_scene(scene_dir(root, sid), params, mapping, listed[sid])


def check_scene(path: Path, params: ScanNetppParams, mapping: LabelMapping, problem: SceneError | None = None
                ) -> SceneCheck:
    if problem is not None:
        return SceneCheck(path.name, str(problem), None)
    try:
        scene = load_scene(path, params=params, label_mapping=mapping, extract_frames=False)
    except SceneError as exc:
        return SceneCheck(path.name, str(exc), None)
    return SceneCheck(path.name, None, scene_summary(scene))


def release_summary(checks: Sequence[SceneCheck], top: int) -> dict:
    """Totals over the checks: scenes ok / failed, frames, instances and segGroups by label status (ok scenes),
    and the ``top`` most frequent raw labels that give no class, with the reason."""
    ok = [c.summary for c in checks if c.summary is not None]
    status = Counter()
    no_class = Counter()
    for s in ok:
        status.update(s["label_status"])
        for st, labels in s["no_class_labels"].items():
            no_class.update({(raw, st): n for raw, n in labels.items()})
    return {
        "scenes": len(checks), "ok": len(ok), "failed": len(checks) - len(ok),
        "failed_scenes": [c.scene_id for c in checks if c.error is not None],
        "frames": sum(s["n_frames"] for s in ok), "instances": sum(s["n_instances"] for s in ok),
        "label_status": {st.value: status.get(st.value, 0) for st in LabelStatus},
        "top_no_class_labels": [{"label": raw, "segGroups": n, "status": st,
                                 "why": STATUS_REASON[LabelStatus(st)]}
                                for (raw, st), n in sorted(no_class.items(), key=lambda kv: (-kv[1], kv[0]))[:top]],
    }


def check_line(check: SceneCheck) -> str:
    """``ok      <id>  <frames> frames, <instances> instances (kept k, mapped m, ...)`` or ``FAILED  <id>  <error>``."""
    if check.error is not None:
        return f"FAILED  {check.scene_id}  {check.error}"
    s = check.summary
    st = ", ".join(f"{k} {n}" for k, n in s["label_status"].items() if n)
    return f"ok      {check.scene_id}  {s['n_frames']} frames, {s['n_instances']} instances, segGroups: {st}"


def summary_lines(root: Path, summary: dict, mapping: LabelMapping) -> list[str]:
    st = summary["label_status"]
    lines = [
        "", f"release {root}: {summary['ok']} of {summary['scenes']} scenes ok, {summary['failed']} failed",
        f"frames: {summary['frames']} registered; instances: {summary['instances']} (ok scenes)",
        "segGroups: " + ", ".join(f"{k} {n}" for k, n in st.items())
        + " (kept/mapped: benchmark classes; unlisted: instances no question is about; dropped/unmapped: background)",
        f"label mapping: {mapping.describe()}",
    ]
    if summary["top_no_class_labels"]:
        lines.append(f"{len(summary['top_no_class_labels'])} most frequent labels without a class (segGroups, why):")
        lines += [f"  {t['segGroups']:6d}  {t['label']}  ({t['status']}: {t['why']})"
                  for t in summary["top_no_class_labels"]]
    return lines
