"""Real services on loopback for the operations tests and the backfill benchmark: each one on a free
port, in its own process group, stopped by whoever started it (bounded waits everywhere).

PostgreSQL and Redis are Debian's servers; the Dagster webserver + daemon and the Celery workers are
started through the project's own commands (`mosaic ui`, `mosaic worker`) from its own configuration.
Nothing here imports Dagster: the Dagster UI is driven over its GraphQL API, as the browser does.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mosaic_pipeline.params import REPO_ROOT

REPO = REPO_ROOT
BIN = Path(sys.executable).parent  # the environment that runs this code holds `mosaic` and `celery`
HOST = "127.0.0.1"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Broken(Exception):
    """A check found a failure that waiting will not fix (wait_for re-raises it at once)."""


def wait_for(check: Callable[[], T | None], timeout: float, what: str, proc: subprocess.Popen | None = None,
             log: Path | None = None, every: float = 0.5) -> T:
    """Poll ``check`` until it returns a truthy value; fail with the log's tail on timeout or exit."""
    deadline, last_error = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}\n{tail(log)}")
        try:
            value = check()
        except Broken:
            raise
        except Exception as exc:  # not up yet (connection refused, missing row, ...)
            value, last_error = None, exc
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s (last error: {last_error!r})\n{tail(log)}")


def tail(log: Path | None, n: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:]) if log and log.exists() else ""


@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        """Signal the whole process group, wait, then kill what is left of it."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # children that outlived their parent
        except ProcessLookupError:
            pass
        self.proc.wait(10)


def start(name: str, cmd: list[str], log_dir: Path, env: dict[str, str] | None = None,
          cwd: Path = REPO) -> Service:
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    return Service(name, proc, log)


@contextmanager
def running(service: Service, sig: int = signal.SIGTERM) -> Iterator[Service]:
    try:
        yield service
    finally:
        service.stop(sig)


def project_env(**extra: str | os.PathLike) -> dict[str, str]:
    """The test's environment plus ``extra``, with this environment's scripts first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOSAIC_", "DAGSTER_"))}
    env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "DAGSTER_DISABLE_TELEMETRY": "1",
                "PYTHONUNBUFFERED": "1"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


# --- PostgreSQL ---------------------------------------------------------------------------------

def _pg_bin(tool: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}")) or [shutil.which(tool)]
    if not found[-1]:
        raise FileNotFoundError(f"PostgreSQL's {tool} not found (Debian package postgresql, scripts/setup_env.sh)")
    return found[-1]


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the Debian package's `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres(log_dir: Path) -> Iterator[str]:
    """A fresh cluster in a temporary data folder; yields the URL of its empty `dagster` database."""
    import psycopg2

    data = Path(tempfile.mkdtemp(prefix="mosaic-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
        subprocess.run(_as_postgres_user([_pg_bin("initdb"), "-D", str(data), "-U", "dagster", "--auth=trust",
                                          "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True, timeout=120)
        port = free_port()
        server = start("postgres", _as_postgres_user([
            _pg_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(data),
            "-c", f"listen_addresses={HOST}", "-c", "fsync=off", "-c", "max_connections=200"]), log_dir)
        with running(server, signal.SIGINT):  # SIGINT: PostgreSQL's fast shutdown
            admin = f"postgresql://dagster@{HOST}:{port}/postgres"
            wait_for(lambda: psycopg2.connect(admin).close() or True, 60, "postgres", server.proc, server.log)
            conn = psycopg2.connect(admin)
            conn.autocommit = True
            conn.cursor().execute("CREATE DATABASE dagster")
            conn.close()
            yield f"postgresql://dagster@{HOST}:{port}/dagster"
    finally:
        shutil.rmtree(data, ignore_errors=True)


# --- Redis ---------------------------------------------------------------------------------------

@contextmanager
def redis_server(log_dir: Path) -> Iterator[str]:
    """An in-memory Redis (no persistence); yields its URL without database number."""
    import redis

    port = free_port()
    server = start("redis", ["redis-server", "--port", str(port), "--bind", HOST, "--save", "",
                             "--appendonly", "no"], log_dir)
    with running(server):
        wait_for(lambda: redis.Redis(host=HOST, port=port).ping(), 30, "redis", server.proc, server.log)
        yield f"redis://{HOST}:{port}"


# --- the project's own commands --------------------------------------------------------------------

@contextmanager
def dagster_ui(env: dict[str, str], log_dir: Path, review_site: bool = False) -> Iterator["DagsterUI"]:
    """`mosaic ui` (dagster dev: webserver + daemon) on a free port; stopped with SIGINT as dagster dev wants.

    ``review_site``: serve the review pages and Data Docs beside it, on the params file's review.port (off
    unless asked: runs that do not look at them never contend for that port).
    """
    port = free_port()
    cmd = [str(BIN / "mosaic"), "ui", "--port", str(port)] + ([] if review_site else ["--no-review-server"])
    server = start("dagster-dev", cmd, log_dir, env)
    with running(server, signal.SIGINT):
        ui = DagsterUI(f"http://{HOST}:{port}")
        wait_for(ui.repository, 240, "dagster dev: code location", server.proc, server.log, every=2)
        ui.graphql("mutation SetNuxSeen { setNuxSeen }")  # what the first-visit dialog's Skip button sends
        yield ui


@contextmanager
def celery_worker(name: str, env: dict[str, str], log_dir: Path) -> Iterator[Service]:
    """`mosaic worker` with one slot; ready once Celery says so in its log."""
    worker = start(f"worker-{name}", [str(BIN / "mosaic"), "worker", "--name", name, "--concurrency", "1"],
                   log_dir, env)
    with running(worker):
        wait_for(lambda: " ready." in worker.log.read_text(errors="replace"), 120, f"celery worker {name}",
                 worker.proc, worker.log, every=1)
        yield worker


# --- the GraphQL API the UI itself calls ---------------------------------------------------------------

REPOSITORY_QUERY = """
query { workspaceOrError { __typename ... on Workspace { locationEntries { name
  locationOrLoadError { __typename ... on RepositoryLocation { name repositories { name } }
                        ... on PythonError { message causes { message } } } } } } }
"""
ASSET_NODES_QUERY = """
query { assetNodes { assetKey { path } isPartitioned assetChecksOrError { ... on AssetChecks { checks { name } } } } }
"""
LAUNCH_RUN = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
    ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }
"""
LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
    ... on PartitionSetNotFoundError { message } ... on InvalidSubsetError { message } } }
"""
RUN_STATUS = 'query($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }'
BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status runs(limit: 1000) { runId status startTime endTime tags { key value } } } } }
"""
MATERIALIZATIONS = """
query($path: [String!]!, $partition: String!) { assetOrError(assetKey: {path: $path}) { __typename
  ... on Asset { assetMaterializations(partitions: [$partition], limit: 1) { runId partition
    metadataEntries { __typename label ... on UrlMetadataEntry { url } ... on MarkdownMetadataEntry { mdStr } } } } } }
"""
CHECK_EXECUTIONS = """
query($path: [String!]!, $name: String!, $partition: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $name, partition: $partition, limit: 1) { status
    evaluation { metadataEntries { __typename label ... on UrlMetadataEntry { url } ... on MarkdownMetadataEntry { mdStr } } } } }
"""
RUN_LOGS = """
query($runId: ID!) { logsForRun(runId: $runId, limit: 10000) { __typename ... on EventConnection { events {
  __typename ... on MessageEvent { message stepKey } ... on DisplayableEvent { metadataEntries { label
  ... on TextMetadataEntry { text } } } ... on ErrorEvent { error { message } } } } } }
"""
TERMINAL_RUN = {"SUCCESS", "FAILURE", "CANCELED"}
TERMINAL_BACKFILL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


@dataclass(frozen=True)
class DagsterUI:
    url: str

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            answer = json.load(resp)
        if answer.get("errors"):
            raise RuntimeError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def repository(self) -> dict[str, str] | None:
        """The repository selector once the code location has loaded (None before)."""
        (entry,) = self.graphql(REPOSITORY_QUERY)["workspaceOrError"]["locationEntries"]
        loc = entry["locationOrLoadError"]
        if loc and loc["__typename"] == "PythonError":
            raise Broken(f"code location failed to load: {loc['message']} {loc['causes']}")
        if not loc:
            return None
        return {"repositoryLocationName": loc["name"], "repositoryName": loc["repositories"][0]["name"]}

    def partitioned_assets(self) -> list[list[str]]:
        return [a["assetKey"]["path"] for a in self.graphql(ASSET_NODES_QUERY)["assetNodes"] if a["isPartitioned"]]

    def asset_checks(self, asset: list[str]) -> list[str]:
        (node,) = [a for a in self.graphql(ASSET_NODES_QUERY)["assetNodes"] if a["assetKey"]["path"] == asset]
        return [c["name"] for c in node["assetChecksOrError"].get("checks", [])]

    def latest_check(self, asset: list[str], name: str, partition: str) -> dict[str, Any]:
        (execution,) = self.graphql(CHECK_EXECUTIONS, {"path": asset, "name": name, "partition": partition})[
            "assetCheckExecutions"]
        return execution

    def launch_partition(self, assets: list[list[str]], partition: str) -> str:
        """What the UI's Materialize button sends for one partition: a run of the asset job."""
        params = {"selector": {**self.repository(), "pipelineName": "__ASSET_JOB",
                               "assetSelection": [{"path": p} for p in assets]},
                  "mode": "default", "runConfigData": {},
                  "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]}}
        result = self.graphql(LAUNCH_RUN, {"executionParams": params})["launchPipelineExecution"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return result["run"]["runId"]

    def launch_backfill(self, assets: list[list[str]], partitions: list[str]) -> str:
        """What the UI's Materialize dialog sends for several partitions: an asset backfill."""
        params = {"assetSelection": [{"path": p} for p in assets], "partitionNames": partitions}
        result = self.graphql(LAUNCH_BACKFILL, {"backfillParams": params})["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        return result["backfillId"]

    def latest_materialization(self, asset: list[str], partition: str) -> dict[str, Any]:
        (event,) = self.graphql(MATERIALIZATIONS, {"path": asset, "partition": partition})["assetOrError"][
            "assetMaterializations"]
        return event

    def run_logs(self, run_id: str) -> list[dict[str, Any]]:
        return self.graphql(RUN_LOGS, {"runId": run_id})["logsForRun"]["events"]

    def run_errors(self, run_id: str) -> list[str]:
        """The errors a run logged (step failures name the step; their messages name the scene)."""
        return [f"{e.get('stepKey') or '-'}: {e['error']['message'].strip()}"
                for e in self.run_logs(run_id) if e.get("error")]

    def wait_run(self, run_id: str, timeout: float) -> str:
        def status() -> str | None:
            s = self.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
            return s if s in TERMINAL_RUN else None
        return wait_for(status, timeout, f"run {run_id}", every=2)

    def wait_backfill(self, backfill_id: str, timeout: float) -> list[dict[str, Any]]:
        """The backfill's runs once it has finished and all its runs have ended."""
        def finished() -> list[dict[str, Any]] | None:
            b = self.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
            done = b["status"] in TERMINAL_BACKFILL and all(r["status"] in TERMINAL_RUN for r in b["runs"])
            return b["runs"] if done else None
        return wait_for(finished, timeout, f"backfill {backfill_id}", every=2)
