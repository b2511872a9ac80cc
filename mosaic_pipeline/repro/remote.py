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


def configured_remotes(root: Path) -> dict[str, str]:
    """name -> URL of the remotes of ``root``'s DVC config (folders resolved, as ``dvc remote list`` prints)."""
    listed = dvc(root, "remote", "list", capture=True)
    return {fields[0]: fields[1] for fields in (line.split() for line in listed.splitlines()) if len(fields) >= 2}


def default_remote(root: Path) -> tuple[str, str]:
    """(name, resolved URL) of ``root``'s default DVC remote."""
    name = dvc(root, "remote", "default", capture=True).strip()
    remotes = configured_remotes(root)
    if name not in remotes:
        raise ReproError(f"{root}: no default DVC remote (run `mosaic dvc-remote`: params.yaml repro.remote)")
    return name, remotes[name]


def configure_remote(params: Params, root: Path = REPO_ROOT) -> Remote:
    """Make params.yaml's remote the default remote of ``root``'s .dvc/config; create a local folder.

    A local folder relative to the repository is written relative to .dvc/ (as DVC writes relative
    paths), so the committed config holds for every clone. Other settings of an existing remote of the
    same name (endpoint, region ...) stay.
    """
    remote = remote_location(params, root)
    location = params.repro.remote
    if remote.local is not None:
        remote.local.mkdir(parents=True, exist_ok=True)
        location = str(Path(location).expanduser())  # relative: DVC resolves it against cwd (root)
    if remote.url != configured_remotes(root).get(REMOTE_NAME):
        verb = ["modify", REMOTE_NAME, "url"] if REMOTE_NAME in configured_remotes(root) else ["add", REMOTE_NAME]
        dvc(root, "remote", *verb, location, capture=True)
    dvc(root, "remote", "default", REMOTE_NAME, capture=True)
    return remote
