"""Errors that name what went wrong and where: the scene, the file and the field."""
from __future__ import annotations

from pathlib import Path


class SceneError(ValueError):
    """A scene is missing a file or holds bad data. One bad scene fails alone."""

    def __init__(self, scene_id: str, path: Path | str | None, message: str, field: str | None = None):
        self.scene_id = scene_id
        self.path = Path(path) if path is not None else None
        self.field = field
        where = f" [{self.path}]" if self.path is not None else ""
        what = f" field '{field}':" if field else ""
        super().__init__(f"scene {scene_id}{where}:{what} {message}")
