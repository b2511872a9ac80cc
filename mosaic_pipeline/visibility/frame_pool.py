"""Labelling the frames of one scene in several processes (``visibility.workers``), results in frame order.

Frames are independent given the per-scene engine (``table.SceneVisibility``), so each worker
process builds the engine once and labels whole frames; the parent yields the results in frame
order. Processes, not threads: Open3D's ``cast_rays`` holds the GIL, so a thread casting blocks the
others' Python (measured: docs/labels_performance.md). Every frame's result is the one the serial
path computes (the same calls on the same inputs), whatever the number of workers.

Memory stays bounded: each worker holds its own engine (the mesh and its BVHs) and one frame's
images at a time; at most ``FRAMES_AHEAD_PER_WORKER`` frames per worker are submitted ahead of the
one awaited, and a finished frame holds only its result (rows and voxel ids).
"""
from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ..scene.types import Frame

R = TypeVar("R", covariant=True)

# Frames submitted ahead of the one awaited, per worker: keeps every worker busy while the parent
# waits on a slow frame, and bounds the finished results waiting in memory.
FRAMES_AHEAD_PER_WORKER = 2


class FrameLabeller(Protocol[R]):
    def frame(self, frame: Frame) -> R: ...


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def frame_workers(workers: int | None) -> int:
    """Processes labelling a scene's frames (``visibility.workers``).

    None: the cores not already busy, i.e. the cores this process may use less the whole part of the
    1-minute load average, at least 1; and 1 inside a worker of a process pool (scenes already labelled
    in parallel, e.g. ``mosaic run --workers``: a pool per scene would start cores x cores processes,
    each with its own copy of the scene's BVHs). Workers only pay on idle cores: on a saturated machine
    they cost CPU (each its own BVHs in the shared caches) and wall time (docs/labels_performance.md).
    """
    if workers is None:
        if multiprocessing.parent_process() is not None:
            return 1
        return max(1, cores() - int(os.getloadavg()[0]))
    if workers < 1:
        raise ValueError(f"visibility.workers must be >= 1 (or null: the idle cores), got {workers}")
    return workers


def cast_threads(workers: int) -> int:
    """Open3D's threads per cast in each of ``workers`` processes: the cores shared out (0: all, for one worker)."""
    return 0 if workers == 1 else max(1, cores() // workers)


@dataclass(frozen=True)
class Timed(Generic[R]):
    """A frame's result, its wall seconds and the CPU seconds of the process labelling it (all threads)."""

    result: R
    wall_seconds: float
    cpu_seconds: float


def _timed(labeller: FrameLabeller[R], frame: Frame) -> Timed[R]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = labeller.frame(frame)
    return Timed(out, time.perf_counter() - t0, time.process_time() - c0)


_RECIPE: tuple[Callable[..., Any], tuple] | None = None  # this worker process's make and args (_start)
_LABELLER: Any = None  # ... and the engine built from them on its first frame


def _start(make: Callable[..., FrameLabeller[Any]], args: tuple) -> None:
    global _RECIPE
    _RECIPE = (make, args)


def _label(frame: Frame) -> Timed[Any]:
    """A frame labelled in a worker. The engine is built by the first frame's task, not by the
    initializer, so that a bad scene raises its own error in the parent (an initializer's error
    only breaks the pool)."""
    global _LABELLER
    if _LABELLER is None:
        make, args = _RECIPE
        _LABELLER = make(*args)
    return _timed(_LABELLER, frame)


def label_frames(make: Callable[..., FrameLabeller[R]], args: tuple, frames: list[Frame],
                 workers: int) -> Iterator[Timed[R]]:
    """``make(*args).frame(f)``, timed, for every frame ``f``, in frame order.

    One worker labels in this process; more start that many processes, each building its own
    engine from ``make(*args)`` (pickled once per process). They are forked from a clean server
    process ("forkserver", which imports ``make``'s module once): forking this process could copy
    Open3D's and BLAS's running threads broken, and spawning each worker afresh costs seconds.
    """
    if workers == 1:
        labeller = make(*args)
        yield from (_timed(labeller, frame) for frame in frames)
        return
    pending: deque[Future] = deque()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([make.__module__])
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(make, args)) as pool:
        try:
            for frame in frames:
                pending.append(pool.submit(_label, frame))
                if len(pending) > FRAMES_AHEAD_PER_WORKER * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # an error (or an early stop): frames not yet started are not labelled
            for future in pending:
                future.cancel()
