"""`mosaic ui` stops on SIGINT, the signal `dagster dev` stops on, also when it was started with SIGINT ignored:
what a shell's background job (`cmd &`, nohup) and many CI runners inherit. Without mosaic_cli.pipeline's reset,
`dagster dev` and its webserver kept ignoring it (only the daemon stopped) until a kill 60 s later."""
from __future__ import annotations

import os
import signal
import subprocess

import pytest
from small_params import write_small_params

from mosaic_assets.services import BIN, DagsterUI, free_port, project_env, wait_for

STOPPED = "Dagster services shut down."  # dagster dev's last line after a clean shutdown


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ui_started_with_sigint_ignored_stops_cleanly_on_sigint(tmp_path):
    params = write_small_params(tmp_path, extra={"review": {"port": free_port()}})
    env = project_env(MOSAIC_PARAMS=params, DAGSTER_HOME=tmp_path / "dagster_home")
    port, log = free_port(), tmp_path / "ui.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(BIN / "mosaic"), "ui", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        wait_for(DagsterUI(f"http://127.0.0.1:{port}").repository, 240, "dagster dev: code location", proc, log,
                 every=2)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole process group
        assert proc.wait(30) == 0, log.read_text()[-3000:]
        assert STOPPED in log.read_text(), log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
