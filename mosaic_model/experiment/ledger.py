"""Which steps of the experiment are finished, and under which identity (docs/experiment.md, "Resuming").

A step's identity is what its output depends on: the commit, the config and seed, the hashes of the data
it reads. ``mosaic experiment run`` skips a step whose ledger entry is finished under the identity it
would run with now and whose outputs exist; it reruns it from scratch when the identity changed. A step
cut off by the time budget stays ``running`` and continues (training from its latest checkpoint) only
under the same identity.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mosaic_pipeline.atomic import atomic_file

LEDGER = "ledger.json"
RUNNING, DONE = "running", "done"


def sha256_of(value: Any) -> str:
    """sha256 of a JSON-able value in canonical form (sorted keys, no whitespace)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Ledger:
    """``<work>/ledger.json``: step name -> {"identity": {...}, "status": running|done, "facts": {...}}."""

    def __init__(self, work: Path) -> None:
        self.path = work / LEDGER
        self.entries: dict[str, dict[str, Any]] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def is_done(self, step: str, identity: dict[str, Any], outputs: list[Path]) -> bool:
        entry = self.entries.get(step)
        return (entry is not None and entry["status"] == DONE and entry["identity"] == identity
                and all(p.exists() for p in outputs))

    def resumable(self, step: str, identity: dict[str, Any]) -> bool:
        """Whether what the step left behind was made under ``identity`` (so it may be continued)."""
        entry = self.entries.get(step)
        return entry is not None and entry["identity"] == identity

    def facts(self, step: str) -> dict[str, Any]:
        return self.entries[step]["facts"]

    def record(self, step: str, identity: dict[str, Any], status: str, facts: dict[str, Any] | None = None) -> None:
        self.entries[step] = {"identity": identity, "status": status, "facts": facts or {}}
        with atomic_file(self.path) as tmp:
            tmp.write_text(json.dumps(self.entries, indent=2, sort_keys=True) + "\n")
