"""The caster of ``visibility.backend``: Open3D ray casting (:mod:`raycast`) or the PyTorch rasterizer (:mod:`raster`).

Each backend is imported only when chosen: the torch backend runs where Open3D is not installed
(the GPU machine), the Open3D one where torch is not.
"""
from __future__ import annotations

from ..params import VisibilityParams
from ..scene.types import Scene
from .mesh import Caster


def make_caster(scene: Scene, params: VisibilityParams, threads: int = 0) -> Caster:
    """The scene's caster; ``threads``: CPU threads per cast (0: all cores; see ``frame_pool.cast_threads``)."""
    if params.backend == "torch":
        from .raster import TorchCaster
        return TorchCaster(scene, params.device, threads)
    from .raycast import MeshCaster
    return MeshCaster(scene, threads)
