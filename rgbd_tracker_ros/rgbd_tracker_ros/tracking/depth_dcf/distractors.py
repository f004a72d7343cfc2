"""Look-alikes of the target, remembered where they were seen, so the tracker keeps the identity.

A correlation filter responds to anything that looks like the target: a second box of the
same print, a person in the same uniform. While the target is tracked confidently, the
other peaks of the response are look-alikes (DiMP and DaSiamRPN handle distractors alike);
the memory keeps where each was last seen in the image and at which depth. A candidate that
lies where a known look-alike is, at its depth, is that look-alike, not the target, which is
what keeps the tracker from sliding onto one that crosses the target and from re-detecting
one that waits where the target left the view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Candidate:
    """A place the target's model responds to: image centre (pixels), depth (metres, None
    when unknown) and the response there."""

    x: float
    y: float
    depth: float | None
    score: float


@dataclass
class Distractor:
    """A look-alike: where it was last seen, at which depth, and on which frame."""

    x: float
    y: float
    depth: float | None
    frame: int


@dataclass(frozen=True)
class DistractorGates:
    """How near a candidate must be to a remembered look-alike to be taken for it.

    Image distance within ``radius`` target sizes plus ``speed`` target sizes per frame
    since it was seen; depth within ``depth_margin_m`` plus ``depth_speed_m`` per frame
    since. The allowances stop growing after ``growth_frames`` (one that moved on unseen
    for longer is no explanation of anything); look-alikes unseen for ``memory_frames``
    are forgotten. ``depth_weight``: how much more a depth difference counts than an image
    distance, each relative to its allowance (``mismatch``).
    """

    radius: float
    speed: float
    depth_margin_m: float
    depth_speed_m: float
    growth_frames: int
    memory_frames: int
    depth_weight: float

    def depth_allowed(self, frames: int) -> float:
        """How far (metres) a depth read ``frames`` after another may lie from it and still
        be the same object's."""
        return self.depth_margin_m + self.depth_speed_m * min(frames, self.growth_frames)

    def reach(self, frames: int) -> float:
        """How far (target sizes) an object seen ``frames`` ago may have moved in the image."""
        return self.radius + self.speed * min(frames, self.growth_frames)


def mismatch(
    candidate: Candidate,
    x: float,
    y: float,
    depth: float | None,
    reach_px: float,
    depth_allowed: float,
    depth_weight: float,
) -> float:
    """How far ``candidate`` lies from an object believed at (x, y, depth): the image
    distance over ``reach_px`` plus ``depth_weight`` times the depth difference over
    ``depth_allowed`` (no depth term when either depth is unknown)."""
    cost = math.hypot(candidate.x - x, candidate.y - y) / reach_px
    if candidate.depth is not None and depth is not None:
        cost += depth_weight * abs(candidate.depth - depth) / depth_allowed
    return cost


class DistractorMemory:
    """The look-alikes seen around the target."""

    def __init__(self, gates: DistractorGates) -> None:
        self.gates = gates
        self.items: list[Distractor] = []

    def clear(self) -> None:
        self.items = []

    def match(
        self, candidate: Candidate, frame: int, target_size: float
    ) -> tuple[Distractor, float] | None:
        """The remembered look-alike ``candidate`` fits best, and how well (``mismatch``),
        among those within both allowances; None when none is."""
        gates = self.gates
        best: tuple[Distractor, float] | None = None
        for item in self.items:
            since = max(frame - item.frame, 0)
            reach_px = target_size * gates.reach(since)
            allowed = gates.depth_allowed(since)
            if math.hypot(candidate.x - item.x, candidate.y - item.y) > reach_px:
                continue
            if (
                candidate.depth is not None
                and item.depth is not None
                and abs(candidate.depth - item.depth) > allowed
            ):
                continue
            cost = mismatch(
                candidate, item.x, item.y, item.depth, reach_px, allowed, gates.depth_weight
            )
            if best is None or cost < best[1]:
                best = (item, cost)
        return best

    def observe(self, candidates: list[Candidate], frame: int, target_size: float) -> None:
        """Remember ``candidates`` as look-alikes seen on ``frame``: each updates the one it
        matches or is added; look-alikes unseen for too long are forgotten."""
        for candidate in candidates:
            found = self.match(candidate, frame, target_size)
            if found is None:
                self.items.append(Distractor(candidate.x, candidate.y, candidate.depth, frame))
                continue
            item = found[0]
            item.x, item.y, item.frame = candidate.x, candidate.y, frame
            if candidate.depth is not None:
                item.depth = candidate.depth
        self.items = [i for i in self.items if frame - i.frame <= self.gates.memory_frames]


def local_peaks(
    scores: torch.Tensor, floor: float, separation: float, count: int, circular: bool
) -> list[tuple[int, int, float]]:
    """The ``count`` highest local maxima (row, col, value) of a 2-D map reaching ``floor``,
    each at least ``separation`` cells from every higher one. ``circular``: the map wraps
    around (a correlation response), so do neighbourhoods and distances."""
    height, width = scores.shape
    grid = scores[None, None]
    if circular:
        padded = F.pad(grid, (1, 1, 1, 1), mode="circular")
    else:
        padded = F.pad(grid, (1, 1, 1, 1), value=-math.inf)
    is_peak = (scores >= F.max_pool2d(padded, 3, stride=1)[0, 0]) & (scores >= floor)
    rows, cols = torch.nonzero(is_peak, as_tuple=True)
    values = scores[rows, cols]
    order = torch.argsort(values, descending=True)[: 8 * count]
    chosen: list[tuple[int, int, float]] = []
    for row, col, value in zip(
        rows[order].tolist(), cols[order].tolist(), values[order].tolist(), strict=True
    ):
        if all(
            _distance(row, col, r, c, height, width, circular) >= separation for r, c, _ in chosen
        ):
            chosen.append((row, col, value))
            if len(chosen) == count:
                break
    return chosen


def _distance(
    row: float, col: float, other_row: float, other_col: float, height: int, width: int, wrap: bool
) -> float:
    d_row, d_col = abs(row - other_row), abs(col - other_col)
    if wrap:
        d_row, d_col = min(d_row, height - d_row), min(d_col, width - d_col)
    return math.hypot(d_row, d_col)
