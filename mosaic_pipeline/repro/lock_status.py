"""Is dvc.lock current? The lock against dvc.yaml, params.yaml and the code the stages depend on.

A clean clone has the code and the parameters but none of the data, so only what git tracks counts:

1. the stages of dvc.yaml and of dvc.lock, and each stage's deps, params and outs (the paths and keys
   dvc.yaml names, ``${...}`` resolved from params.yaml), must be the same: ``dvc status`` does not see
   a stage that is new without tracked deps, nor a dep or parameter removed from dvc.yaml;
2. ``dvc status --json``: a changed command, a changed parameter, or a changed dep or output that git
   tracks (code, the scene list, expectations, the committed metrics and plots). Data deps and outputs,
   absent in a clean clone ("deleted", "not in cache"), are not counted.

DVC runs as a command (.venv-dvc/, ``tools.dvc``). A directory's hash covers the untracked files in it
too (not those .dvcignore lists): in a working copy, a stray file in a code folder counts as a change.
In a checkout that holds the data, DVC hashes it once (its state database keeps the hashes).
"""
from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..params import REPO_ROOT
from ..provenance import LOCK_FILE
from .tools import dvc, run

PIPELINE_FILE = "dvc.yaml"
PARAMS_FILE = "params.yaml"  # DVC's default parameter file
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")
_OUT_KINDS = ("outs", "metrics", "plots")


@dataclass(frozen=True)
class Staleness:
    stage: str
    what: str  # e.g. "dep mosaic_model: modified", "param qa.seed: modified", "command changed"

    def __str__(self) -> str:
        return f"{self.stage}: {self.what}"


def resolve_pipeline(text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """dvc.yaml with every ``${a.b}`` replaced by that params.yaml value (the only templating dvc.yaml uses)."""
    def lookup(match: re.Match) -> str:
        node: Any = params
        for key in match.group(1).split("."):
            if not isinstance(node, Mapping) or key not in node:
                raise KeyError(f"{PIPELINE_FILE}: ${{{match.group(1)}}} is not a value of {PARAMS_FILE}")
            node = node[key]
        return str(node)

    return yaml.safe_load(_INTERPOLATION.sub(lookup, text)) or {}


def pipeline_stages(root: Path = REPO_ROOT) -> dict[str, dict[str, Any]]:
    """The stages of ``root``'s dvc.yaml, resolved against its params.yaml."""
    params = yaml.safe_load((root / PARAMS_FILE).read_text()) or {}
    return resolve_pipeline((root / PIPELINE_FILE).read_text(), params).get("stages") or {}


def _path(entry: str | Mapping[str, Any]) -> str:
    """An entry of deps/outs/metrics/plots (a path, or {path: options}) as a normalized path."""
    return posixpath.normpath(entry if isinstance(entry, str) else next(iter(entry)))


def _declared(stage: Mapping[str, Any]) -> dict[str, set[str]]:
    params: set[str] = set()
    for entry in stage.get("params") or []:
        if isinstance(entry, str):
            params.add(f"{PARAMS_FILE}:{entry}")
        else:  # {other.yaml: [keys]}
            params.update(f"{file}:{key}" for file, keys in entry.items() for key in keys)
    return {"dep": {_path(d) for d in stage.get("deps") or []},
            "param": params,
            "out": {_path(o) for kind in _OUT_KINDS for o in stage.get(kind) or []}}


def _locked(stage: Mapping[str, Any]) -> dict[str, set[str]]:
    return {"dep": {posixpath.normpath(d["path"]) for d in stage.get("deps") or []},
            "param": {f"{file}:{key}" for file, values in (stage.get("params") or {}).items() for key in values},
            "out": {posixpath.normpath(o["path"]) for o in stage.get("outs") or []}}


def structure_changes(pipeline: Mapping[str, Any], lock: Mapping[str, Any]) -> list[Staleness]:
    """Stages, deps, params and outs that dvc.yaml declares and dvc.lock does not record, or the reverse."""
    locked = lock.get("stages") or {}
    changes = [Staleness(s, f"in {PIPELINE_FILE}, not in {LOCK_FILE}") for s in sorted(pipeline.keys() - locked.keys())]
    changes += [Staleness(s, f"in {LOCK_FILE}, no longer in {PIPELINE_FILE}") for s in sorted(locked.keys() - pipeline.keys())]
    for name in sorted(pipeline.keys() & locked.keys()):
        declared, recorded = _declared(pipeline[name]), _locked(locked[name])
        for kind in declared:
            changes += [Staleness(name, f"{kind} {p}: not in {LOCK_FILE}") for p in sorted(declared[kind] - recorded[kind])]
            changes += [Staleness(name, f"{kind} {p}: in {LOCK_FILE}, not in {PIPELINE_FILE}")
                        for p in sorted(recorded[kind] - declared[kind])]
    return changes


def git_tracked(root: Path) -> set[str]:
    """Every file git tracks in ``root`` (relative, POSIX)."""
    return set(run(["git", "ls-files", "-z"], root, capture=True).split("\0")) - {""}


def is_tracked(path: str, tracked: set[str]) -> bool:
    """A tracked file, or a folder holding one."""
    prefix = path.rstrip("/") + "/"
    return path in tracked or any(f.startswith(prefix) for f in tracked)


def status_changes(status: Mapping[str, list[Any]], tracked: set[str]) -> list[Staleness]:
    """The entries of ``dvc status --json`` that concern what git tracks (see the module docstring)."""
    changes = []
    for name, entries in sorted(status.items()):
        stage = name.rsplit(":", 1)[-1]
        for entry in entries:
            if isinstance(entry, str):  # "changed command", "always changed"
                changes.append(Staleness(stage, entry))
                continue
            for kind, paths in entry.items():
                for path, state in paths.items():
                    if isinstance(state, Mapping):  # a params file: {key: state}
                        changes += [Staleness(stage, f"param {key}: {s}") for key, s in state.items()]
                    elif is_tracked(path, tracked):
                        changes.append(Staleness(stage, f"{kind.removeprefix('changed ')[:-1]} {path}: {state}"))
    return changes


def lock_staleness(root: Path = REPO_ROOT) -> list[Staleness]:
    """Everything in which ``root``'s dvc.lock disagrees with its dvc.yaml, params.yaml and tracked files."""
    lock = yaml.safe_load((root / LOCK_FILE).read_text()) if (root / LOCK_FILE).is_file() else {}
    changes = structure_changes(pipeline_stages(root), lock or {})
    status = json.loads(dvc(root, "status", "--json", capture=True) or "{}")
    return changes + status_changes(status, git_tracked(root))
