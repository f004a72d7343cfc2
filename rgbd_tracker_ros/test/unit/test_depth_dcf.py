"""Behaviour of the weight-free default tracker ``depth_dcf`` on small synthetic RGB-D scenes.

A textured card moves in front of a textured wall; depth is exact. The scenes are built here
(not with the sequence generator) so each test controls exactly one thing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
import torch

from rgbd_tracker_ros.tracking.api import Frame, Tracker, TrackerState
from rgbd_tracker_ros.tracking.depth_dcf.features import (
    FeatureSettings,
    extract_features,
    num_feature_channels,
)
from rgbd_tracker_ros.tracking.depth_dcf.filter import CorrelationFilter, wide_response
from rgbd_tracker_ros.tracking.depth_dcf.tracker import DepthDCFTracker
from rgbd_tracker_ros.tracking.registry import create_tracker, tracker_params

WIDTH, HEIGHT = 160, 120
WALL_DEPTH = 3.0
CARD_DEPTH = 1.5
CARD_SIZE = 26.0  # pixels at CARD_DEPTH


def smooth_texture(rng: np.random.Generator, height: int, width: int, blur: float) -> np.ndarray:
    noise = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), blur) * 3.0 - 255.0, 0, 255).astype(np.uint8)


def block_texture(rng: np.random.Generator, blocks: int, size: int) -> np.ndarray:
    colours = rng.integers(0, 256, (blocks, blocks, 3)).astype(np.uint8)
    return cv2.resize(colours, (size, size), interpolation=cv2.INTER_NEAREST)


@dataclass
class Card:
    """Where the card is in one frame (centre in box coordinates, depth in metres)."""

    centre: tuple[float, float]
    depth: float = CARD_DEPTH

    @property
    def size(self) -> float:
        return CARD_SIZE * CARD_DEPTH / self.depth

    @property
    def box(self) -> tuple[float, float, float, float]:
        half = self.size / 2
        return (self.centre[0] - half, self.centre[1] - half, self.size, self.size)


class Scene:
    """Renders the card (and optionally an occluding board) over a fixed wall."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.wall = smooth_texture(rng, HEIGHT, WIDTH, blur=4.0)
        self.card = block_texture(rng, 6, 256)
        self.board = smooth_texture(rng, 256, 256, blur=2.0)

    def frame(
        self,
        card: Card | None,
        board_box: tuple[int, int, int, int] | None = None,
        with_depth: bool = True,
    ) -> Frame:
        color = self.wall.copy()
        depth = np.full((HEIGHT, WIDTH), WALL_DEPTH, np.float32)
        if card is not None:
            self._paste(color, depth, self.card, card.box, card.depth)
        if board_box is not None:
            self._paste(color, depth, self.board, board_box, 1.0)
        return Frame(color=color, depth=depth if with_depth else None)

    @staticmethod
    def _paste(
        color: np.ndarray,
        depth: np.ndarray,
        texture: np.ndarray,
        box: tuple[float, float, float, float],
        distance: float,
    ) -> None:
        x, y, w, h = (round(v) for v in box)
        patch = cv2.resize(texture, (w, h), interpolation=cv2.INTER_AREA)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, WIDTH), min(y + h, HEIGHT)
        if x1 <= x0 or y1 <= y0:
            return
        color[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]
        depth[y0:y1, x0:x1] = distance


def centre_error(box: tuple[float, float, float, float], card: Card) -> float:
    x, y, w, h = box
    return math.hypot(x + w / 2 - card.centre[0], y + h / 2 - card.centre[1])


@pytest.fixture(scope="module")
def scene() -> Scene:
    return Scene()


@pytest.fixture
def tracker() -> DepthDCFTracker:
    return create_tracker("depth_dcf", {"device": "cpu"})


def test_factory_gives_a_tracker_and_refuses_unknown_parameters() -> None:
    built = create_tracker("depth_dcf", {"device": "cpu", "learning_rate": 0.05})
    assert isinstance(built, Tracker)
    assert built.name == "depth_dcf"
    assert built.params.learning_rate == 0.05
    with pytest.raises(ValueError, match="unknown parameter"):
        create_tracker("depth_dcf", {"learning_rat": 0.05})
    with pytest.raises(ValueError, match="num_scales"):
        create_tracker("depth_dcf", {"num_scales": 2})
    with pytest.raises(ValueError, match="device"):
        create_tracker("depth_dcf", {"device": "abacus"})


def test_follows_a_translating_target(scene: Scene, tracker: DepthDCFTracker) -> None:
    path = [Card((50.0 + 2.0 * i, 45.0 + 1.0 * i)) for i in range(30)]
    tracker.initialize(scene.frame(path[0]), path[0].box)
    for card in path[1:]:
        result = tracker.track(scene.frame(card))
        assert result.state == TrackerState.TRACKING
        assert centre_error(result.box_xywh, card) < 3.0
    assert result.score_map is not None
    grid = tracker.params.grid_size
    assert result.score_map.scores.shape == (grid, grid)
    mx, my, mw, mh = result.score_map.region_xywh
    assert mx < path[-1].centre[0] < mx + mw and my < path[-1].centre[1] < my + mh


def test_box_grows_when_the_target_comes_closer(scene: Scene, tracker: DepthDCFTracker) -> None:
    path = [Card((80.0, 60.0), depth=2.0 - 0.8 * i / 29) for i in range(30)]
    tracker.initialize(scene.frame(path[0]), path[0].box)
    for card in path[1:]:
        result = tracker.track(scene.frame(card))
    final_width = result.box_xywh[2]
    assert path[-1].size / path[0].size > 1.6
    assert final_width == pytest.approx(path[-1].size, rel=0.1)
    assert tracker.target is not None and tracker.target.depth == pytest.approx(1.2, rel=0.05)


def test_lost_while_out_of_view_then_found_again(scene: Scene, tracker: DepthDCFTracker) -> None:
    before, after = Card((50.0, 50.0)), Card((110.0, 75.0))
    tracker.initialize(scene.frame(before), before.box)
    for _ in range(5):
        assert tracker.track(scene.frame(before)).state == TrackerState.TRACKING

    absent_states = [tracker.track(scene.frame(None)).state for _ in range(20)]
    limit = tracker.params.uncertain_frames_to_lost + 1
    assert TrackerState.LOST in absent_states[:limit]
    first_lost = absent_states.index(TrackerState.LOST)
    assert all(state == TrackerState.LOST for state in absent_states[first_lost:])
    assert TrackerState.TRACKING not in absent_states

    found_after = None
    for index in range(30):
        result = tracker.track(scene.frame(after))
        if result.state == TrackerState.TRACKING:
            found_after = index
            break
    assert found_after is not None
    assert centre_error(result.box_xywh, after) < 4.0
    for _ in range(5):
        result = tracker.track(scene.frame(after))
    assert result.state == TrackerState.TRACKING
    assert centre_error(result.box_xywh, after) < 3.0


def test_found_again_at_the_size_its_depth_implies(scene: Scene, tracker: DepthDCFTracker) -> None:
    # The card comes back near where it left but much nearer (1.5 m -> 0.85 m, 1.76x larger):
    # beyond the fixed re-detection scale factors, so only the depth-implied size fits it.
    # Gone 35 frames, so the depth check allows the move (0.12 + 0.01 per unseen frame).
    before, after = Card((60.0, 60.0)), Card((70.0, 58.0), depth=0.85)
    tracker.initialize(scene.frame(before), before.box)
    for _ in range(5):
        tracker.track(scene.frame(before))
    for _ in range(35):
        assert tracker.track(scene.frame(None)).state != TrackerState.TRACKING

    states = []
    for _ in range(10):
        result = tracker.track(scene.frame(after))
        states.append(result.state)
    assert TrackerState.TRACKING in states[:5]
    assert result.box_xywh[2] == pytest.approx(after.size, rel=0.1)
    assert centre_error(result.box_xywh, after) < 3.0
    assert tracker.target is not None and tracker.target.depth == pytest.approx(0.85, rel=0.05)


def test_does_not_drift_onto_an_occluder(scene: Scene, tracker: DepthDCFTracker) -> None:
    card = Card((80.0, 60.0))
    board_w, board_h = 40, 70
    tracker.initialize(scene.frame(card), card.box)
    states = []
    for step in range(45):
        board_x = -board_w + 5 * step  # sweeps left to right across the card
        frame = scene.frame(card, board_box=(board_x, 25, board_w, board_h))
        result = tracker.track(frame)
        states.append(result.state)
        card_x0, card_x1 = card.box[0], card.box[0] + card.box[2]
        covered = max(0.0, min(card_x1, board_x + board_w) - max(card_x0, board_x)) / card.size
        if covered > 0.6:
            assert result.state != TrackerState.TRACKING
        if result.state != TrackerState.LOST:
            assert centre_error(result.box_xywh, card) < 0.5 * card.size
    assert TrackerState.UNCERTAIN in states or TrackerState.LOST in states
    for _ in range(15):
        result = tracker.track(scene.frame(card))
    assert result.state == TrackerState.TRACKING
    assert centre_error(result.box_xywh, card) < 3.0


def test_target_come_nearer_behind_an_occluder_is_not_its_own_occluder(
    scene: Scene, tracker: DepthDCFTracker
) -> None:
    # The card approaches (2.5 m -> 1.9 m) while a board of other colours passes in front of
    # it. The depth is held during the pass, so afterwards the card itself lies more than
    # occlusion_margin_m in front of the held depth: it must be tracked again, its depth and
    # size following it, and not stay flagged as occluded by itself.
    def card_at(step: int) -> Card:
        return Card((80.0, 60.0), depth=2.5 - 0.6 * min(max(step - 5, 0), 30) / 30)

    def board_at(step: int) -> tuple[int, int, int, int] | None:
        return (25 + 3 * step, 30, 30, 60) if 5 <= step <= 26 else None

    tracker.initialize(scene.frame(card_at(0)), card_at(0).box)
    for step in range(1, 46):
        card, board = card_at(step), board_at(step)
        result = tracker.track(scene.frame(card, board_box=board))
        if board is not None:
            card_x0, card_x1 = card.box[0], card.box[0] + card.box[2]
            covered = min(card_x1, board[0] + board[2]) - max(card_x0, board[0])
            if covered > 0.6 * card.size:
                assert result.state != TrackerState.TRACKING
    assert board_at(step) is None and card.depth == pytest.approx(1.9)
    assert result.state == TrackerState.TRACKING
    assert tracker.target is not None and tracker.target.depth == pytest.approx(1.9, rel=0.05)
    assert result.box_xywh[2] == pytest.approx(card.size, rel=0.1)
    assert centre_error(result.box_xywh, card) < 3.0


@pytest.mark.parametrize(
    "box",
    [(79.5, 59.5, 1.0, 1.0), (-10.0, -8.0, 30.0, 30.0), (-50.0, -50.0, 400.0, 300.0)],
    ids=["tiny", "border", "oversized"],
)
def test_awkward_init_boxes_are_accepted(
    scene: Scene, tracker: DepthDCFTracker, box: tuple[float, float, float, float]
) -> None:
    card = Card((80.0, 60.0))
    tracker.initialize(scene.frame(card), box)
    for _ in range(5):
        result = tracker.track(scene.frame(card))
        assert all(math.isfinite(v) for v in result.box_xywh)
        assert result.box_xywh[2] > 0 and result.box_xywh[3] > 0
        assert math.isfinite(result.score)


@pytest.mark.parametrize(
    "box", [(500.0, 500.0, 20.0, 20.0), (10.0, 10.0, 0.0, 5.0), (float("nan"), 1.0, 5.0, 5.0)]
)
def test_unusable_init_boxes_are_refused(
    scene: Scene, tracker: DepthDCFTracker, box: tuple[float, float, float, float]
) -> None:
    with pytest.raises(ValueError, match="cannot initialise"):
        tracker.initialize(scene.frame(Card((80.0, 60.0))), box)


def test_no_depth_tracks_on_colour_and_says_so_once(
    scene: Scene, tracker: DepthDCFTracker, caplog: pytest.LogCaptureFixture
) -> None:
    path = [Card((50.0 + 2.0 * i, 60.0)) for i in range(20)]
    with caplog.at_level(logging.WARNING):
        tracker.initialize(scene.frame(path[0], with_depth=False), path[0].box)
        for card in path[1:]:
            result = tracker.track(scene.frame(card, with_depth=False))
            assert result.state == TrackerState.TRACKING
    assert centre_error(result.box_xywh, path[-1]) < 3.0
    notices = [r for r in caplog.records if "colour alone" in r.getMessage()]
    assert len(notices) == 1


@pytest.mark.parametrize("fill", [0.0, float("nan"), float("inf")], ids=["zero", "nan", "inf"])
def test_all_invalid_depth_does_not_break_tracking(
    scene: Scene, tracker: DepthDCFTracker, fill: float, caplog: pytest.LogCaptureFixture
) -> None:
    path = [Card((60.0 + 2.0 * i, 60.0)) for i in range(12)]
    with caplog.at_level(logging.WARNING):
        for index, card in enumerate(path):
            frame = scene.frame(card)
            assert frame.depth is not None
            frame.depth[:] = fill
            if index == 0:
                tracker.initialize(frame, card.box)
                continue
            result = tracker.track(frame)
            assert result.state == TrackerState.TRACKING
    assert centre_error(result.box_xywh, path[-1]) < 3.0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_grey_looking_colour_is_tracked(scene: Scene, tracker: DepthDCFTracker) -> None:
    def grey(frame: Frame) -> Frame:
        luma = cv2.cvtColor(frame.color, cv2.COLOR_RGB2GRAY)
        return Frame(color=np.repeat(luma[:, :, None], 3, axis=2), depth=frame.depth)

    path = [Card((50.0 + 2.0 * i, 60.0)) for i in range(15)]
    tracker.initialize(grey(scene.frame(path[0])), path[0].box)
    for card in path[1:]:
        result = tracker.track(grey(scene.frame(card)))
        assert result.state == TrackerState.TRACKING
    assert centre_error(result.box_xywh, path[-1]) < 3.0


def test_single_channel_frames_and_wrong_depth_are_handled(
    scene: Scene, tracker: DepthDCFTracker
) -> None:
    card = Card((80.0, 60.0))
    frame = scene.frame(card)
    gray = Frame(color=frame.color[:, :, 0].copy(), depth=frame.depth)
    tracker.initialize(gray, card.box)
    assert tracker.track(gray).state == TrackerState.TRACKING

    tracker.initialize(frame, card.box)
    small_depth = Frame(color=frame.color, depth=np.ones((10, 10), np.float32))
    millimetres = Frame(color=frame.color, depth=np.full((HEIGHT, WIDTH), 1500, np.uint16))
    for bad_depth in (small_depth, millimetres):
        result = tracker.track(bad_depth)
        assert result.state == TrackerState.TRACKING
        assert centre_error(result.box_xywh, card) < 2.0
    with pytest.raises(ValueError, match="uint8"):
        tracker.track(Frame(color=frame.color.astype(np.float32)))


def test_track_before_initialize_is_idle(scene: Scene, tracker: DepthDCFTracker) -> None:
    result = tracker.track(scene.frame(Card((80.0, 60.0))))
    assert result.state == TrackerState.IDLE


def _feature_settings() -> FeatureSettings:
    return tracker_params("depth_dcf", {"device": "cpu"}).feature_settings()


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_feature_core_is_torchscript_and_matches_eager() -> None:
    settings = _feature_settings()
    grid = 16
    generator = torch.Generator().manual_seed(0)
    color = torch.rand(
        2, 3, grid * settings.cell_size, grid * settings.cell_size, generator=generator
    )
    depth = 1.0 + torch.rand(2, 1, 2 * grid, 2 * grid, generator=generator)
    depth[0, 0, :4] = 0.0
    depth[1, 0, :4] = float("nan")
    scripted = torch.jit.script(extract_features)
    for depth_input in (depth, None):
        eager = extract_features(color, depth_input, 1.5, settings)
        assert eager.shape == (2, num_feature_channels(settings), grid, grid)
        assert torch.isfinite(eager).all()
        torch.testing.assert_close(scripted(color, depth_input, 1.5, settings), eager)


def test_wide_search_agrees_with_the_filter_response() -> None:
    """The re-detection template, placed where a search patch lies, scores what the filter
    responds to that patch at zero displacement."""
    generator = torch.Generator().manual_seed(1)
    grid, channels = 16, 5
    correlation_filter = CorrelationFilter(grid, 1.5, 0.01, torch.device("cpu"))
    correlation_filter.learn(torch.rand(1, channels, grid, grid, generator=generator), 1.0)
    wide = torch.rand(channels, 40, 40, generator=generator)
    scores = wide_response(correlation_filter.spatial_template(), wide)
    assert scores.shape == (40 - grid + 1, 40 - grid + 1)
    for row, col in [(0, 0), (7, 11), (24, 24)]:
        patch = wide[:, row : row + grid, col : col + grid].unsqueeze(0)
        response = correlation_filter.respond(patch)[0, 0, 0]
        assert float(scores[row, col]) == pytest.approx(float(response), abs=1e-5)
