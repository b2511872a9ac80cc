"""What one scoring of a run's final checkpoint is (the experiment's ``eval/<form>/<run>/<split>`` steps).

Kept apart from ``runs.py`` (which imports the model) so that the command plans its steps without torch.
"""
from __future__ import annotations

from dataclasses import dataclass

BLANK_FRAMES = "blank_frames"  # the grey frames of blind scorings; the folder of a seeing run's frame ablation


@dataclass(frozen=True)
class Scoring:
    """A split, a prompt form, and (the frame ablation of a seeing run, docs/experiment.md "Does it look?")
    blank frames in place of the real ones."""

    split: str
    prompt: str
    blank_frames: bool = False

    @property
    def form(self) -> str:
        """The scoring's folder under ``eval/`` and its part of the step name: the prompt form, or the ablation."""
        return BLANK_FRAMES if self.blank_frames else self.prompt
