"""The camera's exposure, read from the background and divided out of crops before embedding."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from orion_core.exposure import TINT_FLOOR, ExposureGain, changes_pixels, compensate, neutral_tint

W, H = 320, 240


def background(width: int = W, height: int = H, seed: int = 0) -> np.ndarray:
    """Blurred mid-grey noise: a textured scene with no clipped pixels."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (0, 0), 3.0)
    return cv2.normalize(image, None, 40, 200, cv2.NORM_MINMAX)


def exposed(image: np.ndarray, gain) -> np.ndarray:
    return np.clip(np.rint(image.astype(np.float64) * np.asarray(gain, np.float64)), 0, 255).astype(np.uint8)


PERSON = np.array([[100.0, 60.0, 160.0, 200.0]])


def with_person(image: np.ndarray, value: int) -> np.ndarray:
    out = image.copy()
    out[60:200, 100:160] = value
    return out


def test_a_steady_camera_is_left_alone():
    """Equal exposure: no frame's crops change, so a steady video embeds exactly as before."""
    gains = ExposureGain("on")
    frame = background()
    assert all(gains.update(with_person(frame, v), PERSON) is None for v in (30, 220, 90))
    assert gains.stats["compensated"] == 0 and gains.stats["reanchors"] == 0


def test_a_per_channel_gain_is_recovered_and_divided_out():
    """Auto-exposure and white balance scale every pixel alike; the background shows by how much.
    The common gain is divided out whole, each channel's tint (white balance) less TINT_FLOOR."""
    gains = ExposureGain("on")
    frame = background()
    gains.update(frame, PERSON)
    truth = np.array([1.3, 1.2, 1.1])
    gain = gains.update(exposed(frame, truth), PERSON)
    expected = neutral_tint(truth)  # its formula is pinned by test_the_tint_is_shrunk_continuously
    np.testing.assert_allclose(gain, expected, rtol=0.01)
    assert np.exp(np.log(gain).mean()) == pytest.approx(np.exp(np.log(truth).mean()), rel=0.01)
    back = compensate(exposed(frame, truth), gain).astype(float)
    # brightness restored; what remains of the white-balance change is at most the floor, per channel
    ratio = back.reshape(-1, 3).mean(axis=0) / frame.reshape(-1, 3).mean(axis=0)
    assert np.abs(np.log(ratio)).max() <= TINT_FLOOR + 0.01
    assert abs(np.log(ratio).mean()) <= 0.005
    assert gains.stats["gain_max"] == pytest.approx(expected.max(), abs=0.01)


def test_a_tint_within_the_floor_is_left_out():
    """A sub-percent difference between channels is the estimate's error, not white balance: turning
    it into a tint would re-hue every grey pixel from frame to frame. Only the common gain is applied."""
    gains = ExposureGain("on")
    frame = background()
    gains.update(frame, PERSON)
    truth = 1.2 * np.array([1.008, 1.0, 1 / 1.008])
    gain = gains.update(exposed(frame, truth), PERSON)
    assert gain[0] == gain[1] == gain[2]
    assert gain[0] == pytest.approx(1.2, rel=0.005)


def test_the_tint_is_shrunk_continuously():
    """No step at the floor: a tint just over it is applied as the small excess, so an estimate
    hovering around the floor does not flip crops between two colourings."""
    for excess in (0.0, 0.001, 0.05):
        tint = TINT_FLOOR + excess
        out = np.log(neutral_tint(np.exp(np.array([tint, 0.0, -tint]))))
        np.testing.assert_allclose(out, [excess, 0.0, -excess], atol=1e-12)
    np.testing.assert_allclose(neutral_tint(np.array([1.5, 1.5, 1.5])), 1.5)


def test_what_the_boxes_cover_does_not_count():
    """A person in a white coat walking in must not read as the camera brightening."""
    gains = ExposureGain("on")
    frame = background()
    gains.update(frame, np.zeros((0, 4)))
    big = np.array([[0.0, 0.0, 200.0, 240.0]])  # most of the frame
    lit = frame.copy()
    lit[:, :200] = 250
    assert gains.update(lit, big) is None


@pytest.mark.parametrize("step_px", [3, 12])
def test_a_panning_camera_is_followed_with_the_camera_motion(step_px):
    """The reference is moved by the tracker's camera motion and compared while it is in view;
    once it has left, the estimate is chained through the previous frame. An exposure change
    during the pan is found, and a steady one does not drift."""
    scene = background(3 * W, H, seed=3)
    pan = np.array([[1.0, 0.0, -step_px], [0.0, 1.0, 0.0]])  # the view moves right: the scene moves left
    for ramp in (0.0, 0.01):
        gains = ExposureGain("on")
        found = None
        for step in range(40):
            x = step_px * step
            found = gains.update(exposed(scene[:, x : x + W], 1.0 + ramp * step), np.zeros((0, 4)),
                                 warp=pan if step else None)
        assert gains.stats["held"] == 0
        if ramp:
            assert found is not None and np.allclose(found, 1.39, rtol=0.02)  # 1.0 -> 1.39 over the pan
        else:
            assert found is None or np.allclose(found, 1.0, atol=0.01)
        assert gains.stats["reanchors"] == (0 if step_px == 3 else pytest.approx(4, abs=3))


def test_without_the_camera_motion_a_pan_keeps_the_last_gain():
    """`tracking.cmc: off`, or a cut: nothing says where the reference went, so nothing is guessed."""
    scene = background(3 * W, H, seed=3)
    gains = ExposureGain("on")
    gains.update(scene[:, :W], np.zeros((0, 4)))
    assert gains.update(exposed(scene[:, 40 : 40 + W], 1.3), np.zeros((0, 4))) is None
    assert gains.stats["held"] == 1
    cut = ExposureGain("on")
    cut.update(scene[:, :W], np.zeros((0, 4)))
    assert cut.update(exposed(scene[:, :W], 1.3), np.zeros((0, 4)), view_lost=True) is None
    np.testing.assert_allclose(cut.update(exposed(scene[:, :W], 1.56), np.zeros((0, 4))), 1.2, rtol=0.01)


def test_a_cut_keeps_the_exposure_and_starts_a_new_reference():
    gains = ExposureGain("on")
    gains.update(background(seed=1), PERSON)
    dim = gains.update(exposed(background(seed=1), 0.8), PERSON)
    np.testing.assert_allclose(dim, 0.8, rtol=0.01)
    after_cut = gains.update(background(seed=5), PERSON)  # nothing in it agrees with before
    np.testing.assert_allclose(after_cut, dim)
    assert gains.stats["held"] == 1
    np.testing.assert_allclose(gains.update(exposed(background(seed=5), 0.9), PERSON), 0.72, rtol=0.01)


def test_a_crowd_covering_the_view_keeps_the_last_gain():
    gains = ExposureGain("on")
    frame = background()
    gains.update(frame, np.zeros((0, 4)))
    gain = gains.update(exposed(frame, 1.2), np.zeros((0, 4)))
    everywhere = np.array([[0.0, 0.0, W, H]])
    np.testing.assert_allclose(gains.update(exposed(frame, 2.0), everywhere), gain)
    assert gains.stats["held"] == 1


def test_off_estimates_nothing_and_tiny_gains_change_no_pixel():
    assert ExposureGain("off").update(background(), PERSON) is None
    assert not changes_pixels(np.array([1.001, 0.999, 1.0]))
    assert changes_pixels(np.array([1.0, 1.0, 1.01]))
    image = background()
    assert compensate(image, None) is image
    with pytest.raises(ValueError, match="on, off"):
        ExposureGain("auto")


def test_the_embedder_divides_each_frames_gain_out_of_its_crops():
    """The same object filmed darker embeds as it did before, once its frame's gain is known."""
    from orion_core.config import EmbeddingConfig
    from orion_core.embedder import VisualEmbedder

    embedder = VisualEmbedder(EmbeddingConfig(backend="histogram"))
    frame = background()
    dark = exposed(frame, 0.7)
    box = [PERSON[0]]
    ((same, _),) = embedder.embed_boxes([frame], [box])
    ((raw, _),) = embedder.embed_boxes([dark], [box])
    ((fixed, _),) = embedder.embed_boxes([dark], [box], [np.full(3, 0.7)])
    assert float(same[0] @ fixed[0]) > 0.99 > float(same[0] @ raw[0]) + 0.05


def swinging_video(tmp_path, frames: int = 36):
    """A still camera whose exposure swings +-30%, two standing people (a blue coat shading from
    dark to light, a beige one the other way: flat colours would stay in their histogram bins)."""
    from orion_core.video import VideoWriter

    video, det = tmp_path / "swing.mp4", tmp_path / "det.txt"
    writer = VideoWriter(video, 10.0)
    scene = background(seed=7)
    shade = np.linspace(30, 230, 160)[:, None, None]
    scene[40:200, 40:90] = np.broadcast_to(shade * np.array([0.4, 0.5, 1.0]), (160, 50, 3)).astype(np.uint8)
    scene[50:210, 220:270] = np.broadcast_to(shade[::-1] * np.array([1.0, 0.85, 0.55]), (160, 50, 3)).astype(np.uint8)
    rows = []
    for f in range(frames):
        writer.write(exposed(scene, 1.0 + 0.3 * np.sin(2 * np.pi * f / 12)))
        rows += [f"{f + 1},-1,40,40,50,160,0.9,-1,-1,-1", f"{f + 1},-1,220,50,50,160,0.9,-1,-1,-1"]
    writer.close()
    det.write_text("\n".join(rows) + "\n")
    return video, det


def spread(path) -> float:
    """Worst cosine between an entity's rows and its mean, over entities: 1 is perfectly steady."""
    rows = [json.loads(line) for line in (path / "tracks.jsonl").read_text().splitlines()]
    vectors = np.load(path / "embeddings.npy")
    worst = 1.0
    for entity in {r["entity_id"] for r in rows}:
        own = vectors[[r["embedding_row"] for r in rows if r["entity_id"] == entity and r["embedding_row"] is not None]]
        mean = own.mean(axis=0)
        worst = min(worst, float((own @ (mean / np.linalg.norm(mean))).min()))
    return worst


def test_a_run_embeds_through_a_swinging_exposure_and_records_it(tmp_path):
    from orion_core.bench import run_orion

    video, det = swinging_video(tmp_path)
    settings = {"embedding": {"policy": "all"}}
    on = run_orion(video, det, tmp_path / "out", "on", backend="histogram", overrides=settings)
    off = run_orion(video, det, tmp_path / "out", "off", backend="histogram",
                    overrides={"embedding": {"policy": "all", "exposure": "off"}})
    record = json.loads((on.tracks.parent / "run.json").read_text())["exposure"]
    assert record["frames"] == 36 and record["compensated"] >= 30 and record["reanchors"] == 0
    assert record["gain_min"] == pytest.approx(0.7, abs=0.03) and record["gain_max"] == pytest.approx(1.3, abs=0.03)
    assert json.loads((off.tracks.parent / "run.json").read_text())["exposure"]["compensated"] == 0
    assert spread(on.tracks.parent) > 0.95 > 0.85 > spread(off.tracks.parent)  # measured 0.97 and 0.72
