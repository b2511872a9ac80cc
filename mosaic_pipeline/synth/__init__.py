"""Synthetic indoor scenes written in the ScanNet++ release layout, so the one reader serves both.

``generate_scene`` builds a furnished room (``room``, ``arrangements``, ``categories``), a handheld camera
loop (``camera_path``), renders RGB and depth (``render``) and writes the release files (``writer``).
"""
from .categories import CATEGORIES
from .generate import benchmark_params, generate_scene
from .writer import write_release_metadata

__all__ = ["CATEGORIES", "benchmark_params", "generate_scene", "write_release_metadata"]
