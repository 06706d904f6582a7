"""The synthetic generator's harder cases: look-alikes crossing, a crowd, a moving camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orion_core.errors import ConfigError
from orion_core.evaluate import read_mot_file
from orion_core.synthetic import make_scene


def boxes_of(gt, object_id: int) -> dict[int, np.ndarray]:
    keep = gt.ids == object_id
    return dict(zip(gt.frames[keep].tolist(), gt.boxes[keep]))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def frames_of(video: Path) -> list[np.ndarray]:
    from orion_core.video import open_video

    with open_video(video) as source:
        return [f.image.astype(np.float32) for f in source]


def test_lookalikes_share_a_texture_and_cross_at_the_same_depth(tmp_path: Path):
    info = make_scene(tmp_path, n_objects=6, lookalikes=True, video=False)
    a, b = info.lookalike_ids
    assert (a, b) == (4, 5) and info.textures[b] == f"{info.textures[a]}-twin"
    gt = read_mot_file(info.gt_path, "gt")
    box_a, box_b = boxes_of(gt, a), boxes_of(gt, b)
    both = sorted(set(box_a) & set(box_b))
    overlap = {f: iou(box_a[f], box_b[f]) for f in both}
    meet = max(overlap, key=overlap.get)
    assert overlap[meet] > 0.5 and abs(meet - info.frames / 2) < info.frames * 0.1  # they meet mid-clip
    assert box_a[meet][3] == pytest.approx(box_b[meet][3], rel=0.1)  # same size: same depth
    first, last = both[0], both[-1]
    assert box_a[first][0] < box_b[first][0] and box_a[last][0] > box_b[last][0]  # they swap sides
    assert min(info.visibility[(f, k)] for f in both for k in (a, b)) < 0.5  # one hides the other


def test_lookalikes_need_room_and_leave_the_default_ids_alone(tmp_path: Path):
    with pytest.raises(ConfigError, match="lookalikes 2"):
        make_scene(tmp_path, n_objects=4, lookalikes=True, video=False)
    plain = make_scene(tmp_path / "plain", n_objects=6, video=False)
    twins = make_scene(tmp_path / "twins", n_objects=6, lookalikes=True, video=False)
    gt_plain, gt_twins = read_mot_file(plain.gt_path, "gt"), read_mot_file(twins.gt_path, "gt")
    for object_id in (1, 2, 3):  # the scripted roles keep their ids and paths
        assert boxes_of(gt_plain, object_id).keys() == boxes_of(gt_twins, object_id).keys()


def test_a_crowd_of_more_than_ten(tmp_path: Path):
    info = make_scene(tmp_path, n_objects=14, video=False)
    gt = read_mot_file(info.gt_path, "gt")
    assert len(set(gt.ids.tolist())) == 14
    per_frame = np.bincount(gt.frames)
    assert per_frame.max() >= 12  # most of them at once
    with pytest.raises(ConfigError, match="n_objects must be 1..24"):
        make_scene(tmp_path, n_objects=25, video=False)


@pytest.fixture(scope="module")
def static_and_pan(tmp_path_factory):
    root = tmp_path_factory.mktemp("camera")
    kwargs = dict(frames=40, n_objects=4, textures="procedural", det_jitter=0.0, det_dropout=0.0, det_false_positives=0.0)
    return make_scene(root / "static", **kwargs), make_scene(root / "pan", camera="pan", **kwargs)


def test_pan_moves_the_background_in_the_image(static_and_pan):
    import cv2

    static, pan = (frames_of(s.video_path) for s in static_and_pan)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in pan]
    shifts = [cv2.phaseCorrelate(gray[k], gray[k + 1])[0] for k in range(15, 25)]
    assert np.median([abs(dx) for dx, _ in shifts]) > 2.0  # pixels per frame, mid-sweep
    still = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in static]
    assert max(abs(cv2.phaseCorrelate(still[k], still[k + 1])[0][0]) for k in range(15, 25)) < 0.5


def test_pan_ground_truth_boxes_follow_the_camera(static_and_pan):
    """A fully visible object's crop in the static scene, scaled to the pan's GT box, is what the
    pan's frame shows there; the same box moved by a few pixels is not."""
    import cv2

    static, pan = static_and_pan
    gt_static, gt_pan = read_mot_file(static.gt_path, "gt"), read_mot_file(pan.gt_path, "gt")
    frames_static, frames_pan = frames_of(static.video_path), frames_of(pan.video_path)
    checked = 0
    for (frame, object_id), seen in sorted(pan.visibility.items()):
        if seen < 0.99 or static.visibility.get((frame, object_id), 0) < 0.99:
            continue
        xs, ys, ws, hs = boxes_of(gt_static, object_id)[frame].astype(int)
        xp, yp, wp, hp = boxes_of(gt_pan, object_id)[frame].astype(int)
        if min(wp, hp) < 12 or xp < 8 or yp < 8 or xp + wp + 8 > 480 or yp + hp + 8 > 360:
            continue
        want = cv2.resize(frames_static[frame - 1][ys:ys + hs, xs:xs + ws], (wp, hp))
        here = np.abs(frames_pan[frame - 1][yp:yp + hp, xp:xp + wp] - want).mean()
        moved = np.abs(frames_pan[frame - 1][yp + 6:yp + hp + 6, xp + 6:xp + wp + 6] - want).mean()
        assert here < 0.5 * moved, (frame, object_id, here, moved)
        checked += 1
    assert checked >= 10


def test_zoom_scales_the_boxes(tmp_path: Path):
    kwargs = dict(frames=40, n_objects=4, video=False)
    static = read_mot_file(make_scene(tmp_path / "s", **kwargs).gt_path, "gt")
    zoom_info = make_scene(tmp_path / "z", camera="zoom", **kwargs)
    zoom = read_mot_file(zoom_info.gt_path, "gt")
    a, b = boxes_of(static, 4), boxes_of(zoom, 4)  # object 4 stays inside the frame
    ratios = [b[f][3] / a[f][3] for f in sorted(set(a) & set(b))]
    assert ratios[0] == pytest.approx(1.0, abs=0.05) and max(ratios) == pytest.approx(1.6, abs=0.1)
    assert zoom_info.camera == "zoom"


def test_camera_scenes_are_seeded_and_checked(tmp_path: Path):
    one = make_scene(tmp_path / "a", camera="panzoom", frames=40, video=False)
    two = make_scene(tmp_path / "b", camera="panzoom", frames=40, video=False)
    assert one.gt_path.read_bytes() == two.gt_path.read_bytes() and one.det_path.read_bytes() == two.det_path.read_bytes()
    with pytest.raises(ConfigError, match="camera must be one of"):
        make_scene(tmp_path, camera="dolly", video=False)
