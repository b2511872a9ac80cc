"""An independent answer checker for QA shards.

It shares nothing with the generators but the data model: it parses each question's TEXT, resolves
the object references itself (a plain label must name the only instance of that label seen in the
sample; "label(x,y)" the only visible one in the query frame with that box centre), and recomputes
the answer from the raw visibility rows and the 3D boxes. ``check_shard`` returns a list of
disagreements (empty when every answer is right) and the number of rows it checked.

On a real release the object names are the benchmark's, not the annotation's: ``benchmark_labels``
recomputes them from the release's own label files (the toolkit's rules, written here independently of
the reader), and ``check_shard(..., labels=...)`` resolves every name against them only.
"""
from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import Delaunay, QhullError

from mosaic_pipeline.params import Params
from mosaic_pipeline.scene.types import Scene

WORDS = {  # question/option phrase -> (axis index, sign): sign -1 = the target has the smaller coordinates
    "to the left of": (0, -1), "to the right of": (0, 1), "above": (1, -1), "below": (1, 1),
    "higher than": (1, -1), "lower than": (1, 1), "closer to the camera than": (2, -1),
    "farther from the camera than": (2, 1),
}
PHRASES = "|".join(sorted(map(re.escape, WORDS), key=len, reverse=True))
AXIS_SUFFIX = {"lr": 0, "ab": 1, "fb": 2}
MOVES = {"Forward": (2, 1), "Backward": (2, -1), "Right": (0, 1), "Left": (0, -1)}


def _segments_cross(a, b, c, d) -> bool:
    """Segments ab and cd properly intersect (orientation test)."""
    def orient(p, q, r):
        return np.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))
    return orient(a, b, c) * orient(a, b, d) < 0 and orient(c, d, a) * orient(c, d, b) < 0


class Disagreement(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Disagreement(message)


@dataclass
class Sample:
    frame_ids: list[str]


def benchmark_labels(scene_dir: Path) -> dict[int, str]:
    """objectId -> benchmark class of the scene's segGroups, from the release's map_benchmark.csv
    (instance_map_to: empty = keep, "None" = drop, else the new name; no row = drop) and
    top100_instance.txt (a class outside it is no object of any question). Assumes one row per label."""
    bench = Path(scene_dir).parents[1] / "metadata/semantic_benchmark"
    with open(bench / "map_benchmark.csv", newline="") as f:
        to = {row["class"]: row["instance_map_to"] for row in csv.DictReader(f)}
    classes = set((bench / "top100_instance.txt").read_text().split("\n")) - {""}
    groups = json.loads((Path(scene_dir) / "scans/segments_anno.json").read_text())["segGroups"]
    out = {}
    for g in groups:
        cell = to.get(g["label"], "None")
        name = g["label"] if cell == "" else cell
        if name in classes:
            out[g["objectId"]] = name
    return out


class Checker:
    def __init__(self, scene: Scene, visibility: pd.DataFrame, views: pd.DataFrame, params: Params,
                 labels: dict[int, str] | None = None):
        self.scene, self.p = scene, params
        self.rows = {(r.frame_id, int(r.instance_id)): r for r in visibility.itertuples(index=False)}
        self.samples = {int(r.sample_id): list(r.frame_ids) for r in views.itertuples(index=False)}
        self.frames = {f.frame_id: f for f in scene.frames}
        self.labels = labels if labels is not None else {iid: inst.label for iid, inst in scene.instances.items()}
        skip = set(params.qa.excluded_labels)
        self.by_label: dict[str, list[int]] = {}
        for iid, label in sorted(self.labels.items()):
            if label not in skip:
                self.by_label.setdefault(label, []).append(iid)

    # --- raw facts -------------------------------------------------------------------------------
    def row(self, fid: str, iid: int):
        return self.rows.get((fid, iid))

    def seen(self, fid: str, iid: int) -> bool:
        r = self.row(fid, iid)
        return r is not None and r.visible_px > 0

    def visible(self, fid: str, iid: int) -> bool:
        r = self.row(fid, iid)
        return r is not None and bool(r.is_visible)

    def centre_px(self, fid: str, iid: int) -> tuple[int, int]:
        b = self.row(fid, iid).bbox_2d
        return int(np.floor((b[0] + b[2]) / 2 + 0.5)), int(np.floor((b[1] + b[3]) / 2 + 0.5))

    def cam_box(self, fid: str, iid: int) -> tuple[np.ndarray, np.ndarray]:
        T = self.frames[fid].world_to_cam
        pts = np.einsum("ij,nj->ni", T[:3, :3], self.scene.instances[iid].box.corners()) + T[:3, 3]
        return pts.min(axis=0), pts.max(axis=0)

    def cam_centre(self, fid: str) -> np.ndarray:
        T = self.frames[fid].world_to_cam
        return -np.linalg.solve(T[:3, :3], T[:3, 3])

    def truth(self, fid: str, target: int, source: int, axis: int) -> int:
        """+1 / -1: the target's box is beyond / before the source's along the axis by the margin; 0: neither.
        Axis 2 (closer/farther): the distance from the camera centre to the box centre, by the margin."""
        m = self.p.qa.relation_margin
        if axis == 2:
            centre = self.cam_centre(fid)
            d_t, d_s = (float(np.linalg.norm(self.scene.instances[i].box.centroid - centre)) for i in (target, source))
            return 1 if d_t >= d_s + m else -1 if d_t <= d_s - m else 0
        (tlo, thi), (slo, shi) = self.cam_box(fid, target), self.cam_box(fid, source)
        return 1 if tlo[axis] >= shi[axis] + m else -1 if thi[axis] <= slo[axis] - m else 0

    def in_view(self, fid: str, iid: int) -> bool:
        """The box is in front of the camera and the hull of its projected corners meets the image: a corner
        inside the image, an image corner inside the hull, or a segment between two corners crossing an edge."""
        frame = self.frames[fid]
        cam = frame.camera
        pc = self.scene.instances[iid].box.corners() @ frame.world_to_cam[:3, :3].T + frame.world_to_cam[:3, 3]
        if pc[:, 2].min() <= self.p.visibility.near_plane:
            return False
        uv = (pc @ cam.K.T)[:, :2] / pc[:, 2:3]
        w, h = cam.width, cam.height
        if any(0 < u < w and 0 < v < h for u, v in uv):
            return True
        rect = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
        try:
            if (Delaunay(uv).find_simplex(rect) >= 0).any():
                return True
        except QhullError:
            pass
        edges = list(zip(rect, np.roll(rect, -1, axis=0)))
        return any(_segments_cross(a, b, c, d) for a, b in combinations(uv, 2) for c, d in edges)

    def in_front(self, fid: str, iid: int) -> bool:
        return bool(self.cam_box(fid, iid)[0][2] > self.p.visibility.near_plane)

    def occluded_target(self, frames: list[str], k: int, iid: int) -> bool:
        r, lim = self.row(frames[k], iid), self.p.qa.occluded_ratio
        hidden = r is None or not r.is_visible or r.occlusion_ratio >= lim or r.fov_ratio >= lim
        return hidden and any(self.visible(f, iid) for j, f in enumerate(frames) if j != k) and self.in_view(frames[k], iid)

    def counted(self, fid: str, iid: int) -> bool:
        """Visible with at least qa.count_min_visible_px pixels at the reference size, scaled to the render area."""
        r = self.row(fid, iid)
        if r is None or not r.is_visible:
            return False
        ref_w, ref_h = self.p.qa.count_reference_size
        return r.visible_px * ref_w * ref_h >= self.p.qa.count_min_visible_px * r.render_width * r.render_height

    def resolve(self, ref: str, frames: list[str], k: int | None) -> int:
        m = re.fullmatch(r"(.+)\((\d+),(\d+)\)", ref)
        if m:
            label, point = m.group(1), (int(m.group(2)), int(m.group(3)))
            expect(k is not None, f"point reference {ref!r} without a query frame")
            hits = [i for i in self.by_label.get(label, []) if self.visible(frames[k], i)
                    and self.centre_px(frames[k], i) == point]
        else:
            hits = [i for i in self.by_label.get(ref, []) if any(self.seen(f, i) for f in frames)]
        expect(len(hits) == 1, f"reference {ref!r} names {len(hits)} instances")
        return hits[0]

    def visible_instances(self, label: str, frames: list[str]) -> list[int]:
        return [i for i in self.by_label.get(label, []) if any(self.visible(f, i) for f in frames)]

    def counted_instances(self, label: str, frames: list[str]) -> list[int]:
        return [i for i in self.by_label.get(label, []) if any(self.counted(f, i) for f in frames)]

    def box_distance(self, iid: int, point: np.ndarray) -> float:
        box = self.scene.instances[iid].box
        local = np.abs(box.rotation.T @ (point - box.centroid))
        return float(np.sqrt(np.sum(np.maximum(local - box.axes_lengths / 2, 0.0) ** 2)))

    # --- families --------------------------------------------------------------------------------
    def count(self, q, frames, label_pattern):
        label = re.fullmatch(label_pattern, q.question).group(1)
        ids = self.counted_instances(label, frames)
        seen = [i for i in self.by_label[label] if any(self.seen(f, i) for f in frames)]
        expect(len(seen) == len(ids), "count asked with an instance seen but too small to count")
        expect(q.answer == str(len(ids)), f"count {q.answer} != {len(ids)}")
        expect(all(re.fullmatch(r"\d+", o) for o in q.options), f"count options not counts: {q.options}")
        return label, ids

    def best_view(self, q, frames):
        label, ids = self.count(q._replace(answer=q.answer.split(",")[0], options=[]), frames,
                                r"How many (.+)\(s\) are visible across these frames\? And tell me .*")
        score = [(sum(self.counted(f, i) for i in ids), sum(self.row(f, i).visible_px for i in ids if self.counted(f, i)))
                 for f in frames]
        best = max(score)
        expect(score.count(best) == 1, "best view tie")
        expect(q.answer == f"{len(ids)}, Frame {score.index(best)}", f"best view {q.answer}")
        grid = [tuple(map(int, re.fullmatch(r"(\d+), Frame (\d+)", o).groups())) for o in q.options]
        counts, positions = sorted({c for c, _ in grid}), sorted({f for _, f in grid})
        expect(len(counts) == 2 and len(positions) == 2 and sorted(grid) == [(c, f) for c in counts for f in positions],
               f"best view options are not a 2 x 2 grid of counts and frames: {q.options}")
        expect(positions[-1] < len(frames), "an option's frame is not in the sample")

    def localization(self, q, frames):
        m = re.fullmatch(r"Is there a\(n\) (.+) in Frame (\d+)\? If so, what is the bounding box center coordinates\?",
                         q.question)
        label, k = m.group(1), int(m.group(2))
        fid = frames[k]
        expect(bool(self.visible_instances(label, frames)), "label not visible in the sample")
        here = [i for i in self.by_label[label] if self.seen(fid, i)]
        expect(len(here) <= 1, "several instances in the query frame")
        if here:
            expect(self.visible(fid, here[0]), "present instance below the visibility threshold")
            x, y = self.centre_px(fid, here[0])
            expect(q.answer == f"Yes; ({x}, {y})", f"localization {q.answer} != ({x}, {y})")
        else:
            expect(q.answer == "No", "absent label answered Yes")
        expect("No" in q.options, "no 'No' option")
        cam = self.frames[fid].camera
        points = [tuple(map(int, re.fullmatch(r"Yes; \((\d+), (\d+)\)", o).groups())) for o in q.options if o != "No"]
        for a in range(len(points)):
            expect(0 <= points[a][0] < cam.width and 0 <= points[a][1] < cam.height, "point outside the image")
            for b in range(a):
                expect(math.dist(points[a], points[b]) >= self.p.qa.localization_min_separation * math.hypot(
                    cam.width, cam.height), "localization options too close")

    def existence(self, q, frames):
        m = re.fullmatch(rf"In Frame (\d+), is the (.+?) ({PHRASES}) the (.+) in this viewpoint\?", q.question)
        k, fid = int(m.group(1)), frames[int(m.group(1))]
        t, s = self.resolve(m.group(2), frames, k), self.resolve(m.group(4), frames, k)
        axis, sign = WORDS[m.group(3)]
        expect(axis == AXIS_SUFFIX[q.question_type[-2:]], "phrase not of the task's axis")
        self.pair_rules(frames, k, t, s)
        rel = self.truth(fid, t, s, axis)
        expect(rel != 0, "ambiguous relation asked")
        expect(q.answer == ("Yes" if rel == sign else "No"), f"existence {q.answer} but relation {rel}")
        expect(q.options == ["Yes", "No"], "Yes/No options")

    def pair_rules(self, frames, k, t, s):
        fid = frames[k]
        expect(self.visible(fid, s), "source not visible in the query frame")
        expect(self.occluded_target(frames, k, t), "target not an occluded target")
        expect(self.in_front(fid, t) and self.in_front(fid, s), "box behind the camera")

    def attribute(self, q, frames):
        m = re.fullmatch(rf"In Frame (\d+), which object appears ({PHRASES}) the (.+) in this viewpoint\?", q.question)
        k, fid = int(m.group(1)), frames[int(m.group(1))]
        s = self.resolve(m.group(3), frames, k)
        axis, sign = WORDS[m.group(2)]
        expect(axis == AXIS_SUFFIX[q.question_type[-2:]], "phrase not of the task's axis")
        ids = [self.resolve(o[:1].lower() + o[1:], frames, k) for o in q.options]
        rels = [self.truth(fid, i, s, axis) for i in ids]
        expect(rels.count(sign) == 1 and rels.count(-sign) == len(rels) - 1, f"attribute relations {rels}")
        t = ids[rels.index(sign)]
        expect(q.options[rels.index(sign)] == q.answer, "attribute answer is not the satisfying object")
        self.pair_rules(frames, k, t, s)
        expect(len({self.labels[i] for i in ids}) == len(ids), "repeated option labels")

    def spatial(self, q, frames):
        """Options: "{phrase a} the {source} and {phrase b} it", the 2 x 2 directions of the evaluated axis a
        and a second axis b, both separated; exactly the answer is true on both."""
        m = re.fullmatch(r"In Frame (\d+), where does the (.+) appear in this view relative to the (.+)\?", q.question)
        k, fid = int(m.group(1)), frames[int(m.group(1))]
        t, s = self.resolve(m.group(2), frames, k), self.resolve(m.group(3), frames, k)
        self.pair_rules(frames, k, t, s)
        true_options, statements = [], set()
        for o in q.options:
            om = re.fullmatch(rf"({PHRASES}) the (.+) and ({PHRASES}) it", o[:1].lower() + o[1:])
            expect(om.group(2) == m.group(3), "option names another source")
            (a, sign_a), (b, sign_b) = WORDS[om.group(1)], WORDS[om.group(3)]
            expect(a == AXIS_SUFFIX[q.question_type[-2:]] and b != a, "first phrase not of the evaluated axis")
            rel_a, rel_b = self.truth(fid, t, s, a), self.truth(fid, t, s, b)
            expect(rel_a != 0 and rel_b != 0, "option on an ambiguous axis")
            statements.add((sign_a, b, sign_b))
            if (rel_a, rel_b) == (sign_a, sign_b):
                true_options.append(o)
        expect(len(statements) == 4 and len({b for _, b, _ in statements}) == 1, "not the 2 x 2 grid of two axes")
        expect(true_options == [q.answer], f"true options {true_options} vs answer {q.answer}")

    def number(self, q, value: float, decimals: int):
        expect(abs(float(q.answer) - value) <= 0.5 * 10 ** -decimals + 1e-9, f"{q.answer} != {value}")

    def numeric(self, q, frames):
        dec = self.p.qa.distance_decimals
        sub = q.subtask
        if sub == "count":
            self.count(q, frames, r"Counting each object once .*, how many (.+)\(s\) are visible across these frames\?")
        elif sub == "camera_object_distance":
            m = re.fullmatch(r"In Frame (\d+), how far is the center of the (.+) from the camera, in meters\?", q.question)
            k = int(m.group(1))
            t = self.resolve(m.group(2), frames, k)
            expect(self.occluded_target(frames, k, t), "target not an occluded target")
            self.number(q, float(np.linalg.norm(self.scene.instances[t].box.centroid - self.cam_centre(frames[k]))), dec)
        elif sub == "object_object_distance":
            m = re.fullmatch(r"What is the distance between the center of the (.+) and the center of the (.+), in meters\?",
                             q.question)
            a, b = self.resolve(m.group(1), frames, None), self.resolve(m.group(2), frames, None)
            inst = self.scene.instances
            self.number(q, float(np.linalg.norm(inst[a].box.centroid - inst[b].box.centroid)), dec)
        elif sub == "object_size":
            m = re.fullmatch(r"What is the length of the longest side of the (.+)'s 3D bounding box, in centimeters\?",
                             q.question)
            t = self.resolve(m.group(1), frames, None)
            self.number(q, float(max(self.scene.instances[t].box.axes_lengths)) * 100, 0)
        elif sub == "point_2d":
            m = re.fullmatch(r"In Frame (\d+), what are the center coordinates of the visible part of the (.+)\? .*",
                             q.question)
            k, label = int(m.group(1)), m.group(2)
            here = [i for i in self.by_label[label] if self.seen(frames[k], i)]
            expect(len(here) == 1 and self.visible(frames[k], here[0]), "point of an ambiguous label")
            x, y = self.centre_px(frames[k], here[0])
            expect(q.answer == f"({x},{y})", f"point {q.answer} != ({x},{y})")
            meta = json.loads(q.metadata)
            expect(abs(meta["bbox_2d_diag"] - math.hypot(*(np.subtract(meta["bbox_2d"][2:], meta["bbox_2d"][:2]))))
                   < 1e-9, "bbox diagonal")
        else:
            raise Disagreement(f"unknown numeric subtask {sub}")

    def vsti(self, q, frames):
        sub, qa = q.subtask, self.p.qa
        if sub in ("camera_displacement", "camera_movement_direction"):
            i, j = map(int, re.search(r"Frame (\d+) and Frame (\d+)", q.question).groups())
            move = self.cam_centre(frames[j]) - self.cam_centre(frames[i])
            expect(np.linalg.norm(move) >= qa.min_camera_displacement, "camera barely moved")
            if sub == "camera_displacement":
                self.number(q, float(np.linalg.norm(move)), qa.distance_decimals)
                return
            local = self.frames[frames[i]].world_to_cam[:3, :3] @ move
            axis, sign = MOVES[q.answer]
            other = 2 - axis
            expect(np.sign(local[axis]) == sign and abs(local[axis]) >= qa.min_camera_displacement
                   and abs(local[axis]) >= qa.movement_dominance * abs(local[other]), f"movement {q.answer} {local}")
            expect(sorted(q.options) == sorted(MOVES), "movement options")
        elif sub == "camera_object_distance":
            m = re.fullmatch(r"In Frame (\d+), what is the approximate distance \(in meters\) between the camera and "
                             r"the nearest point of the (.+)\?", q.question)
            k = int(m.group(1))
            t = self.resolve(m.group(2), frames, k)
            expect(self.visible(frames[k], t), "object not visible in the frame")
            self.number(q, self.box_distance(t, self.cam_centre(frames[k])), qa.distance_decimals)
        elif sub == "object_relative_distance":
            k = int(re.match(r"In Frame (\d+),", q.question).group(1))
            ids = [self.resolve(o[:1].lower() + o[1:], frames, k) for o in q.options]
            d = [self.box_distance(i, self.cam_centre(frames[k])) for i in ids]
            best = int(np.argmin(d))
            expect(q.options[best] == q.answer, "closest object is not the answer")
            expect(all(v >= d[best] + qa.relation_margin for n, v in enumerate(d) if n != best), "closest not by margin")
        else:
            raise Disagreement(f"unknown vsti subtask {sub}")

    def check(self, q) -> None:
        frames = self.samples[int(q.sample_id)]
        expect(list(q.source_frame_ids) == frames and list(q.frames) == list(range(len(frames))), "frames")
        if len(q.options):
            expect(len(set(q.options)) == len(q.options), "duplicate options")
            expect(list(q.options).count(q.answer) == 1 and q.options[int(q.correct_option_index)] == q.answer,
                   "correct option index")
        qt = q.question_type
        if qt == "obj_count_occ":
            self.count(q, frames, r"How many (.+)\(s\) are visible across these frames\?")
        elif qt == "bestview_count_occ":
            self.best_view(q, frames)
        elif qt == "obj_localization_occ":
            self.localization(q, frames)
        elif qt.startswith("obj_existence_occ_"):
            self.existence(q, frames)
        elif qt.startswith("obj_attribute_occ_"):
            self.attribute(q, frames)
        elif qt.startswith("obj_spatial_occ_"):
            self.spatial(q, frames)
        elif q.task_type == "numeric":
            self.numeric(q, frames)
        elif q.task_type == "vsti":
            self.vsti(q, frames)
        else:
            raise Disagreement(f"unknown question type {qt}")


def check_shard(qa: pd.DataFrame, scene: Scene, visibility: pd.DataFrame, views: pd.DataFrame,
                params: Params, labels: dict[int, str] | None = None) -> tuple[list[str], int]:
    """``labels``: instance id -> the name questions must use (default: the scene's ``Instance.label``)."""
    checker = Checker(scene, visibility, views, params, labels)
    problems, checked = [], 0
    for q in qa.itertuples(index=False):
        q = q._replace(options=list(q.options))
        try:
            checker.check(q)
            checked += 1
        except (Disagreement, AttributeError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{q.question_type} sample {q.sample_id}: {q.question!r} -> {q.answer!r}: {exc!r}")
    return problems, checked
