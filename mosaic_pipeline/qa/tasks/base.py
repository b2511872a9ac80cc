"""The contract between the orchestrator and a task family.

A family module exposes ``specs(params) -> list[TaskSpec]``, one spec per official question type.
``enumerate`` lists every admissible candidate of one view sample (all checks that decide whether a
question may be asked happen here, so a selected candidate always yields a question); ``choose``
(optional) picks the candidates of one scene and gives each a *plan* (what the draft needs from the
whole selection, e.g. Yes or No, or the option values), by default the stratified selection of
:mod:`..selection` with plan = "answer Yes"; ``draft`` turns a chosen candidate and its plan into the
question, its answer and distractors, with the task's seeded generator. Option placement and letter
balance are the orchestrator's, shared by all families.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..context import SampleContext

MOSAIC = "mosaic"  # the six families of the paper
ZERO_SHOT = "zero_shot"  # numeric and VSTI-style transfer tasks
UNSTRATIFIED = "all"  # the one stratum of a task without balance strata
ALL_STRATA = (UNSTRATIFIED,)


@dataclass(frozen=True)
class Candidate:
    """An admissible question before drafting: its sample, query frame, balance stratum and payload."""

    ctx: SampleContext
    query_k: int | None
    stratum: str
    payload: Any


@dataclass(frozen=True)
class Draft:
    """A drafted question. ``distractors`` empty and ``fixed_options`` None: a free-answer (numeric) task."""

    question: str
    answer: str
    metadata: dict[str, Any]
    targets: tuple[int, ...]  # instance ids the diagnostics (occlusion_avg, vis_level) are about
    target_label: str | None  # category of gt_scenario
    distractors: tuple[str, ...] = ()
    fixed_options: tuple[str, ...] | None = None
    coverage: tuple[int, ...] | None = None  # instances that count as visible for gt_scenario (None: is_visible)


@dataclass(frozen=True)
class TaskSpec:
    question_type: str  # official name; the (scene, task) unit of caps and balance
    task_type: str
    subtask: str | None
    group: str  # MOSAIC or ZERO_SHOT
    enumerate: Callable[[SampleContext], Iterable[Candidate]]
    draft: Callable[[Candidate, np.random.Generator, Any], Draft]  # (candidate, rng, plan) -> Draft
    strata: tuple[str, ...] = ALL_STRATA
    tolerance: float = 0.0
    yes_no: bool = False
    # (the scene's candidates in a seeded random order, rng) -> chosen (candidate, plan); None: stratified
    choose: Callable[[list[Candidate], np.random.Generator], list[tuple[Candidate, Any]]] | None = None


def instance_name(label: str, iid: int) -> str:
    """The seed's string name of an instance, e.g. ``chair_07`` (spaces -> underscores)."""
    return f"{label.replace(' ', '_')}_{iid:02d}"


def capitalized(reference: str) -> str:
    """An object option as the seed writes it ("Lamp")."""
    return reference[:1].upper() + reference[1:]
