"""Camera conventions and COLMAP IO, checked against hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from mosaic_pipeline.scene.colmap import (
    ColmapCamera,
    ColmapFormatError,
    ColmapImage,
    matrix_to_qt,
    pose_matrix,
    read_cameras,
    read_images,
    write_cameras,
    write_images,
)
from mosaic_pipeline.scene.geometry import camera_rays, is_rigid, look_at, project
from mosaic_pipeline.scene.types import Camera, Frame, OrientedBox

CAM = Camera(width=640, height=480, fx=500.0, fy=500.0, cx=320.0, cy=240.0)


def test_look_at_conventions():
    # Camera at the origin looking along +x (world), z up: camera z = world x, camera x = world -y, camera y = world -z.
    T = look_at(np.zeros(3), np.array([1.0, 0, 0]))
    assert is_rigid(T)
    ahead, right, up = np.array([[2.0, 0, 0]]), np.array([[2.0, -0.5, 0]]), np.array([[2.0, 0, 0.5]])
    uv, z = project(CAM, T, np.vstack([ahead, right, up]))
    assert z[0] == pytest.approx(2.0) and np.allclose(uv[0], [320, 240])
    assert uv[1, 0] > uv[0, 0]  # a point to the right has larger u
    assert uv[2, 1] < uv[0, 1]  # a point above has smaller v (y down)
    # hand computation: 0.5 m right at 2 m depth -> u = 320 + 500 * 0.25
    assert uv[1, 0] == pytest.approx(445.0)


def test_project_behind_camera_is_nan():
    T = look_at(np.zeros(3), np.array([1.0, 0, 0]))
    uv, z = project(CAM, T, np.array([[-1.0, 0, 0]]))
    assert z[0] < 0 and np.isnan(uv).all()


def test_camera_rays_hit_projected_points():
    rng = np.random.default_rng(0)
    T = look_at(np.array([0.3, -0.2, 1.5]), np.array([2.0, 1.0, 0.8]))
    pts = rng.uniform([1.5, 0.5, 0.5], [2.5, 1.5, 1.2], size=(50, 3))
    uv, z = project(CAM, T, pts)
    o, d = camera_rays(CAM, T, uv[:, 0], uv[:, 1])
    # t == camera depth: origin + depth * direction reproduces the point
    assert np.allclose(o + z[:, None] * d, pts, atol=1e-9)


def test_frame_center_and_inverse():
    T = look_at(np.array([1.0, 2.0, 1.4]), np.array([3.0, 2.0, 1.0]))
    f = Frame("frame_000000", CAM, T)
    assert np.allclose(f.center, [1.0, 2.0, 1.4])
    assert np.allclose(f.cam_to_world @ T, np.eye(4))


def test_quaternion_round_trip_and_w_convention():
    T = look_at(np.array([1.0, -2.0, 1.5]), np.array([0.0, 0.0, 1.0]))
    q, t = matrix_to_qt(T)
    assert q[0] >= 0 and np.isclose(np.linalg.norm(q), 1)
    assert np.allclose(pose_matrix(q, t), T, atol=1e-12)
    # hand case: 90 deg about z, (w, x, y, z) = (cos 45, 0, 0, sin 45)
    R = pose_matrix(np.array([np.sqrt(0.5), 0, 0, np.sqrt(0.5)]), np.zeros(3))[:3, :3]
    assert np.allclose(R @ [1, 0, 0], [0, 1, 0])


def test_colmap_text_round_trip(tmp_path):
    cams = [ColmapCamera(1, "PINHOLE", 640, 480, (500.0, 501.0, 320.5, 239.5))]
    T = look_at(np.array([1.0, 1.0, 1.5]), np.array([2.0, 3.0, 1.0]))
    q, t = matrix_to_qt(T)
    imgs = [ColmapImage(7, q, t, 1, "frame_000070.jpg")]
    write_cameras(tmp_path / "cameras.txt", cams)
    write_images(tmp_path / "images.txt", imgs)
    assert read_cameras(tmp_path / "cameras.txt") == {1: cams[0]}
    (back,) = read_images(tmp_path / "images.txt")
    assert back.name == "frame_000070.jpg" and back.camera_id == 1 and back.image_id == 7
    assert np.allclose(back.world_to_cam, T)


def test_colmap_reads_points2d_lines_and_rejects_garbage(tmp_path):
    p = tmp_path / "images.txt"
    p.write_text("# header\n1 1 0 0 0 0 0 0 1 frame_000000.jpg\n10.0 20.0 -1 11.0 21.0 5\n"
                 "2 1 0 0 0 1 0 0 1 frame_000010.jpg\n\n")
    assert [i.name for i in read_images(p)] == ["frame_000000.jpg", "frame_000010.jpg"]
    p.write_text("1 1 0 0 nan? 0 0 0 1 frame_000000.jpg\n\n")
    with pytest.raises(ColmapFormatError, match="images.txt:1"):
        read_images(p)
    c = tmp_path / "cameras.txt"
    c.write_text("1 PINHOLE 640 480 500 500 320\n")
    with pytest.raises(ColmapFormatError, match="needs 4 params"):
        read_cameras(c)


def test_camera_scaling_keeps_projection():
    small = CAM.scaled_to_long_side(320)
    assert (small.width, small.height) == (320, 240)
    T = look_at(np.zeros(3), np.array([1.0, 0.2, 0.1]))
    p = np.array([[2.0, 0.3, 0.2]])
    assert np.allclose(project(small, T, p)[0], project(CAM, T, p)[0] * 0.5)


def test_oriented_box_corners_follow_rotation():
    yaw = np.deg2rad(30)
    R = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    box = OrientedBox(np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 1.0]), R)
    c = box.corners()
    local = (c - box.centroid) @ R  # back into the box frame
    assert np.allclose(np.abs(local), [1.0, 0.5, 0.5])
