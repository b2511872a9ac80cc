"""Furniture groups that make a room look lived-in: a desk with a chair, a monitor, a keyboard and a mouse
beside it; a table with chairs around it; a sofa with pillows and a coffee table; a bed with pillows and
nightstands; a bookshelf with rows of books; and finally small objects scattered on every free surface.

Each arrangement places its anchor first and its dependants relative to it; a dependant that does not
fit is skipped. Each returns nothing: the room builder counts what stands on the floor afterwards.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..params import SyntheticParams
from .categories import Model, Surface, build
from .placement import Placed, World, pose, wall_pose, walls

PLACEMENT_TRIES = 30  # random positions tried before an object is given up
WALL_GAP = (0.01, 0.06)  # metres between a piece of furniture and the wall behind it
CHAIR_GAP = (0.03, 0.15)  # metres between a chair and the table/desk edge it faces
DINING_MARGIN = 0.6  # metres between a dining table and the walls (room for its chairs)
CHAIR_SPACING = 0.6  # metres of table edge per chair
NEIGHBOUR_GAP = (0.02, 0.08)  # metres between objects placed side by side
ROW_GAP = (0.002, 0.02)  # metres between neighbours in a row (books, pillows)
ROW_BACK_GAP = 0.005  # metres between a row and the back edge of its surface
SMALL_YAW_JITTER = 0.4  # radians: small objects turn this much either way from their support's front
WALL_ITEM_HEIGHT = (1.3, 1.9)  # metres: centre height of pictures and clocks

# What may stand on the surfaces of each support category (variant names of categories.VARIANTS).
SURFACE_ITEMS: dict[str, tuple[str, ...]] = {
    "table": ("cup", "bowl", "bottle", "vase", "table_plant", "flat_book", "laptop", "container", "small_box",
              "table_lamp"),
    "desk": ("cup", "bottle", "flat_book", "table_lamp", "table_plant", "container", "printer", "small_box"),
    "nightstand": ("table_lamp", "flat_book", "cup", "bottle", "table_plant"),
    "cabinet": ("table_plant", "vase", "small_box", "table_lamp", "flat_book", "container", "printer", "bowl"),
    "shelf": ("small_box", "vase", "container", "table_plant", "flat_book", "bowl"),
    "bed": ("towel", "flat_book", "laptop"),
    "box": ("small_box",),
}
FLOOR_SINGLES = ("trash_can", "floor_box", "backpack", "stool", "floor_plant", "floor_lamp", "container")


class Arranger:
    """Places models into a World with the scene's generator."""

    def __init__(self, world: World, rng: np.random.Generator, params: SyntheticParams):
        self.world, self.rng, self.params = world, rng, params

    def model(self, variant: str) -> Model:
        return build(variant, self.rng, self.params.cylinder_sections)

    def u(self, lo_hi: tuple[float, float]) -> float:
        return float(self.rng.uniform(*lo_hi))

    # -- floor placement --------------------------------------------------------------------------

    def against_wall(self, model: Model) -> int | None:
        width = model.bounds[1, 0] - model.bounds[0, 0]
        sides = walls(self.world.room_size)
        for _ in range(PLACEMENT_TRIES):
            wall = sides[int(self.rng.integers(len(sides)))]
            room = wall.length / 2 - width / 2
            if room < 0:
                continue
            T = wall_pose(model, wall, self.u((-room, room)), self.u(WALL_GAP))
            idx = self.world.try_add(Placed(model, T))
            if idx is not None:
                return idx
        return None

    def free_standing(self, model: Model, wall_margin: float) -> int | None:
        """Somewhere in the room, at least ``wall_margin`` from the walls, axis-aligned up to a small turn."""
        lx, ly = self.world.room_size
        half = np.abs(model.bounds).max(axis=0)[:2].max()
        for _ in range(PLACEMENT_TRIES):
            mx, my = lx / 2 - wall_margin - half, ly / 2 - wall_margin - half
            if mx < 0 or my < 0:
                return None
            yaw = int(self.rng.integers(4)) * np.pi / 2 + self.u((-0.15, 0.15))
            idx = self.world.try_add(Placed(model, pose(yaw, self.u((-mx, mx)), self.u((-my, my)), 0.0)))
            if idx is not None:
                return idx
        return None

    def relative(self, anchor: int, model: Model, x: float, y: float, yaw: float) -> int | None:
        """Stand ``model`` on the floor with its box centre at (x, y) of the anchor's frame, turned by ``yaw``."""
        centre = (model.bounds[0, :2] + model.bounds[1, :2]) / 2
        c, s = np.cos(yaw), np.sin(yaw)
        ox, oy = np.array([x, y]) - np.array([[c, -s], [s, c]]) @ centre
        return self.world.try_add(Placed(model, self.world.objects[anchor].pose @ pose(yaw, ox, oy, 0.0)))

    def facing(self, anchor: int, model: Model, side: int, offset: float, gap: float) -> int | None:
        """A chair on side ``side`` (0: +y front, 1: -y, 2: +x, 3: -x) of the anchor, facing it."""
        a_lo, a_hi = self.world.objects[anchor].model.bounds
        half = (model.bounds[1] - model.bounds[0]) / 2
        jitter = self.u((-0.15, 0.15))
        if side == 0:
            return self.relative(anchor, model, offset, a_hi[1] + gap + half[1], np.pi + jitter)
        if side == 1:
            return self.relative(anchor, model, offset, a_lo[1] - gap - half[1], jitter)
        if side == 2:
            return self.relative(anchor, model, a_hi[0] + gap + half[1], offset, np.pi / 2 + jitter)
        return self.relative(anchor, model, a_lo[0] - gap - half[1], offset, -np.pi / 2 + jitter)

    def beside(self, anchor: int, model: Model, sign: int) -> int | None:
        """Next to the anchor along its width (``sign`` +1: its +x side), backs aligned, same orientation."""
        a_lo, a_hi = self.world.objects[anchor].model.bounds
        lo, hi = model.bounds
        gap = self.u(NEIGHBOUR_GAP)
        x = a_hi[0] + gap + (hi[0] - lo[0]) / 2 if sign > 0 else a_lo[0] - gap - (hi[0] - lo[0]) / 2
        return self.relative(anchor, model, x, a_lo[1] + (hi[1] - lo[1]) / 2, 0.0)

    # -- surfaces ---------------------------------------------------------------------------------

    def on(self, support: int, surface: Surface, model: Model, cx: float, cy: float, yaw: float) -> int | None:
        """Stand ``model`` with its box centre at (cx, cy) of the surface, turned by ``yaw``."""
        centre = (model.bounds[0, :2] + model.bounds[1, :2]) / 2
        c, s = np.cos(yaw), np.sin(yaw)
        x, y = np.array([cx, cy]) - np.array([[c, -s], [s, c]]) @ centre
        return self.world.place_on(support, surface, model, float(x), float(y), yaw)

    def anywhere_on(self, support: int, surface: Surface, model: Model) -> int | None:
        for _ in range(PLACEMENT_TRIES):
            idx = self.on(support, surface, model, self.u(surface.x), self.u(surface.y),
                          self.u((-SMALL_YAW_JITTER, SMALL_YAW_JITTER)))
            if idx is not None:
                return idx
        return None

    def row_on(self, support: int, surface: Surface, variants: list[str]) -> list[int]:
        """Objects side by side along the back of a surface, from a random start a few millimetres to
        centimetres apart (books on a board, pillows on a sofa). Stops at the first one that does not fit."""
        placed = []
        x = surface.x[0] + self.u((0.0, 0.3)) * (surface.x[1] - surface.x[0])
        for variant in variants:
            model = self.model(variant)
            lo, hi = model.bounds
            w, d = hi[0] - lo[0], hi[1] - lo[1]
            idx = self.on(support, surface, model, x + w / 2, surface.y[0] + d / 2 + ROW_BACK_GAP, 0.0)
            if idx is None:
                break
            placed.append(idx)
            x += w + self.u(ROW_GAP)
        return placed


# --- the groups ----------------------------------------------------------------------------------

def workstation(a: Arranger) -> None:
    """A desk against a wall, a chair in front, a monitor with keyboard and mouse or a laptop with a mouse."""
    desk = a.against_wall(a.model("desk"))
    if desk is None:
        return
    a.facing(desk, a.model("chair"), 0, a.u((-0.15, 0.15)), a.u(CHAIR_GAP))
    top = a.world.objects[desk].model.surfaces[0]
    width = top.x[1] - top.x[0]
    cx = a.u((-0.15, 0.15)) * width
    hand = 1 if a.rng.random() < 0.8 else -1
    if a.rng.random() < 0.6:
        monitor = a.model("monitor")
        m_depth = monitor.bounds[1, 1] - monitor.bounds[0, 1]
        back = top.y[0] + m_depth / 2 + a.u((0.02, 0.08))
        if a.on(desk, top, monitor, cx, back, a.u((-0.1, 0.1))) is None:
            return
        kb = a.model("keyboard")
        kb_size = kb.bounds[1] - kb.bounds[0]
        ky = back + m_depth / 2 + a.u((0.05, 0.12)) + kb_size[1] / 2
        anchor_w = kb_size[0]
        placed = a.on(desk, top, kb, cx, ky, a.u((-0.05, 0.05)))
    else:
        laptop = a.model("laptop")
        l_size = laptop.bounds[1] - laptop.bounds[0]
        ky = a.u((top.y[0] + l_size[1] / 2 + 0.02, top.y[0] + l_size[1] / 2 + 0.15))
        anchor_w = l_size[0]
        placed = a.on(desk, top, laptop, cx, ky, a.u((-0.1, 0.1)))
    if placed is not None:
        mouse = a.model("mouse")
        mw = mouse.bounds[1, 0] - mouse.bounds[0, 0]
        a.on(desk, top, mouse, cx - hand * (anchor_w / 2 + a.u(NEIGHBOUR_GAP) + mw / 2), ky, a.u((-0.2, 0.2)))
    if a.rng.random() < 0.25:
        a.anywhere_on(desk, top, a.model("printer"))
    if a.rng.random() < 0.5:
        a.beside(desk, a.model("trash_can"), int(a.rng.choice([-1, 1])))


def dining(a: Arranger) -> None:
    """A table in the room with chairs around it (two to six, spaced along its edges)."""
    table = a.free_standing(a.model("dining_table"), DINING_MARGIN)
    if table is None:
        return
    lo, hi = a.world.objects[table].model.bounds
    slots = []
    for side, length in ((0, hi[0] - lo[0]), (1, hi[0] - lo[0]), (2, hi[1] - lo[1]), (3, hi[1] - lo[1])):
        n = int(length // CHAIR_SPACING)
        slots += [(side, (i + 0.5) * length / n - length / 2) for i in range(n)]
    order = a.rng.permutation(len(slots))
    n_chairs = int(a.rng.integers(2, min(6, len(slots)) + 1)) if len(slots) >= 2 else len(slots)
    for i in order[:n_chairs]:
        side, offset = slots[i]
        a.facing(table, a.model("chair"), side, offset, a.u(CHAIR_GAP))


def lounge(a: Arranger) -> None:
    """A sofa against a wall with pillows against its back, a coffee table in front, maybe a floor lamp."""
    sofa = a.against_wall(a.model("sofa"))
    if sofa is None:
        return
    seat = a.world.objects[sofa].model.surfaces[0]
    a.row_on(sofa, seat, ["upright_pillow"] * int(a.rng.integers(2, 5)))
    if a.rng.random() < 0.75:
        table = a.model("coffee_table")
        depth = table.bounds[1, 1] - table.bounds[0, 1]
        front = a.world.objects[sofa].model.bounds[1, 1]
        a.relative(sofa, table, a.u((-0.2, 0.2)), front + a.u((0.3, 0.5)) + depth / 2, a.u((-0.1, 0.1)))
    if a.rng.random() < 0.5:
        a.beside(sofa, a.model(str(a.rng.choice(["floor_lamp", "floor_plant"]))), int(a.rng.choice([-1, 1])))


def bedroom(a: Arranger) -> None:
    """A bed with pillows at its head and a nightstand (with a lamp) on one or both sides."""
    bed = a.against_wall(a.model("bed"))
    if bed is None:
        return
    mattress = a.world.objects[bed].model.surfaces[0]
    a.row_on(bed, mattress, ["flat_pillow"] * int(a.rng.integers(1, 3)))
    for sign in (-1, 1):
        if a.rng.random() < 0.7:
            stand = a.beside(bed, a.model("nightstand"), sign)
            if stand is not None and a.rng.random() < 0.7:
                top = a.world.objects[stand].model.surfaces[0]
                a.anywhere_on(stand, top, a.model("table_lamp"))


def bookshelf(a: Arranger) -> None:
    """An open shelf with rows of upright books on most boards."""
    shelf = a.against_wall(a.model("shelf"))
    if shelf is None:
        return
    for board in a.world.objects[shelf].model.surfaces[:-1]:
        if a.rng.random() < 0.8:
            a.row_on(shelf, board, ["upright_book"] * int(a.rng.integers(2, a.params.books_per_board_max + 1)))


def storage(a: Arranger) -> None:
    """A low cabinet against a wall, often with a tv on top facing the room."""
    cab = a.against_wall(a.model("cabinet"))
    if cab is None or a.rng.random() >= 0.5:
        return
    top = a.world.objects[cab].model.surfaces[0]
    tv = a.model("tv")
    slack = (top.x[1] - top.x[0] - (tv.bounds[1, 0] - tv.bounds[0, 0])) / 2
    for _ in range(PLACEMENT_TRIES if slack > 0 else 0):
        if a.on(cab, top, tv, a.u((-slack, slack)), (top.y[0] + top.y[1]) / 2, a.u((-0.05, 0.05))) is not None:
            break


def clutter(a: Arranger) -> None:
    """One free-standing floor object (bin, box, backpack, stool, plant, lamp), boxes sometimes stacked."""
    variant = str(a.rng.choice(FLOOR_SINGLES))
    idx = a.against_wall(a.model(variant))
    while idx is not None and variant == "floor_box" and a.rng.random() < 0.4:
        top = a.world.objects[idx].model.surfaces[0]
        idx = a.anywhere_on(idx, top, a.model("small_box"))


ARRANGEMENTS: dict[str, Callable[[Arranger], None]] = {
    "workstation": workstation, "dining": dining, "lounge": lounge, "bedroom": bedroom,
    "bookshelf": bookshelf, "storage": storage, "clutter": clutter,
}

# Room types: the first arrangement is the anchor; the rest are drawn with these weights.
ROOM_TYPES: dict[str, tuple[str, dict[str, float]]] = {
    "office": ("workstation", {"workstation": 4, "bookshelf": 2, "storage": 1, "dining": 1, "clutter": 3, "lounge": 0.5}),
    "living": ("lounge", {"lounge": 1, "storage": 2, "bookshelf": 2, "dining": 1.5, "clutter": 3, "workstation": 1}),
    "bedroom": ("bedroom", {"workstation": 1.5, "bookshelf": 1.5, "storage": 1.5, "clutter": 3, "lounge": 0.5}),
    "dining": ("dining", {"dining": 1, "storage": 2, "bookshelf": 1.5, "clutter": 3, "lounge": 1, "workstation": 1}),
}


def hang_wall_items(a: Arranger, n: int) -> None:
    """Pictures and clocks on free stretches of wall, clear of the furniture below them."""
    sides = walls(a.world.room_size)
    for _ in range(n):
        model = a.model("picture" if a.rng.random() < 0.75 else "clock")
        lo, hi = model.bounds
        for _ in range(PLACEMENT_TRIES):
            wall = sides[int(a.rng.integers(len(sides)))]
            room = wall.length / 2 - (hi[0] - lo[0]) / 2
            z = a.u(WALL_ITEM_HEIGHT) - (hi[2] - lo[2]) / 2
            if room > 0 and a.world.try_add(Placed(model, wall_pose(model, wall, a.u((-room, room)), 0.0, z))) is not None:
                break


def fill_surfaces(a: Arranger) -> None:
    """Scatter small objects on every support surface (tables, desks, cabinets, shelves, beds, boxes)."""
    for idx in range(len(a.world.objects)):
        support = a.world.objects[idx]
        items = SURFACE_ITEMS.get(support.label, ())
        for surface in support.model.surfaces if items else ():
            for _ in range(int(a.rng.integers(a.params.surface_objects_min, a.params.surface_objects_max + 1))):
                a.anywhere_on(idx, surface, a.model(str(a.rng.choice(items))))
