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
from rgbd_tracker_ros.tracking.depth_dcf.distractors import (
    Candidate,
    DistractorGates,
    DistractorMemory,
    local_peaks,
)
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
    """Renders the card (and optionally its twin and an occluding board) over a fixed wall.

    The twin is a look-alike: the card's texture with its hue turned by 12 degrees.
    """

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.wall = smooth_texture(rng, HEIGHT, WIDTH, blur=4.0)
        self.card = block_texture(rng, 6, 256)
        self.board = smooth_texture(rng, 256, 256, blur=2.0)
        hsv = cv2.cvtColor(self.card, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0].astype(np.int32) + 6) % 180
        self.twin = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)

    def frame(
        self,
        card: Card | None,
        board_box: tuple[int, int, int, int] | None = None,
        with_depth: bool = True,
        twin: Card | None = None,
    ) -> Frame:
        color = self.wall.copy()
        depth = np.full((HEIGHT, WIDTH), WALL_DEPTH, np.float32)
        cards = [(c, t) for c, t in ((card, self.card), (twin, self.twin)) if c is not None]
        for placed, texture in sorted(cards, key=lambda pair: -pair[0].depth):
            self._paste(color, depth, texture, placed.box, placed.depth)
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
    # Gone 35 frames (1.2 s), so the depth check allows the move (1 m/s).
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


def test_does_not_slide_onto_a_lookalike_crossing_in_front(
    scene: Scene, tracker: DepthDCFTracker
) -> None:
    # The card's twin (same print, hue turned a little) walks across in front of it, 0.4 m
    # nearer, hiding its lower two thirds for about 25 frames. The twin, seen beside the card
    # before, is no card that came nearer: the box must never be reported on it.
    card = Card((80.0, 55.0))

    def twin_at(step: int) -> Card:
        return Card((150.0 - 2.0 * step, 67.0), depth=1.1)

    tracker.initialize(scene.frame(card, twin=twin_at(0)), card.box)
    for step in range(1, 71):
        twin = twin_at(step)
        result = tracker.track(scene.frame(card, twin=twin))
        if result.state != TrackerState.LOST:
            assert centre_error(result.box_xywh, card) < 0.25 * card.size, step
    assert twin.box[0] + twin.box[2] < card.box[0], "the twin must have passed"
    for _ in range(10):
        result = tracker.track(scene.frame(card, twin=twin))
    assert result.state == TrackerState.TRACKING
    assert centre_error(result.box_xywh, card) < 3.0


def test_does_not_redetect_a_lookalike_waiting_where_the_target_left(
    scene: Scene, tracker: DepthDCFTracker
) -> None:
    # The card leaves the view to the right past its twin, which stands 0.3 m behind near the
    # edge; while the card is away the twin must not be taken for it. The card comes back
    # 0.3 m nearer after a second: it must be found again, and not the twin.
    twin = Card((128.0, 62.0), depth=1.8)
    path = [Card((70.0 + 2.0 * i, 60.0)) for i in range(20)]
    path += [Card((110.0 + 6.0 * i, 60.0)) for i in range(1, 12)]
    tracker.initialize(scene.frame(path[0], twin=twin), path[0].box)
    for card in path[1:]:
        tracker.track(scene.frame(card, twin=twin))
    assert path[-1].box[0] > WIDTH, "the card must have left the view"
    for step in range(30):
        result = tracker.track(scene.frame(None, twin=twin))
        assert result.state != TrackerState.TRACKING, step
    back = Card((40.0, 60.0), depth=1.2)
    states = []
    for _ in range(15):
        result = tracker.track(scene.frame(back, twin=twin))
        states.append(result.state)
        if result.state == TrackerState.TRACKING:
            assert centre_error(result.box_xywh, back) < 0.25 * back.size
    assert result.state == TrackerState.TRACKING
    assert centre_error(result.box_xywh, back) < 3.0


def dimmed(frame: Frame, level: float, noise: float, rng: np.random.Generator) -> Frame:
    """``frame`` in a dim light: brightness times ``level`` plus sensor noise (grey levels)."""
    color = frame.color.astype(np.float32) * level + rng.normal(0.0, noise, frame.color.shape)
    return Frame(color=np.clip(color + 0.5, 0, 255).astype(np.uint8), depth=frame.depth)


def test_keeps_the_target_when_the_light_drops(scene: Scene, tracker: DepthDCFTracker) -> None:
    # The light drops within two frames to a fifth, with the noise of a camera's gain in the
    # dark, while the card keeps moving; then it comes back. The box must stay on the card.
    rng = np.random.default_rng(3)
    path = [Card((50.0 + 1.5 * i, 50.0 + 0.5 * i)) for i in range(50)]
    levels = [1.0] * 10 + [0.6] + [0.2] * 28 + [0.6] + [1.0] * 10
    tracker.initialize(scene.frame(path[0]), path[0].box)
    for card, level in zip(path[1:], levels[1:], strict=True):
        result = tracker.track(dimmed(scene.frame(card), level, 10.0 * (1.0 - level), rng))
        assert result.state != TrackerState.LOST
        assert centre_error(result.box_xywh, card) < 4.0
    assert result.state == TrackerState.TRACKING


def test_keeps_the_target_through_camera_shake(scene: Scene, tracker: DepthDCFTracker) -> None:
    # A shaking camera: the view jumps a few pixels sideways each frame and is smeared by a
    # short horizontal motion blur for 20 frames. The box must stay on the card.
    path = [Card((60.0 + 1.0 * i, 60.0)) for i in range(45)]
    kernel = np.zeros((1, 9), np.float32)
    kernel[0, :] = 1.0 / 9.0
    tracker.initialize(scene.frame(path[0]), path[0].box)
    for step, card in enumerate(path[1:], start=1):
        shaking = 10 <= step < 30
        if shaking:
            card = Card((card.centre[0] + 4.0 * (-1) ** step, card.centre[1]))
        frame = scene.frame(card)
        if shaking:
            frame = Frame(color=cv2.filter2D(frame.color, -1, kernel), depth=frame.depth)
        result = tracker.track(frame)
        assert result.state != TrackerState.LOST
        assert centre_error(result.box_xywh, card) < 4.0
    assert result.state == TrackerState.TRACKING


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


def test_local_peaks_are_ordered_apart_and_wrap_when_circular() -> None:
    rows, cols = torch.meshgrid(torch.arange(20.0), torch.arange(20.0), indexing="ij")

    def bump(row: float, col: float, height: float) -> torch.Tensor:
        return height * torch.exp(-((rows - row) ** 2 + (cols - col) ** 2) / 4.0)

    scores = bump(5, 5, 1.0) + bump(5, 14, 0.6) + bump(15, 10, 0.3) + bump(6, 7, 0.5)
    peaks = local_peaks(scores, floor=0.2, separation=4.0, count=5, circular=False)
    assert [(r, c) for r, c, _ in peaks] == [(5, 5), (5, 14), (15, 10)]  # (6, 7) is too near
    values = [round(v, 2) for _, _, v in peaks]
    assert values[0] > 1.0 and values[1:] == [0.6, 0.3]
    assert len(local_peaks(scores, floor=0.5, separation=4.0, count=5, circular=False)) == 2
    # Across the edge of a circular map, (0, 0) and (19, 19) are neighbours.
    wrapped = bump(0, 0, 1.0) + bump(19, 19, 0.9) + bump(10, 10, 0.5)
    found = local_peaks(wrapped, floor=0.2, separation=3.0, count=5, circular=True)
    assert [(r, c) for r, c, _ in found] == [(0, 0), (10, 10)]


def test_distractor_memory_matches_by_place_and_depth_and_forgets() -> None:
    gates = DistractorGates(
        radius=0.5,
        speed=0.2,
        depth_margin_m=0.15,
        depth_speed_m=0.03,
        growth_frames=10,
        memory_frames=100,
        depth_weight=2.0,
    )
    memory = DistractorMemory(gates)
    memory.observe([Candidate(100.0, 50.0, 2.0, 0.5)], frame=1, target_size=40.0)
    assert memory.match(Candidate(110.0, 50.0, 2.05, 0.5), frame=1, target_size=40.0)
    assert memory.match(Candidate(110.0, 50.0, 2.4, 0.5), frame=1, target_size=40.0) is None
    assert memory.match(Candidate(140.0, 50.0, 2.0, 0.5), frame=1, target_size=40.0) is None
    assert memory.match(Candidate(110.0, 50.0, None, 0.5), frame=1, target_size=40.0)
    # Unseen for a while it may have moved (up to growth_frames' worth), never further.
    assert memory.match(Candidate(140.0, 50.0, 2.0, 0.5), frame=6, target_size=40.0)
    assert memory.match(Candidate(210.0, 50.0, 2.0, 0.5), frame=80, target_size=40.0) is None
    # Seen again, it moves there; a second one is added; both are forgotten in time.
    memory.observe(
        [Candidate(120.0, 52.0, 2.1, 0.5), Candidate(300.0, 50.0, 3.0, 0.4)],
        frame=5,
        target_size=40.0,
    )
    assert [(i.x, i.depth, i.frame) for i in memory.items] == [(120.0, 2.1, 5), (300.0, 3.0, 5)]
    memory.observe([], frame=106, target_size=40.0)
    assert memory.items == []
