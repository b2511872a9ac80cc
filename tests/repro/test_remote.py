"""The DVC remote of params.yaml ``repro.remote`` (mosaic_pipeline.repro.remote), with the real DVC."""
from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

import pytest

from mosaic_pipeline.params import REPO_ROOT, default_params, load_params
from mosaic_pipeline.repro.remote import REMOTE_NAME, configure_remote, default_remote, remote_location
from mosaic_pipeline.repro.tools import DVC_ENV, DVC_VENV, dvc, find_dvc, tool_env

pytestmark = pytest.mark.skipif(find_dvc() is None, reason=f"no DVC: {DVC_VENV}/ is missing (scripts/setup_env.sh "
                                                             f"creates it) and neither {DVC_ENV} nor PATH names dvc")


def _written(root: Path, option: str, section: str = f'remote "{REMOTE_NAME}"') -> str:
    """A value of .dvc/config alone (not .dvc/config.local), as the file holds it."""
    config = configparser.ConfigParser()
    config.read(root / ".dvc" / "config")
    return config[f"'{section}'" if section != "core" else section][option]


@pytest.fixture
def repo(tmp_path) -> Path:
    repo = tmp_path / "clone"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=tool_env())
    dvc(repo, "init", "-q", capture=True)
    return repo


def _with_remote(location: str):
    return load_params(overrides={"repro": {"remote": location}})


@pytest.mark.timeout(120)
def test_a_local_folder_is_created_and_written_relative_to_dvc_config(repo):
    remote = configure_remote(_with_remote(".dvc-remote"), repo)
    assert remote.local == (repo / ".dvc-remote").resolve() and remote.local.is_dir()
    assert _written(repo, "url") == "../.dvc-remote"  # holds in every clone
    assert default_remote(repo) == (REMOTE_NAME, str(remote.local))


@pytest.mark.timeout(120)
def test_a_remote_url_replaces_the_folder_and_keeps_the_remote_s_other_settings(repo, tmp_path):
    configure_remote(_with_remote(".dvc-remote"), repo)
    dvc(repo, "remote", "modify", REMOTE_NAME, "jobs", "3", capture=True)
    remote = configure_remote(_with_remote("s3://bucket/mosaic"), repo)
    assert remote.local is None and default_remote(repo) == (REMOTE_NAME, "s3://bucket/mosaic")
    assert _written(repo, "jobs") == "3"
    shared = tmp_path / "shared" / "remote"
    assert configure_remote(_with_remote(str(shared)), repo).local == shared and shared.is_dir()
    assert _written(repo, "url") == str(shared)


@pytest.mark.timeout(60)
def test_committed_dvc_config_names_the_remote_of_params_yaml():
    """`mosaic dvc-remote` was run and committed with params.yaml (docs/reproducing.md, "The remote")."""
    expected = remote_location(default_params())
    assert _written(REPO_ROOT, "remote", "core") == REMOTE_NAME
    written = _written(REPO_ROOT, "url")
    resolved = written if "://" in written else str((REPO_ROOT / ".dvc" / written).resolve())
    assert resolved == expected.url, "run `mosaic dvc-remote` and commit .dvc/config with params.yaml"
