"""A QA shard's review page (mosaic_pipeline.quality.review) and the server of the review site.

Independent checks: the balance verdicts agree with Great Expectations' own outcomes and the KL of a
one-letter task is log(4) by hand; boxes and points are scaled by hand-computed factors and a hidden
box is projected by hand; the page loads only files of its own folder; the server answers what is
under its two folders and nothing else.
"""
from __future__ import annotations

import json
import math
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from quality_shards import TASKS, all_answers_a, good_shard

from mosaic_pipeline import paths
from mosaic_pipeline.frames import camera_table
from mosaic_pipeline.params import load_params
from mosaic_pipeline.plots.quality import ROLE_COLOURS, question_image
from mosaic_pipeline.quality.review import balance_tables, write_review
from mosaic_pipeline.quality.review_audit import audit_view
from mosaic_pipeline.quality.review_questions import (
    TARGET,
    Box,
    FrameView,
    QuestionView,
    SceneFrames,
    question_view,
    sample_questions,
)
from mosaic_pipeline.quality.serve import PortTaken, review_url, serve, url_of
from mosaic_pipeline.quality.suites import qa_tasks
from mosaic_pipeline.quality.validation import validate_tables

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "qa"))
from qa_fixtures import make_shard  # noqa: E402

WORKING = 160  # long side of the test frames (the fixture's cameras are 640 x 480)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site_params(tmp_path_factory):
    root = tmp_path_factory.mktemp("review")
    return load_params(overrides={"paths": {"artifacts": str(root / "artifacts"), "synthetic_release": str(root),
                                            "scannetpp_release": None},
                                  "review": {"port": _free_port(), "questions": 6, "frame_height": 120}})


def _write_frames(scene, params) -> None:
    """Grey working-resolution JPEGs and the camera table, where the frames asset puts them."""
    out = paths.frames_dir(params, scene.source, scene.scene_id)
    (out / "images").mkdir(parents=True)
    table = camera_table(scene, WORKING)
    for row in table.itertuples():
        Image.new("RGB", (row.width, row.height), (128, 128, 128)).save(out / "images" / f"{row.frame_id}.jpg")
    table.to_parquet(out / "cameras.parquet", index=False)


@pytest.fixture(scope="module")
def built(site_params):
    """A real shard of a hand-built scene, validated with Data Docs, and its review page."""
    shard = make_shard(0, site_params, split="train")
    _write_frames(shard.scene, site_params)
    scene_id = shard.scene.scene_id
    docs = paths.quality_docs(site_params, "qa_shards_quality", scene_id)
    tasks = qa_tasks(site_params)
    report = validate_tables({"qa_shard": shard.qa}, site_params, tasks, docs)
    page = write_review(site_params, scene_id, shard.qa, shard.visibility, tasks, report, {"qa_shard": Path("x")})
    return shard, report, page


class Page(HTMLParser):
    """What a page loads, where it links, its sections and its text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.loads, self.links, self.ids, self.text = [], [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("img", "script") and a.get("src"):
            self.loads.append(a["src"])
        if tag == "link" and a.get("href"):
            self.loads.append(a["href"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if a.get("id"):
            self.ids.append(a["id"])

    def handle_data(self, data):
        self.text.append(data)


def test_balance_verdicts_agree_with_great_expectations(params):
    shard = all_answers_a(good_shard(), "object_count")
    report = validate_tables({"qa_shard": shard}, params, TASKS)
    tables = {t.suite: t for t in balance_tables(shard, params, TASKS, report)}
    for suite, table in tables.items():
        gx_pass = all(o.success for o in report.outcomes if o.suite == suite)
        rows_pass = all(row[-1].verdict == "PASS" for row in table.rows)
        assert table.gx_verdict == ("PASS" if gx_pass else "FAIL") and rows_pass == gx_pass, suite
    letters = tables["qa_letter_balance"]
    (count,) = [r for r in letters.rows if r[0].text == "object_count"]
    cells = dict(zip(letters.header, count))
    assert [cells[letter].text for letter in "ABCD"] == ["1.000", "0.000", "0.000", "0.000"]
    kl = next(c for h, c in cells.items() if h.startswith("kl_to_uniform"))
    assert math.isclose(float(kl.text), math.log(4), rel_tol=1e-3) and kl.verdict == "FAIL"  # 1 * log(1 * 4)
    assert f"(0 to {params.quality.max_letter_kl:.4g})" in next(h for h in letters.header if h.startswith("kl_"))
    assert all(r[-1].verdict == "PASS" for r in letters.rows if r[0].text != "object_count")


def test_sample_is_deterministic_and_spread_over_types(built):
    shard, _, _ = built
    n_types = shard.qa["question_type"].nunique()
    sample = sample_questions(shard.qa, n_types + 3)
    shuffled = sample_questions(shard.qa.sample(frac=1.0, random_state=1), n_types + 3)
    assert list(sample["qa_id"]) == list(shuffled["qa_id"])
    assert sample["question_type"].head(n_types).nunique() == n_types  # one of each type before any repeats


def _camera(width=160, height=120, image_width=640, fx=100.0):
    return pd.DataFrame([{"frame_id": "f0", "width": width, "height": height, "image_width": image_width,
                          "image_height": image_width * 3 // 4, "fx": fx, "fy": fx, "cx": width / 2, "cy": height / 2}])


def _visibility(bbox, min_cam=(0, 0, 1), max_cam=(0, 0, 1)):
    return pd.DataFrame([{"frame_id": "f0", "instance_id": 7, "bbox_2d": bbox, "image_width": 640,
                          "min_cam": list(min_cam), "max_cam": list(max_cam)}])


def _question(**metadata):
    return pd.Series({"qa_id": "q", "question_type": "obj_localization_occ", "question": "Is there a lamp in Frame 0?",
                      "options": ["Yes; (320, 240)", "No"], "answer": "Yes; (320, 240)", "correct_option_index": 0,
                      "source_frame_ids": ["f0"], "query_frame_id": 0, "metadata": json.dumps(metadata)})


def test_visible_box_and_points_scaled_to_the_frames(tmp_path):
    scene = SceneFrames(_visibility([100.0, 40.0, 300.0, 200.0]).set_index(["frame_id", "instance_id"]),
                        _camera().set_index("frame_id"), tmp_path)
    view = question_view(_question(target_instance_id=7, target_instance="lamp_07"), scene)
    (frame,) = view.frames
    assert frame.is_query and frame.boxes == (Box("lamp_07", TARGET, (25.0, 10.0, 75.0, 50.0)),)  # x 160/640
    assert [(p.label, p.xy) for p in frame.points] == [("A", (80.0, 60.0))]
    assert view.options[0] == ("A", "Yes; (320, 240)", True) and view.notes == ()


def test_hidden_target_gets_its_projected_box(tmp_path):
    scene = SceneFrames(_visibility(None, (-0.5, -0.5, 2.0), (0.5, 0.5, 3.0)).set_index(["frame_id", "instance_id"]),
                        _camera().set_index("frame_id"), tmp_path)
    (frame,) = question_view(_question(target_instance_id=7, target_instance="lamp_07"), scene).frames
    # u = 100 x / z + 80: the nearest corners (z 2) span x +-0.5 -> 55..105; v likewise 35..85
    assert frame.boxes == (Box("lamp_07", TARGET, (55.0, 35.0, 105.0, 85.0), hidden=True),)


def test_box_is_drawn_where_it_is(tmp_path):
    Image.new("RGB", (160, 120), (128, 128, 128)).save(tmp_path / "f0.jpg")
    frame = FrameView(0, "f0", tmp_path / "f0.jpg", True, (Box("lamp", TARGET, (40.0, 30.0, 120.0, 90.0)),))
    image = np.asarray(question_image(QuestionView("q", "t", "?", (), "", (frame,), (), ()), frame_height=240))
    red = np.abs(image.astype(int) - ROLE_COLOURS[TARGET]).max(axis=2) < 40
    ys, xs = np.nonzero(red)
    # the frame is scaled x2 (120 -> 240 px high): the outline spans 80 x 60 frame pixels, 2 px wide
    assert abs((xs.max() - xs.min()) - 160) <= 2 and abs((ys.max() - ys.min()) - 120) <= 2
    cy, cx = (ys.max() + ys.min()) // 2, (xs.max() + xs.min()) // 2
    assert tuple(image[cy, cx + 20]) == (128, 128, 128)  # inside the box, right of its label: the frame untouched


def test_page_loads_only_its_own_files_and_links_data_docs_over_http(built, site_params):
    shard, report, page = built
    html = Page(page.read_text(encoding="utf-8"))
    assert {"balance", "audit", "plots", "questions", "expectations", "data-docs"} <= set(html.ids)
    assert html.loads and all("://" not in u and (page.parent / u).is_file() for u in html.loads)
    assert sum(u.startswith("questions/") for u in html.loads) == site_params.review.questions
    assert url_of(site_params, report.docs_index) in html.links
    assert url_of(site_params, report.docs_index).startswith(f"http://127.0.0.1:{site_params.review.port}/data_docs/")
    text = " ".join(" ".join(html.text).split())
    for q in sample_questions(shard.qa, site_params.review.questions)["question"]:
        assert " ".join(q.split()) in text
    assert "audit not run" in text


def test_page_is_byte_identical_when_rebuilt(built, site_params):
    shard, report, page = built
    before = {p.relative_to(page.parent): p.read_bytes() for p in sorted(page.parent.rglob("*")) if p.is_file()}
    write_review(site_params, shard.scene.scene_id, shard.qa, shard.visibility, qa_tasks(site_params), report,
                 {"qa_shard": Path("x")})
    after = {p.relative_to(page.parent): p.read_bytes() for p in sorted(page.parent.rglob("*")) if p.is_file()}
    assert before == after


def test_audit_row_of_the_scene(tmp_path):
    qa = pd.DataFrame({"question_type": ["a", "a", "b"], "options": [["x", "y", "z", "w"]] * 2 + [["Yes", "No"]]})
    path = tmp_path / "questions.parquet"
    assert audit_view(path, "s1", qa).note.startswith("audit not run")
    pd.DataFrame({"scene_id": ["s1", "s1", "s1", "s2"], "question_type": ["a", "a", "b", "a"],
                  "text_only_correct": [True, False, True, True]}).to_parquet(path)
    rows = {r.question_type: r for r in audit_view(path, "s1", qa).rows}
    assert (rows["a"].n, rows["a"].text_only, rows["a"].chance) == (2, 0.5, 0.25)
    assert math.isclose(rows["b"].gap_points, 50.0)
    pd.DataFrame({"scene_id": ["s1"], "question_type": ["a"]}).to_parquet(path)
    view = audit_view(path, "s1", qa)
    assert not view.rows and "lacks" in view.note


def _get(url: str) -> tuple[int, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None
    try:
        with urllib.request.build_opener(NoRedirect).open(url, timeout=10) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location", "")


def test_server_serves_the_review_site_and_nothing_else(built, site_params):
    shard, report, _ = built
    (site_params.artifacts / "secret.txt").write_text("outside the served folders")
    with serve(site_params) as base:
        status, body = _get(review_url(site_params, shard.scene.scene_id))
        assert status == 200 and f"QA shard {shard.scene.scene_id}" in body
        status, body = _get(url_of(site_params, report.docs_index))
        assert status == 200 and "Validation Results" in body
        assert _get(f"{base}/")[0] == 302 and _get(f"{base}/")[1] == "/review/"
        assert _get(f"{base}/review/../secret.txt")[0] == 404
        assert _get(f"{base}/review/%2e%2e/secret.txt")[0] == 404
        assert _get(f"{base}/data_docs/../../secret.txt")[0] == 404
        assert _get(f"{base}/frames/")[0] == 404
        with pytest.raises(PortTaken, match=str(site_params.review.port)):
            with serve(site_params):
                pass
