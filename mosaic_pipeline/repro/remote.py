"""The DVC remote: params.yaml ``repro.remote``, written into .dvc/config as the default remote.

A local folder (relative to the repository root unless absolute; ``.dvc-remote/`` by default, git-ignored)
is created when missing; any other DVC remote URL (``s3://``, ``gs://``, ``azure://``, ``ssh://`` ...) is
used as it is (its DVC plugin in .venv-dvc/, its credentials in the git-ignored ``.dvc/config.local``).
``mosaic dvc-remote`` and ``mosaic reproduce`` call ``configure_remote`` (docs/reproducing.md, "The remote").
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..params import REPO_ROOT, Params
from .tools import ReproError, dvc

REMOTE_NAME = "storage"  # the name of the default remote in .dvc/config


@dataclass(frozen=True)
class Remote:
    url: str  # as .dvc/config resolves it: an absolute folder or a URL
    local: Path | None  # the folder of a local remote


def is_url(location: str) -> bool:
    return "://" in location


def remote_location(params: Params, root: Path = REPO_ROOT) -> Remote:
    """Where params.yaml puts the remote (a local folder resolved against ``root``)."""
    location = params.repro.remote
    if is_url(location):
        return Remote(location, None)
    folder = Path(location).expanduser()
    folder = folder if folder.is_absolute() else root / folder
    return Remote(str(folder.resolve()), folder.resolve())


def config_value(root: Path, key: str, project: bool = False) -> str:
    """A value of ``root``'s DVC config ("" when unset): all levels merged (.dvc/config.local wins), or
    .dvc/config alone; a folder as an absolute path. (``dvc remote list`` wraps long lines: not parsed.)"""
    try:
        return dvc(root, "config", *(["--project"] if project else []), key, capture=True).strip()
    except ReproError:
        return ""


def default_remote(root: Path) -> tuple[str, str]:
    """(name, URL or absolute folder) of ``root``'s default DVC remote."""
    name = config_value(root, "core.remote")
    url = config_value(root, f"remote.{name}.url") if name else ""
    if not url:
        raise ReproError(f"{root}: no default DVC remote (run `mosaic dvc-remote`: params.yaml repro.remote)")
    return name, url


def configure_remote(params: Params, root: Path = REPO_ROOT) -> Remote:
    """Make params.yaml's remote the default remote of ``root``'s .dvc/config; create a local folder.

    A local folder relative to the repository is written relative to .dvc/ (as DVC writes relative
    paths), so the committed config holds for every clone. Other settings of an existing remote of the
    same name (endpoint, region ...) stay; .dvc/config.local, a user's own override, is not touched.
    """
    remote = remote_location(params, root)
    location = params.repro.remote
    if remote.local is not None:
        remote.local.mkdir(parents=True, exist_ok=True)
        location = str(Path(location).expanduser())  # relative: DVC resolves it against cwd (root)
    written = config_value(root, f"remote.{REMOTE_NAME}.url", project=True)
    if written != remote.url:
        verb = ["modify", REMOTE_NAME, "url"] if written else ["add", REMOTE_NAME]
        dvc(root, "remote", *verb, location, capture=True)
    if config_value(root, "core.remote", project=True) != REMOTE_NAME:
        dvc(root, "remote", "default", REMOTE_NAME, capture=True)
    return remote
