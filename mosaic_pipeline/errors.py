"""Errors that name what went wrong and where: the scene, the file and the field.

Every error a user can fix by changing an input (a scene, params.yaml, a predictions file, a checkpoint)
is an ``InputError``, a full disk an ``OutputError``: the ``mosaic`` command prints either as one line
(no traceback) and exits 2 (docs/bad_input.md lists every case).
"""
from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input that the user fixes; the message names the file and, where it applies, the field."""


class SceneError(InputError):
    """A scene is missing a file or holds bad data. One bad scene fails alone."""

    def __init__(self, scene_id: str, path: Path | str | None, message: str, field: str | None = None):
        self.scene_id = scene_id
        self.path = Path(path) if path is not None else None
        self.field = field
        self.message = message
        where = f" [{self.path}]" if self.path is not None else ""
        what = f" field '{field}':" if field else ""
        super().__init__(f"scene {scene_id}{where}:{what} {message}")

    def __reduce__(self):
        """Pickled with its fields (a frame worker's error reaches the parent: visibility/frame_pool.py)."""
        return type(self), (self.scene_id, self.path, self.message, self.field)


class FileInputError(InputError):
    """A file that is not a scene's (params.yaml, a label map, predictions, a checkpoint) is bad."""

    def __init__(self, path: Path | str, message: str, field: str | None = None):
        self.path = Path(path)
        self.field = field
        self.message = message
        what = f" field '{field}':" if field else ""
        super().__init__(f"{self.path}:{what} {message}")


class OutputError(OSError):
    """An output could not be written (disk full): nothing of it was written, an older version is intact."""
