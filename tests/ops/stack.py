"""Test-only helpers of the operations tests: Debian's headless Chromium driven over the DevTools
protocol, and the wall-time records. The services themselves (PostgreSQL, Redis, `mosaic ui`,
`mosaic worker`, the GraphQL client) live in mosaic_assets/services.py, shared with benchmarks/backfill.py.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from mosaic_assets.services import HOST, REPO, start, wait_for

# --- headless Chromium ---------------------------------------------------------------------------------

CHROMIUM_FLAGS = [  # docs/development.md and the machine notes: no background connections on this network
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1600,1000", "--remote-debugging-port=0",
]


# No finite animation (a dialog fading in) still running; spinners loop forever and do not count.
SETTLED = ("document.getAnimations().every(a => a.playState !== 'running' "
           "|| a.effect.getComputedTiming().iterations === Infinity)")


class Browser:
    """Debian's headless Chromium driven over the DevTools protocol (one page, loopback only).

    Instead of a fixed virtual-time budget it waits for what the page must show: the Dagster UI is a
    React app that renders after its GraphQL answers arrive.
    """

    def __init__(self, log_dir: Path):
        from websockets.sync.client import connect

        exe = shutil.which("chromium")
        if not exe:
            raise FileNotFoundError("chromium not found (Debian package chromium, scripts/setup_env.sh)")
        self._profile = tempfile.TemporaryDirectory(prefix="mosaic-chromium-")
        self.service = start("chromium", [exe, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}",
                                          "about:blank"], log_dir)
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        port = wait_for(lambda: port_file.read_text().split()[0], 60, "chromium", self.service.proc,
                        self.service.log, every=0.2)
        pages = wait_for(lambda: [t for t in json.load(urllib.request.urlopen(f"http://{HOST}:{port}/json/list"))
                                  if t["type"] == "page"], 30, "chromium page", self.service.proc)
        self._ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=30).__enter__()
        self._next_id = 0

    def close(self) -> None:
        self._ws.__exit__(None, None, None)
        self.service.stop()
        self._profile.cleanup()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:  # skip the protocol's events until our answer
            message = json.loads(self._ws.recv(timeout=120))
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def open(self, url: str, *texts: str, timeout: float = 180) -> None:
        """Navigate and wait until the page's text shows every one of ``texts``."""
        self.call("Page.navigate", url=url)

        def missing() -> list[str]:
            shown = self.evaluate("document.body ? document.body.innerText : ''") or ""
            return [t for t in texts if t not in shown]
        try:
            wait_for(lambda: not missing(), timeout, url, self.service.proc, self.service.log)
        except TimeoutError as exc:
            raise TimeoutError(f"{url} does not show {missing()}\n{exc}") from None
        time.sleep(1)  # let images and charts of the same answer paint

    def wait_js(self, condition: str, what: str, timeout: float = 60) -> Any:
        """Wait until a JavaScript expression is truthy; returns its value."""
        return wait_for(lambda: self.evaluate(condition), timeout, what, self.service.proc, self.service.log)

    def click(self, element: str, what: str) -> None:
        """Click the element a JavaScript expression finds (waits for it to exist)."""
        self.wait_js(f"!!({element})", what)
        self.evaluate(f"({element}).click()")

    def screenshot(self, path: Path) -> Path:
        import base64

        path.parent.mkdir(parents=True, exist_ok=True)
        self.wait_js(SETTLED, "transitions to end before a screenshot", timeout=15)
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path


# --- measurements ---------------------------------------------------------------------------------------

ARTIFACTS = REPO / "test-artifacts" / "ops"  # git-ignored: screenshots, logs and wall times of these tests


def record_wall_time(name: str, seconds: float, **details: Any) -> None:
    """Add one measurement to test-artifacts/ops/wall_times.json (the report quotes it)."""
    path = ARTIFACTS / "wall_times.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = {"seconds": round(seconds, 1), **details}
    path.write_text(json.dumps(data, indent=1) + "\n")
