"""The synthetic object vocabulary: every category is an assembly of trimesh primitives with random sizes.

Local frame of every model: origin at the centre of its footprint on the surface it stands on, x =
width (left-right), y = depth with **+y the object's front** (where it is used from), z up. Wall items
(picture, clock) hang with their back at the lowest y. Models are built from separate parts (legs,
boards, panels) so that thin parts and gaps create real occlusions. Sizes are in metres; the ranges
are the category's data, drawn with the scene's generator.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np
import trimesh

CATEGORIES: tuple[str, ...] = (
    "chair", "table", "desk", "sofa", "pillow", "lamp", "monitor", "laptop", "mouse", "keyboard",
    "book", "cup", "plant", "container", "bed", "cabinet", "shelf", "tv", "trash can", "box",
    "bottle", "backpack", "clock", "vase", "towel", "bowl", "printer", "nightstand", "stool", "picture",
)

# Base colour (RGB in 0..1) of each category; instances vary around it (SyntheticParams.color_jitter).
CATEGORY_COLORS: dict[str, tuple[float, float, float]] = {
    "chair": (0.55, 0.32, 0.18), "table": (0.62, 0.45, 0.28), "desk": (0.75, 0.72, 0.66),
    "sofa": (0.25, 0.35, 0.55), "pillow": (0.85, 0.55, 0.25), "lamp": (0.92, 0.85, 0.55),
    "monitor": (0.18, 0.18, 0.2), "laptop": (0.65, 0.66, 0.7), "mouse": (0.3, 0.3, 0.33),
    "keyboard": (0.22, 0.22, 0.25), "book": (0.7, 0.15, 0.15), "cup": (0.9, 0.9, 0.85),
    "plant": (0.62, 0.33, 0.2), "container": (0.2, 0.55, 0.6), "bed": (0.5, 0.38, 0.3),
    "cabinet": (0.58, 0.5, 0.42), "shelf": (0.45, 0.3, 0.18), "tv": (0.12, 0.12, 0.13),
    "trash can": (0.4, 0.45, 0.42), "box": (0.72, 0.56, 0.36), "bottle": (0.25, 0.55, 0.3),
    "backpack": (0.15, 0.3, 0.5), "clock": (0.35, 0.2, 0.12), "vase": (0.3, 0.4, 0.75),
    "towel": (0.35, 0.65, 0.8), "bowl": (0.8, 0.75, 0.6), "printer": (0.82, 0.82, 0.8),
    "nightstand": (0.52, 0.36, 0.24), "stool": (0.35, 0.25, 0.2), "picture": (0.2, 0.15, 0.1),
}

# Categories whose instances come in many colours: each instance draws its base colour from this palette.
VARIED = ((0.7, 0.15, 0.15), (0.15, 0.3, 0.65), (0.2, 0.55, 0.3), (0.85, 0.7, 0.2), (0.45, 0.2, 0.5),
          (0.9, 0.45, 0.15), (0.15, 0.55, 0.6), (0.85, 0.85, 0.8), (0.25, 0.25, 0.28), (0.6, 0.4, 0.25))
PALETTES: dict[str, tuple[tuple[float, float, float], ...]] = {
    label: VARIED for label in ("book", "pillow", "towel", "vase", "container", "cup", "backpack", "box", "bottle")}


def base_color(label: str, rng: np.random.Generator) -> tuple[float, float, float]:
    """The colour an instance varies around: its category colour, or a draw from the category's palette."""
    palette = PALETTES.get(label)
    return palette[int(rng.integers(len(palette)))] if palette else CATEGORY_COLORS[label]


# Fixed materials for parts whose colour does not follow the instance colour.
SCREEN = (0.05, 0.06, 0.09)
FOLIAGE = (0.2, 0.5, 0.18)
SOIL = (0.25, 0.17, 0.1)
PAPER = (0.94, 0.93, 0.88)
METAL = (0.6, 0.6, 0.62)
MATTRESS = (0.93, 0.92, 0.9)

OPEN_CLEARANCE = 1.0  # free height above a surface with nothing over it (table tops, cabinet tops)


@dataclass(frozen=True)
class Part:
    """One primitive of a model; its colour is the instance colour times ``shade`` unless ``color`` is set."""

    mesh: trimesh.Trimesh
    shade: float = 1.0
    color: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Surface:
    """A horizontal rectangle other objects can stand on (local frame) and the free height above it."""

    z: float
    x: tuple[float, float]
    y: tuple[float, float]
    clearance: float


@dataclass(frozen=True)
class Model:
    label: str
    parts: tuple[Part, ...]
    surfaces: tuple[Surface, ...] = ()

    @cached_property
    def bounds(self) -> np.ndarray:
        """(2, 3) min/max corner of all parts, local frame."""
        v = np.concatenate([p.mesh.vertices for p in self.parts])
        return np.stack([v.min(axis=0), v.max(axis=0)])


@dataclass(frozen=True)
class Kit:
    """Primitive factory of one model build: the scene's generator and the cylinder resolution."""

    rng: np.random.Generator
    sections: int

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def box(self, size, center, rotation: np.ndarray | None = None) -> trimesh.Trimesh:
        """An axis-aligned box of ``size`` centred at ``center`` (optionally rotated about its centre)."""
        T = np.eye(4)
        if rotation is not None:
            T[:3, :3] = rotation
        T[:3, 3] = center
        return trimesh.creation.box(extents=size, transform=T)

    def cylinder(self, radius: float, height: float, center, axis: str = "z") -> trimesh.Trimesh:
        return trimesh.creation.cylinder(radius=radius, height=height, sections=self.sections,
                                         transform=_axis_transform(center, axis))

    def tube(self, r_in: float, r_out: float, height: float, center) -> trimesh.Trimesh:
        """An open cylinder wall (cups, bins, lamp shades): the inside is visible."""
        return trimesh.creation.annulus(r_min=r_in, r_max=r_out, height=height, sections=self.sections,
                                        transform=_axis_transform(center, "z"))

    def ellipsoid(self, radii, center) -> trimesh.Trimesh:
        sphere = trimesh.creation.icosphere(subdivisions=1)
        sphere.vertices = sphere.vertices * np.asarray(radii) + np.asarray(center)
        return sphere


def _axis_transform(center, axis: str) -> np.ndarray:
    T = np.eye(4)
    if axis == "y":
        T[:3, :3] = _rot_x(np.pi / 2)
    elif axis == "x":
        T[:3, :3] = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    T[:3, 3] = center
    return T


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def _legs(k: Kit, w: float, d: float, h: float, size: float, inset: float) -> list[Part]:
    """Four square legs of height ``h`` standing at the corners of a w x d rectangle."""
    xs, ys = w / 2 - inset - size / 2, d / 2 - inset - size / 2
    return [Part(k.box((size, size, h), (sx * xs, sy * ys, h / 2)), 0.7) for sx in (-1, 1) for sy in (-1, 1)]


# --- furniture standing on the floor -------------------------------------------------------------

def chair(k: Kit) -> Model:
    w, d, sh, bh = k.u(0.42, 0.52), k.u(0.42, 0.52), k.u(0.42, 0.48), k.u(0.35, 0.5)
    t, leg = 0.04, k.u(0.03, 0.045)
    parts = _legs(k, w, d, sh - t, leg, 0.0)
    parts.append(Part(k.box((w, d, t), (0, 0, sh - t / 2))))
    for sx in (-1, 1):  # back posts continue the rear legs
        parts.append(Part(k.box((leg, leg, bh), (sx * (w - leg) / 2, -(d - leg) / 2, sh + bh / 2)), 0.7))
    rail = bh * k.u(0.4, 0.6)
    parts.append(Part(k.box((w - 2 * leg, 0.025, rail), (0, -(d - leg) / 2, sh + bh - rail / 2))))
    return Model("chair", tuple(parts))


def stool(k: Kit) -> Model:
    r, h, t = k.u(0.15, 0.2), k.u(0.45, 0.7), 0.04
    parts = [Part(k.cylinder(r, t, (0, 0, h - t / 2)))]
    for a in np.arange(4) * np.pi / 2 + np.pi / 4:
        parts.append(Part(k.cylinder(0.015, h - t, (0.7 * r * np.cos(a), 0.7 * r * np.sin(a), (h - t) / 2)), 0.6))
    return Model("stool", tuple(parts))


def _table(k: Kit, w: float, d: float, h: float) -> Model:
    t, leg = k.u(0.03, 0.05), k.u(0.04, 0.07)
    parts = _legs(k, w, d, h - t, leg, k.u(0.02, 0.08))
    parts.append(Part(k.box((w, d, t), (0, 0, h - t / 2))))
    return Model("table", tuple(parts), (Surface(h, (-w / 2, w / 2), (-d / 2, d / 2), OPEN_CLEARANCE),))


def dining_table(k: Kit) -> Model:
    return _table(k, k.u(1.0, 1.8), k.u(0.7, 1.0), k.u(0.72, 0.78))


def coffee_table(k: Kit) -> Model:
    return _table(k, k.u(0.8, 1.2), k.u(0.45, 0.6), k.u(0.38, 0.48))


def desk(k: Kit) -> Model:
    w, d, h, t = k.u(1.1, 1.6), k.u(0.6, 0.75), k.u(0.72, 0.76), 0.03
    side, drawer_w = 0.025, k.u(0.35, 0.45)
    parts = [Part(k.box((w, d, t), (0, 0, h - t / 2))),
             Part(k.box((side, d, h - t), (-(w - side) / 2, 0, (h - t) / 2)), 0.8),
             Part(k.box((drawer_w, d - 0.02, h - t), ((w - drawer_w) / 2, -0.01, (h - t) / 2)), 0.85),
             Part(k.box((w - side - drawer_w, 0.02, 0.3), ((side - drawer_w) / 2, -d / 2 + 0.05, h - t - 0.15)), 0.8)]
    n_drawers = 3
    dh = (h - t - 0.06) / n_drawers
    for i in range(n_drawers):  # drawer fronts and handles on the +y face of the drawer block
        z = 0.03 + dh * (i + 0.5)
        parts.append(Part(k.box((drawer_w - 0.03, 0.015, dh - 0.02), ((w - drawer_w) / 2, d / 2 - 0.0125, z)), 1.1))
        parts.append(Part(k.box((0.1, 0.02, 0.015), ((w - drawer_w) / 2, d / 2 + 0.005, z)), color=METAL))
    return Model("desk", tuple(parts), (Surface(h, (-w / 2, w / 2), (-d / 2, d / 2), OPEN_CLEARANCE),))


def sofa(k: Kit) -> Model:
    w, d, sh, th = k.u(1.6, 2.3), k.u(0.8, 0.95), k.u(0.4, 0.46), k.u(0.75, 0.9)
    arm, arm_h, back_d, foot = k.u(0.12, 0.2), k.u(0.55, 0.65), k.u(0.15, 0.22), 0.08
    cushion = 0.12
    inner = w - 2 * arm
    parts = [Part(k.box((inner, d - back_d, sh - cushion - foot), (0, back_d / 2, (sh - cushion + foot) / 2)), 0.8),
             Part(k.box((w, back_d, th - foot), (0, -(d - back_d) / 2, (th + foot) / 2)))]
    for sx in (-1, 1):
        parts.append(Part(k.box((arm, d, arm_h - foot), (sx * (w - arm) / 2, 0, (arm_h + foot) / 2))))
    n_cushions = 2 if inner < 1.6 else 3
    cw = inner / n_cushions
    for i in range(n_cushions):  # separate seat cushions with thin gaps between them
        x = -inner / 2 + cw * (i + 0.5)
        parts.append(Part(k.box((cw - 0.01, d - back_d, cushion), (x, back_d / 2, sh - cushion / 2)), 1.1))
    parts += [Part(k.cylinder(0.025, foot, (sx * (w / 2 - 0.06), sy * (d / 2 - 0.06), foot / 2)), 0.4)
              for sx in (-1, 1) for sy in (-1, 1)]
    seat = Surface(sh, (-inner / 2, inner / 2), (-d / 2 + back_d, d / 2), th - sh + OPEN_CLEARANCE)
    return Model("sofa", tuple(parts), (seat,))


def bed(k: Kit) -> Model:
    w, d, fh, mt = k.u(1.4, 1.8), k.u(1.95, 2.1), k.u(0.25, 0.35), k.u(0.2, 0.28)
    head_h, head_t, foot = k.u(0.9, 1.2), 0.06, 0.1
    parts = [Part(k.box((w, d - head_t, fh - foot), (0, head_t / 2, (fh + foot) / 2))),
             Part(k.box((w - 0.04, d - head_t - 0.04, mt), (0, head_t / 2, fh + mt / 2)), color=MATTRESS),
             Part(k.box((w + 0.04, head_t, head_h), (0, -(d - head_t) / 2, head_h / 2)), 0.85)]
    for sx in (-1, 1):  # feet at the foot end; the headboard carries the head end
        parts.append(Part(k.box((0.06, 0.06, foot), (sx * (w / 2 - 0.03), d / 2 - 0.03, foot / 2)), 0.6))
    top = fh + mt
    surface = Surface(top, (-(w - 0.04) / 2, (w - 0.04) / 2), (-(d - head_t) / 2 + head_t / 2 + 0.02, d / 2 - 0.02),
                      OPEN_CLEARANCE)
    return Model("bed", tuple(parts), (surface,))


def cabinet(k: Kit) -> Model:
    w, d, h, plinth = k.u(0.6, 1.4), k.u(0.4, 0.55), k.u(0.6, 1.0), 0.08
    parts = [Part(k.box((w, d - 0.02, h - plinth), (0, -0.01, (h + plinth) / 2))),
             Part(k.box((w - 0.06, d - 0.08, plinth), (0, -0.04, plinth / 2)), 0.5)]
    n_doors = 1 if w < 0.8 else 2
    dw = w / n_doors
    for i in range(n_doors):
        x = -w / 2 + dw * (i + 0.5)
        parts.append(Part(k.box((dw - 0.012, 0.02, h - plinth - 0.02), (x, d / 2 - 0.01, (h + plinth) / 2)), 1.1))
        hx = x + (dw / 2 - 0.06) * (1 if i == 0 and n_doors == 2 else -1)
        parts.append(Part(k.box((0.02, 0.025, 0.12), (hx, d / 2 + 0.0125, h - 0.15)), color=METAL))
    return Model("cabinet", tuple(parts), (Surface(h, (-w / 2, w / 2), (-d / 2, d / 2 - 0.02), OPEN_CLEARANCE),))


def shelf(k: Kit) -> Model:
    """An open bookshelf: two sides, a back and ``n`` boards; every board but the top is a surface."""
    w, d, h = k.u(0.8, 1.2), k.u(0.28, 0.38), k.u(1.5, 2.0)
    side, board, back = 0.025, 0.02, 0.01
    n = int(k.rng.integers(4, 6))
    parts = [Part(k.box((side, d, h), (sx * (w - side) / 2, 0, h / 2))) for sx in (-1, 1)]
    parts.append(Part(k.box((w - 2 * side, back, h), (0, -(d - back) / 2, h / 2)), 0.8))
    levels = np.linspace(0.06, h - board, n)
    surfaces = []
    inner = w / 2 - side
    for i, z in enumerate(levels):
        parts.append(Part(k.box((w - 2 * side, d - back, board), (0, back / 2, z + board / 2)), 1.05))
        top = z + board
        gap = (levels[i + 1] - top) if i + 1 < n else OPEN_CLEARANCE
        surfaces.append(Surface(top, (-inner, inner), (-d / 2 + back, d / 2), gap))
    return Model("shelf", tuple(parts), tuple(surfaces))


def nightstand(k: Kit) -> Model:
    w, d, h = k.u(0.4, 0.55), k.u(0.35, 0.45), k.u(0.5, 0.62)
    parts = [Part(k.box((w, d - 0.02, h - 0.05), (0, -0.01, (h + 0.05) / 2)))]
    parts += _legs(k, w, d - 0.02, 0.05, 0.04, 0.01)
    parts.append(Part(k.box((w - 0.04, 0.02, (h - 0.05) * 0.4), (0, d / 2 - 0.01, h - (h - 0.05) * 0.25)), 1.15))
    parts.append(Part(k.box((0.08, 0.02, 0.015), (0, d / 2 + 0.01, h - (h - 0.05) * 0.25)), color=METAL))
    return Model("nightstand", tuple(parts), (Surface(h, (-w / 2, w / 2), (-d / 2, d / 2 - 0.02), OPEN_CLEARANCE),))


def trash_can(k: Kit) -> Model:
    r, h = k.u(0.12, 0.18), k.u(0.3, 0.45)
    return Model("trash can", (Part(k.tube(r - 0.008, r, h, (0, 0, h / 2))),
                               Part(k.cylinder(r - 0.008, 0.01, (0, 0, 0.005)), 0.7),
                               Part(k.tube(r, r + 0.01, 0.03, (0, 0, h - 0.015)), 0.6)))


def _box(k: Kit, w: float, d: float, h: float) -> Model:
    tape = Part(k.box((0.05, d + 0.002, 0.002), (0, 0, h + 0.001)), color=(0.85, 0.8, 0.65))
    return Model("box", (Part(k.box((w, d, h), (0, 0, h / 2))), tape),
                 (Surface(h + 0.002, (-w / 2, w / 2), (-d / 2, d / 2), OPEN_CLEARANCE),))


def floor_box(k: Kit) -> Model:
    return _box(k, k.u(0.3, 0.6), k.u(0.25, 0.5), k.u(0.2, 0.45))


def small_box(k: Kit) -> Model:
    return _box(k, k.u(0.12, 0.3), k.u(0.1, 0.25), k.u(0.06, 0.2))


def backpack(k: Kit) -> Model:
    w, d, h = k.u(0.28, 0.34), k.u(0.14, 0.2), k.u(0.38, 0.48)
    body = h * 0.85
    parts = [Part(k.box((w, d, body), (0, 0, body / 2))),
             Part(k.ellipsoid((w / 2, d / 2, h - body), (0, 0, body)), 1.0),
             Part(k.box((w * 0.8, d * 0.35, h * 0.45), (0, d / 2 + d * 0.175, h * 0.25)), 0.8)]
    for sx in (-1, 1):  # straps on the back (-y)
        parts.append(Part(k.box((0.05, 0.02, body * 0.8), (sx * w * 0.25, -d / 2 - 0.01, body * 0.5)), 0.5))
    return Model("backpack", tuple(parts))


def plant(k: Kit, pot_r: float, pot_h: float, crown: float) -> Model:
    parts = [Part(k.cylinder(pot_r, pot_h, (0, 0, pot_h / 2))),
             Part(k.cylinder(pot_r * 0.92, 0.01, (0, 0, pot_h + 0.005)), color=SOIL),
             Part(k.cylinder(pot_r * 0.12, crown * 0.6, (0, 0, pot_h + crown * 0.3)), color=(0.3, 0.4, 0.2))]
    n = int(k.rng.integers(3, 7))
    for _ in range(n):  # leaf clusters around the top of the stem
        a = k.u(0, 2 * np.pi)
        rad = crown * k.u(0.1, 0.35)
        size = crown * k.u(0.2, 0.35)
        z = pot_h + crown * k.u(0.45, 1.0) - size
        parts.append(Part(k.ellipsoid((size, size, size * 0.8), (rad * np.cos(a), rad * np.sin(a), max(z, pot_h + size))),
                          color=tuple(np.clip(np.array(FOLIAGE) * k.u(0.8, 1.25), 0, 1))))
    return Model("plant", tuple(parts))


def floor_plant(k: Kit) -> Model:
    return plant(k, k.u(0.13, 0.22), k.u(0.25, 0.4), k.u(0.6, 1.1))


def table_plant(k: Kit) -> Model:
    return plant(k, k.u(0.05, 0.08), k.u(0.07, 0.12), k.u(0.12, 0.25))


def lamp(k: Kit, base_r: float, pole: float, shade_r: float, shade_h: float) -> Model:
    base_h = 0.025
    parts = [Part(k.cylinder(base_r, base_h, (0, 0, base_h / 2)), 0.6),
             Part(k.cylinder(0.012, pole, (0, 0, base_h + pole / 2)), color=METAL),
             Part(k.tube(shade_r - 0.004, shade_r, shade_h, (0, 0, base_h + pole + shade_h / 2 - 0.02)))]
    return Model("lamp", tuple(parts))


def floor_lamp(k: Kit) -> Model:
    return lamp(k, k.u(0.12, 0.16), k.u(1.2, 1.5), k.u(0.15, 0.22), k.u(0.2, 0.3))


def table_lamp(k: Kit) -> Model:
    return lamp(k, k.u(0.06, 0.09), k.u(0.22, 0.38), k.u(0.09, 0.14), k.u(0.1, 0.16))


def container(k: Kit) -> Model:
    """An open bin: bottom and four walls, so its inside is visible from above."""
    w, d, h, t = k.u(0.15, 0.4), k.u(0.12, 0.3), k.u(0.08, 0.25), 0.008
    parts = [Part(k.box((w, d, t), (0, 0, t / 2)), 0.8)]
    for sy in (-1, 1):
        parts.append(Part(k.box((w, t, h), (0, sy * (d - t) / 2, h / 2))))
    for sx in (-1, 1):
        parts.append(Part(k.box((t, d - 2 * t, h), (sx * (w - t) / 2, 0, h / 2))))
    return Model("container", tuple(parts))


# --- objects standing on surfaces ----------------------------------------------------------------

def _display(k: Kit, label: str, w: float, h: float, neck: float, base: tuple[float, float]) -> Model:
    """A screen on a neck and a foot (tv, monitor); the screen faces +y."""
    t, base_t = k.u(0.03, 0.06), 0.015
    z0 = base_t + neck
    parts = [Part(k.box((base[0], base[1], base_t), (0, 0, base_t / 2)), 0.8),
             Part(k.box((0.05, 0.03, neck + h * 0.3), (0, -0.02, base_t + (neck + h * 0.3) / 2)), 0.8),
             Part(k.box((w, t, h), (0, 0, z0 + h / 2))),
             Part(k.box((w - 0.03, 0.004, h - 0.03), (0, t / 2 + 0.002, z0 + h / 2)), color=SCREEN)]
    return Model(label, tuple(parts))


def tv(k: Kit) -> Model:
    w = k.u(0.6, 1.1)
    return _display(k, "tv", w, w * 9 / 16, k.u(0.04, 0.1), (w * 0.4, 0.22))


def monitor(k: Kit) -> Model:
    w = k.u(0.48, 0.7)
    return _display(k, "monitor", w, w * k.u(0.55, 0.62), k.u(0.08, 0.15), (0.22, 0.18))


def laptop(k: Kit) -> Model:
    """A base with a keyboard area and a screen hinged at the back edge, opened 100-120 degrees."""
    w, d, t = k.u(0.3, 0.38), k.u(0.21, 0.25), 0.018
    tilt = np.deg2rad(k.u(10, 30))
    screen = k.box((w, 0.008, d), (0, 0, 0), rotation=_rot_x(tilt))
    # rotate about the screen's own centre, then move its lower edge onto the hinge
    lower_edge = _rot_x(tilt) @ np.array([0, 0, -d / 2])
    screen.apply_translation(np.array([0, -d / 2 + 0.004, t]) - lower_edge)
    parts = [Part(k.box((w, d, t), (0, 0, t / 2))),
             Part(k.box((w - 0.04, d * 0.45, 0.002), (0, -d * 0.1, t + 0.001)), color=SCREEN),
             Part(screen, 0.9)]
    return Model("laptop", tuple(parts))


def keyboard(k: Kit) -> Model:
    w, d, t = k.u(0.4, 0.46), k.u(0.12, 0.16), k.u(0.02, 0.03)
    return Model("keyboard", (Part(k.box((w, d, t), (0, 0, t / 2))),
                              Part(k.box((w - 0.03, d - 0.03, 0.008), (0, 0, t + 0.004)), 0.6)))


def mouse(k: Kit) -> Model:
    w, length, h = k.u(0.055, 0.07), k.u(0.095, 0.12), k.u(0.03, 0.04)
    return Model("mouse", (Part(k.box((w, length, h / 2), (0, 0, h / 4))),
                           Part(k.ellipsoid((w / 2, length / 2, h / 2), (0, 0, h / 2)), 1.1)))


def upright_book(k: Kit) -> Model:
    t, d, h = k.u(0.015, 0.06), k.u(0.13, 0.2), k.u(0.17, 0.3)
    return Model("book", (Part(k.box((t, d, h), (0, 0, h / 2))),))


def flat_book(k: Kit) -> Model:
    w, d, t = k.u(0.15, 0.3), k.u(0.12, 0.22), k.u(0.015, 0.05)
    return Model("book", (Part(k.box((w, d, t), (0, 0, t / 2))),))


def cup(k: Kit) -> Model:
    r, h = k.u(0.035, 0.05), k.u(0.08, 0.12)
    parts = [Part(k.tube(r - 0.004, r, h, (0, 0, h / 2))), Part(k.cylinder(r - 0.004, 0.006, (0, 0, 0.003)))]
    parts.append(Part(k.box((0.01, 0.012, h * 0.55), (r + 0.018, 0, h / 2))))
    for z in (h * 0.25, h * 0.75):  # the handle's two arms
        parts.append(Part(k.box((0.02, 0.012, 0.01), (r + 0.007, 0, z))))
    return Model("cup", tuple(parts))


def bottle(k: Kit) -> Model:
    r, h = k.u(0.03, 0.045), k.u(0.2, 0.32)
    body, neck = h * 0.65, h * 0.25
    return Model("bottle", (Part(k.cylinder(r, body, (0, 0, body / 2))),
                            Part(k.cylinder(r * 0.4, neck, (0, 0, body + neck / 2)), 0.9),
                            Part(k.cylinder(r * 0.45, h - body - neck, (0, 0, h - (h - body - neck) / 2)), color=PAPER)))


def bowl(k: Kit) -> Model:
    r, h = k.u(0.07, 0.12), k.u(0.05, 0.08)
    return Model("bowl", (Part(k.tube(r - 0.006, r, h, (0, 0, h / 2))),
                          Part(k.cylinder(r - 0.006, 0.008, (0, 0, 0.004)), 0.85)))


def vase(k: Kit) -> Model:
    r, h = k.u(0.05, 0.09), k.u(0.2, 0.4)
    body = h * 0.7
    return Model("vase", (Part(k.cylinder(r, body, (0, 0, body / 2))),
                          Part(k.tube(r * 0.4, r * 0.55, h - body, (0, 0, body + (h - body) / 2)), 0.9)))


def towel(k: Kit) -> Model:
    w, d, t = k.u(0.25, 0.4), k.u(0.15, 0.25), k.u(0.03, 0.06)
    return Model("towel", (Part(k.box((w, d, t * 0.6), (0, 0, t * 0.3))),
                           Part(k.box((w * 0.95, d * 0.9, t * 0.4), (0, -d * 0.04, t * 0.8)), 1.1)))


def printer(k: Kit) -> Model:
    """A body with a scanner lid, a paper tray sloping up at the back and an output tray at the front."""
    w, d, h = k.u(0.38, 0.48), k.u(0.3, 0.38), k.u(0.15, 0.25)
    tilt, tray = np.deg2rad(k.u(15, 30)), 0.14
    paper = k.box((w * 0.7, 0.006, tray), (0, 0, 0), rotation=_rot_x(tilt))
    paper.apply_translation((0, -d / 2 + 0.01 - tray * np.sin(tilt) / 2, h + tray * np.cos(tilt) / 2))
    parts = [Part(k.box((w, d, h * 0.85), (0, 0, h * 0.425))),
             Part(k.box((w, d * 0.9, h * 0.15), (0, -d * 0.05, h * 0.925)), 0.85),
             Part(k.box((w * 0.6, 0.06, 0.008), (0, d / 2 + 0.03, h * 0.35)), 0.7),
             Part(k.box((0.12, 0.01, 0.04), (w * 0.3, d / 2 + 0.005, h * 0.7)), color=SCREEN),
             Part(paper, color=PAPER)]
    return Model("printer", tuple(parts))


def pillow(k: Kit, w: float, d: float, h: float) -> Model:
    body = Part(k.box((w, d, h), (0, 0, h / 2)))
    seam = Part(k.box((w * 0.9, d * 1.02, h * 0.08), (0, 0, h / 2)), 0.85)  # a piping band around the middle
    return Model("pillow", (body, seam))


def upright_pillow(k: Kit) -> Model:
    return pillow(k, k.u(0.38, 0.5), k.u(0.12, 0.18), k.u(0.35, 0.45))


def flat_pillow(k: Kit) -> Model:
    return pillow(k, k.u(0.5, 0.7), k.u(0.35, 0.45), k.u(0.1, 0.15))


# --- wall items: back at the lowest y, hung on a wall ---------------------------------------------

def picture(k: Kit) -> Model:
    w, h, t, bar = k.u(0.35, 0.9), k.u(0.3, 0.7), 0.03, k.u(0.025, 0.05)
    canvas = tuple(float(c) for c in k.rng.uniform(0.2, 0.95, size=3))
    parts = [Part(k.box((w - 2 * bar, t * 0.4, h - 2 * bar), (0, t * 0.2, h / 2)), color=canvas)]
    for sz in (-1, 1):
        parts.append(Part(k.box((w, t, bar), (0, t / 2, h / 2 + sz * (h - bar) / 2))))
    for sx in (-1, 1):
        parts.append(Part(k.box((bar, t, h - 2 * bar), (sx * (w - bar) / 2, t / 2, h / 2))))
    return Model("picture", tuple(parts))


def clock(k: Kit) -> Model:
    r, t = k.u(0.12, 0.2), 0.04
    parts = [Part(k.cylinder(r, t, (0, t / 2, r), axis="y")),
             Part(k.cylinder(r * 0.88, 0.004, (0, t + 0.002, r), axis="y"), color=PAPER),
             Part(k.box((0.012, 0.004, r * 0.75), (0, t + 0.006, r + r * 0.33)), color=SCREEN),
             Part(k.box((r * 0.55, 0.004, 0.012), (r * 0.25, t + 0.008, r)), color=SCREEN)]
    return Model("clock", tuple(parts))


Builder = Callable[[Kit], Model]

# Named variants (one category may have several: a book upright on a shelf or flat on a table).
VARIANTS: dict[str, Builder] = {
    "chair": chair, "stool": stool, "dining_table": dining_table, "coffee_table": coffee_table, "desk": desk,
    "sofa": sofa, "bed": bed, "cabinet": cabinet, "shelf": shelf, "nightstand": nightstand,
    "trash_can": trash_can, "floor_box": floor_box, "small_box": small_box, "backpack": backpack,
    "floor_plant": floor_plant, "table_plant": table_plant, "floor_lamp": floor_lamp, "table_lamp": table_lamp,
    "container": container, "tv": tv, "monitor": monitor, "laptop": laptop, "keyboard": keyboard,
    "mouse": mouse, "upright_book": upright_book, "flat_book": flat_book, "cup": cup, "bottle": bottle,
    "bowl": bowl, "vase": vase, "towel": towel, "printer": printer, "upright_pillow": upright_pillow,
    "flat_pillow": flat_pillow, "picture": picture, "clock": clock,
}


def build(variant: str, rng: np.random.Generator, sections: int) -> Model:
    return VARIANTS[variant](Kit(rng, sections))
