"""Label mapping as the ScanNet++ toolkit does it, on the release-shaped hand scene (tests/scenes_by_hand.py)
and on map files written here; expectations are the toolkit's rules written down by hand."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scenes_by_hand import RELEASE_EXPECTED, SPLIT_OBJECT_ID, TOP100_INSTANCE, write_hand_scene

from mosaic_cli import main
from mosaic_pipeline.errors import FileInputError, SceneError
from mosaic_pipeline.params import load_params
from mosaic_pipeline.scene.labels import LabelStatus, read_map_file, release_label_mapping
from mosaic_pipeline.scene.scannetpp import load_scene, scene_summary

HEADER = "class,count,semantic_map_to,instance_map_to\n"


@pytest.fixture
def release(tmp_path):
    return write_hand_scene(tmp_path / "release", release_shaped=True)


def test_each_raw_label_becomes_what_the_toolkit_makes_of_it(release):
    scene = load_scene(release.scene_dir)
    got = {inst.label_orig: (inst.label, inst.status.value) for inst in scene.instances.values()}
    got.update({d.label_orig: (None, d.status.value) for d in scene.dropped.values()})
    assert got == RELEASE_EXPECTED
    assert {i: inst.label_orig for i, inst in scene.instances.items()} == {
        3: "desk", 7: "office chair", 12: "table", 13: "wall"}
    assert [inst.qa_eligible for inst in scene.instances.values()] == [True, True, True, False]


def test_dropped_groups_are_background_and_take_no_vertex(release):
    """floor and REMOVE are geometry only (their faces stay in the mesh: they occlude); SPLIT lists 4 desk
    vertices again but, dropped, takes no part in the smallest-instance rule, so the desk keeps them."""
    scene = load_scene(release.scene_dir)
    for label in ("floor", "REMOVE", "whiteboard"):
        box = release.box(label)
        assert (scene.vertex_instance[box.vertex_ids] == -1).all()
        assert np.isin(box.vertex_ids, scene.faces).all()  # still part of the mesh
    assert SPLIT_OBJECT_ID in scene.dropped
    np.testing.assert_array_equal(scene.instances[3].vertex_ids, release.box("desk").vertex_ids)


def test_summary_counts_labels_by_status(release):
    summary = scene_summary(load_scene(release.scene_dir))
    assert summary["labels"] == {"chair": 1, "table": 2, "wall": 1}
    assert summary["label_status"] == {"kept": 1, "mapped": 2, "unlisted": 1, "dropped": 3, "unmapped": 1}
    assert summary["no_class_labels"] == {"unlisted": {"wall": 1}, "dropped": {"REMOVE": 1, "SPLIT": 1, "floor": 1},
                                          "unmapped": {"whiteboard": 1}}


def test_without_a_map_file_labels_stay_raw_and_the_class_list_decides(release):
    params = load_params().scannetpp
    params = params.model_copy(update={"label_mapping": params.label_mapping.model_copy(update={"map_file": None})})
    scene = load_scene(release.scene_dir, params=params)
    assert {inst.label: inst.status.value for inst in scene.instances.values()} == {
        "floor": "unlisted", "desk": "unlisted", "office chair": "unlisted", "REMOVE": "unlisted",
        "table": "kept", "wall": "unlisted", "whiteboard": "unlisted", "SPLIT": "unlisted"}
    assert not scene.dropped


def test_synthetic_release_keeps_its_own_class_list(tmp_path):
    hand = write_hand_scene(tmp_path / "release")  # metadata/instance_classes.txt only: no map file
    scene = load_scene(hand.scene_dir)
    assert all(inst.status is LabelStatus.KEPT and inst.label == inst.label_orig for inst in scene.instances.values())


def test_map_file_rules(tmp_path):
    """Empty cell keeps, None drops, a name renames; repeated rows combine like the toolkit's OrderedDict;
    rows under min_count (or without a count) are left out, so their labels are dropped."""
    path = tmp_path / "map.csv"
    path.write_text(HEADER + "a,5,,\nb,5,,None\nc,5,,x\nd,1,,\ne,,,\n"
                    "f,5,,y\nf,5,,None\ng,5,,None\ng,5,,\nh,5,,z\nh,5,,\n")
    assert read_map_file(path, "instance_map_to", 0) == {
        "a": "a", "b": None, "c": "x", "d": "d", "f": "y", "g": "g", "h": "z"}
    assert read_map_file(path, "instance_map_to", 2) == {
        "a": "a", "b": None, "c": "x", "f": "y", "g": "g", "h": "z"}
    assert read_map_file(path, "semantic_map_to", 0)["c"] == "c"


def test_map_file_errors_name_file_and_field(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("class,count,semantic_map_to\nchair,3,\n")
    with pytest.raises(FileInputError, match="field 'instance_map_to': missing column"):
        read_map_file(path, "instance_map_to", 0)
    path.write_text(HEADER + "chair,3,\n")
    with pytest.raises(FileInputError, match="field 'line 2'"):
        read_map_file(path, "instance_map_to", 0)


def test_a_bad_map_file_fails_the_scene_with_its_name(release):
    csv = release.scene_dir.parents[1] / "metadata/semantic_benchmark/map_benchmark.csv"
    csv.write_text("class;count\n")
    with pytest.raises(SceneError) as err:
        load_scene(release.scene_dir)
    assert err.value.scene_id == release.scene_id and err.value.path == csv and "instance_map_to" in str(err.value)


def test_release_mapping_files(release):
    mapping = release_label_mapping(release.scene_dir.parents[1], load_params().scannetpp.label_mapping)
    assert mapping.classes == frozenset(TOP100_INSTANCE)
    assert mapping.map_file.name == "map_benchmark.csv" and mapping.class_list.name == "top100_instance.txt"


def test_everything_dropped_is_an_empty_scene(release):
    anno_path = release.scene_dir / "scans/segments_anno.json"
    anno = json.loads(anno_path.read_text())
    anno["segGroups"] = [g for g in anno["segGroups"] if RELEASE_EXPECTED[g["label"]][0] is None]
    anno_path.write_text(json.dumps(anno))
    with pytest.raises(SceneError, match="field 'segGroups': empty scene: the label mapping drops all 4"):
        load_scene(release.scene_dir)


def test_dropped_groups_are_not_checked_beyond_their_label(release):
    """A housekeeping group with a broken box or stale vertex ids costs nothing: it is never used."""
    anno_path = release.scene_dir / "scans/segments_anno.json"
    anno = json.loads(anno_path.read_text())
    remove = next(g for g in anno["segGroups"] if g["label"] == "REMOVE")
    remove["obb"]["centroid"] = [float("nan")] * 3
    remove["segments"] = [10 ** 6]
    anno_path.write_text(json.dumps(anno))
    assert 9 in load_scene(release.scene_dir).dropped


def test_cli_check_of_a_scene_shows_label_status(release):
    result = CliRunner().invoke(main, ["scenes", "check", str(release.scene_dir)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["label_status"]["dropped"] == 3
