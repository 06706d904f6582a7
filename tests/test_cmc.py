"""Camera motion compensation (issue 10 item 4): estimate the global affine, move the states."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from orion_core.config import TrackingConfig
from orion_core.tracking import Tracker, kalman
from orion_core.tracking.cmc import CameraMotion, estimate_affine, is_significant
from orion_core.tracking.tracker import warp_boxes, warp_states
from orion_core.types import Detections

W, H = 320, 240


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Blurred noise: corners everywhere, like a real background."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (0, 0), 2.0)
    return cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX)


def test_estimate_recovers_a_known_shift_and_zoom():
    image = cv2.cvtColor(texture(W, H), cv2.COLOR_RGB2GRAY)
    truth = cv2.getRotationMatrix2D((W / 2, H / 2), 0.0, 1.03)
    truth[:, 2] += (6.0, -3.0)
    moved = cv2.warpAffine(image, truth, (W, H), borderMode=cv2.BORDER_REFLECT)
    warp = estimate_affine(image, moved)
    assert warp is not None
    np.testing.assert_allclose(warp, truth, atol=0.02 * np.abs(truth).max() + 0.3)


def test_auto_mode_applies_only_when_the_camera_moves():
    frame = texture(640, 480)
    still = CameraMotion("auto")
    assert still.update(frame) is None and still.update(frame) is None
    assert still.stats["applied"] == 0 and still.stats["estimated"] == 1
    panning = CameraMotion("auto")
    panning.update(frame)
    shifted = cv2.warpAffine(frame, np.float32([[1, 0, -12], [0, 1, 0]]), (640, 480), borderMode=cv2.BORDER_REFLECT)
    warp = panning.update(shifted)
    assert warp is not None and warp[0, 2] == pytest.approx(-12, abs=1.0)  # full-resolution pixels
    assert CameraMotion("off").update(frame) is None
    on = CameraMotion("on")
    on.update(frame)
    assert on.update(frame) is not None  # `on` applies even a (near-)identity estimate
    assert not is_significant(np.float64([[1, 0, 0.3], [0, 1, 0.2]]))


def test_warp_moves_states_like_their_boxes():
    boxes = np.array([[10.0, 20.0, 50.0, 100.0], [200.0, 50.0, 230.0, 110.0]])
    mean, cov = kalman.initiate(boxes)
    mean[:, 4] = 3.0  # moving right
    warp = np.array([[1.1, 0.0, 5.0], [0.0, 1.1, -2.0]])
    new_mean, new_cov = warp_states(mean, cov, warp)
    np.testing.assert_allclose(kalman.state_to_xyxy(new_mean), warp_boxes(boxes, warp))
    np.testing.assert_allclose(new_mean[:, 4], 3.3)  # velocity scales with the zoom
    assert np.all(np.linalg.eigvalsh(new_cov) > 0)


def panning_scene(frames: int = 80, objects: int = 5):
    """A camera swinging left and right (up to ~25 px/frame, reversing every 12 frames) over
    walkers that move slowly in the world: without compensation the Kalman prediction lags the
    swing and IoU association fails whenever it reverses. Frames are windows of one big texture
    (cv2.warpAffine shifts), objects are drawn as flat boxes."""
    world = texture(W + 400, H, seed=1)
    rng = np.random.default_rng(2)
    start = np.stack([rng.uniform(250, 450, objects), np.linspace(30, 170, objects)], axis=1)
    velocity = rng.uniform(-1.0, 1.0, (objects, 2))
    colours = rng.integers(0, 255, (objects, 3))
    for f in range(frames):
        camera_x = 200 + 120 * np.sin(2 * np.pi * f / 24)
        image = cv2.warpAffine(world, np.float32([[1, 0, -camera_x], [0, 1, 0]]), (W, H), borderMode=cv2.BORDER_REFLECT)
        centres = start + velocity * f - [camera_x, 0]
        boxes = np.concatenate([centres - [12, 25], centres + [12, 25]], axis=1)
        for box, colour in zip(boxes.round().astype(int), colours):
            cv2.rectangle(image, tuple(box[:2]), tuple(box[2:]), colour.tolist(), -1)
        visible = (boxes[:, 0] >= 0) & (boxes[:, 2] < W)
        yield f, image, boxes[visible], np.flatnonzero(visible)


def id_switches(cmc: str) -> tuple[int, int]:
    """(identity switches, tracks confirmed), motion only, camera compensated per `cmc`."""
    tracker, camera = Tracker(TrackingConfig(appearance=False, cmc=cmc)), CameraMotion(cmc)
    last: dict[int, int] = {}
    switches = 0
    for f, image, boxes, who in panning_scene():
        dets = Detections(boxes.astype(np.float32), np.full(len(boxes), 0.9, np.float32), ["person"] * len(boxes))
        for obj in tracker.update(f, dets, warp=camera.update(image)):
            truth = int(who[obj.det_index])
            if truth in last and last[truth] != obj.track_id:
                switches += 1
            last[truth] = obj.track_id
    return switches, tracker.stats["tracks_confirmed"]


def test_compensation_keeps_identities_under_a_swinging_camera():
    off_switches, off_tracks = id_switches("off")
    on_switches, on_tracks = id_switches("auto")
    assert off_switches >= 5  # the scene is hard without compensation ...
    assert on_switches <= 1 and on_tracks <= off_tracks // 2  # ... and easy with it


def test_auto_mode_follows_sentinels_on_a_still_camera_and_compensates_the_first_moving_frame():
    """A still camera is not estimated in full once still for STILL_S: a few sentinel corners are
    followed instead (renewed every RENEW_S). The first frame where they move gets the full
    estimate and its warp, so a pan that starts is compensated from its first frame (the old
    probes every 0.5 s answered up to 0.5 s late)."""
    from orion_core.tracking import cmc

    fps = 10.0
    camera = CameraMotion("auto", fps=fps)
    frame = texture(640, 480)
    still_frames = int(cmc.STILL_S * fps) + 2 * int(cmc.RENEW_S * fps)
    assert all(camera.update(frame) is None for _ in range(still_frames))
    stats = camera.stats
    assert stats["estimated"] == int(cmc.STILL_S * fps)  # until still for STILL_S; from then on none
    assert stats["sentinel_renewals"] in (2, 3)  # sentinels found once per RENEW_S, no full estimate a frame
    applied, step = [], 0
    for _ in range(5):  # the camera now pans 8 px per frame
        step += 8
        moved = cv2.warpAffine(frame, np.float32([[1, 0, -step], [0, 1, 0]]), (640, 480), borderMode=cv2.BORDER_REFLECT)
        warp = camera.update(moved)
        applied.append(warp is not None and warp[0, 2] == pytest.approx(-8, abs=1.0))
    assert all(applied)  # from the first moving frame on


@pytest.mark.parametrize("kind", ["zoom", "drift"])
def test_sentinels_see_a_zoom_about_the_centre_and_a_slow_drift(kind):
    """A zoom moves corners outwards with no mean shift; a drift under MIN_SHIFT_PX a frame adds up
    against the sentinels' reference frame. Both wake the full estimate; only the zoom (significant
    frame to frame) is applied."""
    from orion_core.tracking import cmc

    fps = 10.0
    camera = CameraMotion("auto", fps=fps)
    frame = texture(640, 480)
    for _ in range(int(cmc.STILL_S * fps) + 1):
        camera.update(frame)
    estimated = camera.stats["estimated"]
    warps = []
    for k in range(1, 4):
        if kind == "zoom":
            matrix = cv2.getRotationMatrix2D((320, 240), 0.0, 1.0 + 0.02 * k)
        else:
            matrix = np.float32([[1, 0, 0.6 * k], [0, 1, 0]])
        warps.append(camera.update(cv2.warpAffine(frame, matrix, (640, 480), borderMode=cv2.BORDER_REFLECT)))
    if kind == "zoom":
        assert warps[0] is not None and np.sqrt(np.linalg.det(warps[0][:, :2])) == pytest.approx(1.02, abs=0.005)
    else:
        assert all(w is None for w in warps)  # 0.6 px a frame: not worth compensating ...
        assert camera.stats["estimated"] > estimated  # ... but the adding-up drift was looked at in full


def test_a_large_moving_object_does_not_move_a_still_camera():
    """Corners come from outside the detections: a near, corner-rich object covering much of a
    static frame must not be read as camera motion (TUD-Stadtmitte replays: 3-7% of frames were)."""
    rng = np.random.default_rng(3)
    ground = np.full((480, 640, 3), 120, np.uint8)  # smooth ground with a few marks: weak corners
    for x, y in rng.integers(20, [620, 460], size=(40, 2)):
        cv2.circle(ground, (int(x), int(y)), 3, (90, 90, 90), -1)
    checker = ((np.indices((320, 240)).sum(axis=0) // 16) % 2 * 255).astype(np.uint8)  # strong corners
    checker = np.repeat(checker[..., None], 3, axis=2)

    def frame(x: int) -> tuple[np.ndarray, np.ndarray]:
        image = ground.copy()
        image[100:420, x:x + 240] = checker
        return image, np.array([[x, 100, x + 240, 420]], np.float32)

    unmasked, masked = CameraMotion("auto"), CameraMotion("auto")
    applied = {"unmasked": 0, "masked": 0}
    for step in range(6):
        image, boxes = frame(150 + 8 * step)  # the object walks 8 px per frame; the camera is still
        applied["unmasked"] += unmasked.update(image) is not None
        applied["masked"] += masked.update(image, boxes) is not None
    assert applied["unmasked"] >= 1  # the object's corners outvote the ground's
    assert applied["masked"] == 0 and masked.stats["estimated"] + masked.stats["failed"] == 5


def test_people_walking_over_the_sentinels_of_a_still_camera_do_not_move_it():
    """On a still camera, objects crossing the sentinel corners are outvoted (median) or make the
    sentinels be renewed; a warp is never applied."""
    from orion_core.tracking import cmc

    fps = 10.0
    background = texture(640, 480, seed=4)
    checker = ((np.indices((200, 160)).sum(axis=0) // 12) % 2 * 255).astype(np.uint8)
    camera = CameraMotion("auto", fps=fps)
    applied = 0
    for t in range(int(cmc.STILL_S * fps) + 60):
        image, boxes = background.copy(), np.zeros((0, 4), np.float32)
        if t > int(cmc.STILL_S * fps):  # two objects walk across, 9 px a frame, in opposite directions
            boxes = []
            for x, y in ((20 + 9 * (t % 50), 40), (600 - 160 - 9 * (t % 50), 250)):
                x = int(np.clip(x, 0, 480))
                image[y:y + 200, x:x + 160] = checker[..., None]
                boxes.append([x, y, x + 160, y + 200])
            boxes = np.array(boxes, np.float32)
        applied += camera.update(image, boxes) is not None
    assert applied == 0
    assert camera.stats["sentinel_renewals"] >= 2


def test_a_cut_is_reported_as_a_lost_view():
    """Two unrelated shots: the corners of the first cannot be followed into the second by one
    motion, so the tracker is told positions before and after are not comparable."""
    camera = CameraMotion("on")
    camera.update(texture(640, 480, seed=1))
    assert camera.update(texture(640, 480, seed=1)) is not None and not camera.view_lost
    camera.update(texture(640, 480, seed=2))  # the cut
    assert camera.view_lost and camera.stats["view_lost"] == 1


def test_a_run_hands_the_warps_its_tracker_applied_to_the_offline_pass(tmp_path, monkeypatch):
    """The offline pass undoes the camera with exactly the warps the online tracker applied, one a
    processed frame (identity where none was), so it smooths and fills in scene coordinates."""
    import json

    from orion_core.bench import run_orion
    from orion_core.tracking import offline
    from orion_core.video import VideoWriter

    video, det = tmp_path / "pan.mp4", tmp_path / "det.txt"
    writer = VideoWriter(video, 25.0)
    rows = []
    for f, image, boxes, who in panning_scene(frames=40):
        writer.write(image)
        rows += [f"{f + 1},-1,{b[0]:.2f},{b[1]:.2f},{b[2] - b[0]:.2f},{b[3] - b[1]:.2f},0.9,-1,-1,-1" for b in boxes]
    writer.close()
    det.write_text("\n".join(rows) + "\n")
    seen = {}
    real = offline.run_pass

    def spy(*args, **kwargs):
        seen["warps"] = kwargs.get("camera_warps", args[6] if len(args) > 6 else None)
        return real(*args, **kwargs)

    monkeypatch.setattr(offline, "run_pass", spy)
    run = run_orion(video, det, tmp_path / "out", "pan", appearance=False)
    applied = json.loads((run.tracks.parent / "run.json").read_text())["tracker"]["camera_motion"]["applied"]
    warps = seen["warps"]
    assert warps.shape == (40, 2, 3) and applied >= 30
    moved = (warps != np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])).any(axis=(1, 2))
    assert moved.sum() == applied and not moved[0]


def test_a_panning_camera_follows_its_corners_on_instead_of_finding_new_ones_each_frame(monkeypatch):
    """Corner finding is half an estimate's cost: the inliers of one estimate are followed into the
    next, and new corners are found only when too few are left. The estimates stay exact."""
    from orion_core.tracking import cmc

    found = []
    real = cv2.goodFeaturesToTrack

    def counting(*args, **kwargs):
        found.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cv2, "goodFeaturesToTrack", counting)
    world = texture(640 + 400, 480, seed=5)
    camera = CameraMotion("on")
    warps = []
    for f in range(20):  # a steady pan, 6 px a frame
        warps.append(camera.update(cv2.warpAffine(world, np.float32([[1, 0, -6 * f], [0, 1, 0]]), (640, 480))))
    assert len(found) <= 3  # the first frame's corners, and a refresh or two as they leave the view
    assert all(w is not None and w[0, 2] == pytest.approx(-6.0, abs=0.3) for w in warps[1:])
    found.clear()
    monkeypatch.setattr(cmc, "KEEP_CORNERS", False)
    camera = CameraMotion("on")
    for f in range(20):
        camera.update(cv2.warpAffine(world, np.float32([[1, 0, -6 * f], [0, 1, 0]]), (640, 480)))
    assert len(found) == 19  # without: every estimate searches
