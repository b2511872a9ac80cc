"""QA generation: balanced, ground-truth questions over the view samples of a scene (docs/tasks.md, docs/balance.md, docs/formats.md).

Inputs per scene are exactly three: the ``Scene`` (3D boxes, frames), its visibility table and its
view-samples table. Nothing here imports Dagster.

Task groups and splits
----------------------
- ``mosaic``: the six families of the paper (object_count, best_view_selection,
  object_localization, occlusion_aware_existence, occlusion_aware_attribute,
  occlusion_aware_spatial_relation), 12 official question types (obj_count_occ, ...).
- ``zero_shot``: the official code's numeric tasks (task_type ``numeric``: count,
  camera_object_distance, object_object_distance, object_size, point_2d; question types
  ``*_occ_na``) and the VSTI-Bench-style transfer tasks (task_type ``vsti``: camera_displacement,
  camera_movement_direction, camera_object_distance, object_relative_distance; question types as
  VSTI-Bench names them).

The scene list fixes one split per scene (scene-disjoint). ``train`` and ``bench`` scenes yield the
``mosaic`` group (SpatialMosaic / SpatialMosaic-Bench); ``transfer`` scenes yield only the
``zero_shot`` group, a separate benchmark for zero-shot evaluation: no model trained on ``train``
has seen these tasks or these scenes (:mod:`mosaic_pipeline.qa.dataset`).
"""
