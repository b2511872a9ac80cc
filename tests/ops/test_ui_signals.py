"""`mosaic ui` stops on SIGINT, the signal `dagster dev` stops on, also when it was started with SIGINT ignored:
what a shell's background job (`cmd &`, nohup) and many CI runners inherit. Without mosaic_cli.pipeline's reset,
`dagster dev` and its webserver kept ignoring it (only the daemon stopped) until a kill 60 s later."""
from __future__ import annotations

import os
import signal

import pytest
from small_params import write_small_params

from mosaic_assets.services import BIN, DagsterUI, free_port, project_env, start, tail, wait_for

STOPPED = "Dagster services shut down."  # dagster dev's last line after a clean shutdown


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ui_started_with_sigint_ignored_stops_cleanly_on_sigint(tmp_path):
    params = write_small_params(tmp_path, extra={"review": {"port": free_port()}})
    env = project_env(MOSAIC_PARAMS=params, DAGSTER_HOME=tmp_path / "dagster_home")
    port = free_port()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the child: a background job's state
    try:
        ui = start("dagster-dev", [str(BIN / "mosaic"), "ui", "--port", str(port)], tmp_path, env)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        wait_for(DagsterUI(f"http://127.0.0.1:{port}").repository, 240, "dagster dev: code location", ui.proc,
                 ui.log, every=2)
        os.killpg(ui.proc.pid, signal.SIGINT)  # Ctrl-C: the whole process group
        assert ui.proc.wait(30) == 0, tail(ui.log)
        assert STOPPED in ui.log.read_text(), tail(ui.log)
    finally:
        ui.stop(signal.SIGKILL, timeout=10)  # whatever of its process group is left
