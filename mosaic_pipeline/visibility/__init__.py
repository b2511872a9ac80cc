"""Labels from geometry (docs/visibility.md, docs/views.md): the casters (``mesh``: what they share; ``raycast``:
Open3D; ``raster``: PyTorch, for a GPU; ``backend``: the one of ``visibility.backend``), per-instance
pixel coverage (``coverage``), the visibility table (``table``), frame overlap (``overlap``) and the
low-overlap view samples (``views``)."""
