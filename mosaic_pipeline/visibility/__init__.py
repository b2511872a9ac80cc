"""Labels from geometry (docs/visibility.md, docs/views.md): the ray caster (``raycast``), per-instance
pixel coverage (``coverage``), the visibility table (``table``), frame overlap (``overlap``) and the
low-overlap view samples (``views``)."""
