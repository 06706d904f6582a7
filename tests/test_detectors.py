"""Detectors: box hygiene, the registry, MOT replay, motion blobs and YOLO (tiny random weights)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from orion_core.config import DetectionConfig
from orion_core.detectors import DETECTORS, clip_boxes, make_detector
from orion_core.detectors.yolo import class_ids
from orion_core.errors import ConfigError, InputError, WeightsError
from orion_core.types import Detections, Frame

PETS_DET = Path(__file__).resolve().parents[2] / "shared" / "data" / "pets09-s2l1" / "det.txt"


def blank_frame(index: int = 0, height: int = 100, width: int = 200) -> Frame:
    return Frame(index=index, time_s=index / 10, image=np.zeros((height, width, 3), np.uint8))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


# -- clip_boxes ---------------------------------------------------------------------------


def test_clip_boxes_clips_to_the_frame_and_counts_what_it_drops():
    boxes = np.array(
        [
            [-10, -5, 50, 40],  # partly outside: clipped
            [190, 90, 260, 130],  # partly outside: clipped
            [250, 10, 300, 50],  # fully outside: nothing left
            [20, 20, 20.5, 60],  # half a pixel wide
            [np.nan, 0, 10, 10],  # NaN coordinate
            [40, 40, 30, 60],  # inverted
            [5, 5, 15, 15],  # fine, but its score is NaN
        ],
        np.float32,
    )
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, np.nan], np.float32)
    labels = ["a", "b", "c", "d", "e", "f", "g"]
    dets = clip_boxes(boxes, scores, labels, width=200, height=100)
    assert isinstance(dets, Detections)
    np.testing.assert_allclose(dets.boxes, [[0, 0, 50, 40], [190, 90, 200, 100]])
    np.testing.assert_allclose(dets.scores, [0.9, 0.8])
    assert dets.labels == ["a", "b"] and dets.dropped == 5
    assert dets.boxes.dtype == np.float32


def test_clip_boxes_broadcasts_one_label_and_handles_no_boxes():
    dets = clip_boxes(np.array([[1, 1, 5, 5]]), np.array([0.5]), "person", 10, 10)
    assert dets.labels == ["person"]
    empty = clip_boxes(np.zeros((0, 4)), np.zeros(0), "person", 10, 10)
    assert len(empty) == 0 and empty.dropped == 0


# -- registry -----------------------------------------------------------------------------


def test_registry_names_and_unknown_detector():
    assert set(DETECTORS) == {"yolo", "mot", "motion"}
    with pytest.raises(ConfigError, match="unknown detector 'ssd'.*yolo, mot, motion"):
        make_detector(DetectionConfig(detector="ssd"))


def test_base_detect_batch_loops_over_detect(tmp_path):
    det_file = tmp_path / "det.txt"
    det_file.write_text("1,-1,10,10,20,20,0.9\n2,-1,30,30,20,20,0.8\n")
    det = make_detector(DetectionConfig(detector="mot", detections=str(det_file)))
    out = det.detect_batch([blank_frame(0), blank_frame(1), blank_frame(2)])
    assert [len(d) for d in out] == [1, 1, 0]


# -- mot ----------------------------------------------------------------------------------


def write_det(tmp_path: Path, text: str) -> str:
    path = tmp_path / "det.txt"
    path.write_text(text)
    return str(path)


def test_mot_maps_frames_converts_boxes_and_filters(tmp_path):
    path = write_det(
        tmp_path,
        "1,-1,10,20,30,40,0.9,-1,-1,-1\n"
        "\n"
        "1, -1, 150, 80, 100, 50, 0.3, -1, -1, -1\n"  # spaces after commas; runs off the frame
        "3 -1 5 5 10 10 0.7\n",  # whitespace only, 7 columns
    )
    det = make_detector(DetectionConfig(detector="mot", detections=path, label="person"))
    first = det.detect(blank_frame(0))  # MOT frame 1 == decoded index 0
    np.testing.assert_allclose(first.boxes, [[10, 20, 40, 60], [150, 80, 200, 100]])
    np.testing.assert_allclose(first.scores, [0.9, 0.3])
    assert first.labels == ["person", "person"]
    assert len(det.detect(blank_frame(1))) == 0
    np.testing.assert_allclose(det.detect(blank_frame(2)).boxes, [[5, 5, 15, 15]])
    assert det.info()["boxes"] == 3 and det.info()["last_frame"] == 3

    strict = make_detector(DetectionConfig(detector="mot", detections=path, min_score=0.5))
    assert strict.detect(blank_frame(0)).scores.tolist() == pytest.approx([0.9])


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no detections"),
        ("\n\n", "no detections"),
        ("1,-1,10,20,30,40,0.9\n2,-1,10,20\n", r"line 2: expected at least 7 .* got 4"),
        ("1,-1,10,20,30,40,0.9\n1,-1,ten,20,30,40,0.9\n", r"line 2 column 3: 'ten' is not a number"),
        ("0,-1,10,20,30,40,0.9\n", r"line 1: frame number '0' must be a whole number >= 1"),
        ("-2,-1,10,20,30,40,0.9\n", r"line 1: frame number '-2'"),
        ("1.5,-1,10,20,30,40,0.9\n", r"line 1: frame number '1.5'"),
        ("1,-1,10,,30,40,0.9\n", r"line 1 column 4 is empty"),
        ("1,-1,10,20,30,40,nan\n", r"line 1 column 7: 'nan' is not a finite number"),
    ],
)
def test_mot_file_errors_name_file_and_line(tmp_path, text, message):
    path = write_det(tmp_path, text)
    with pytest.raises(InputError, match=message) as info:
        make_detector(DetectionConfig(detector="mot", detections=path))
    assert path in str(info.value) and "\n" not in str(info.value)


def test_mot_missing_file_and_missing_option(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        make_detector(DetectionConfig(detector="mot", detections=str(tmp_path / "nope.txt")))
    with pytest.raises(ConfigError, match="--detections"):
        make_detector(DetectionConfig(detector="mot"))


@pytest.mark.skipif(not PETS_DET.is_file(), reason="shared PETS09 data not present")
def test_mot_reads_the_pets09_detections():
    det = make_detector(DetectionConfig(detector="mot", detections=str(PETS_DET), label="person"))
    assert det.num_boxes == 4359 and det.last_frame == 795
    total = sum(len(det.detect(blank_frame(i, 576, 768))) for i in range(795))
    assert total <= 4359 and total >= 4300  # a few boxes run off the edge; none vanish otherwise
    first = det.detect(blank_frame(0, 576, 768))
    assert first.labels[0] == "person" and first.scores.min() >= 0.5


# -- motion -------------------------------------------------------------------------------


def moving_square_sequence(n_frames: int = 40, warmup: int = 15):
    """Static noisy background; from `warmup` on, a bright 20x20 square moves right 4 px/frame."""
    rng = np.random.default_rng(0)
    background = rng.integers(40, 90, (120, 200, 3)).astype(np.int16)
    for t in range(n_frames):
        image = background + rng.integers(-6, 7, background.shape)
        square = None
        if t >= warmup:
            x, y = 10 + 4 * (t - warmup), 50
            image[y : y + 20, x : x + 20] = 230
            square = np.array([x, y, x + 20, y + 20], np.float32)
        yield Frame(t, t / 10, np.clip(image, 0, 255).astype(np.uint8)), square


@pytest.mark.parametrize("method", ["mog2", "knn"])
def test_motion_finds_the_moving_square(method):
    det = make_detector(DetectionConfig(detector="motion", min_area=50, label="blob", motion_method=method))
    checked = 0
    for frame, square in moving_square_sequence():
        dets = det.detect(frame)
        if square is None:
            assert len(dets) == 0  # static noise never becomes a blob
            continue
        if frame.index < 18:
            continue  # the subtractor needs a few frames of motion
        assert len(dets) == 1, f"frame {frame.index}: {dets.boxes}"
        assert iou(dets.boxes[0], square) > 0.5
        assert dets.labels == ["blob"] and 0 < dets.scores[0] <= 1
        checked += 1
    assert checked == 22


def test_motion_rejects_bad_settings():
    with pytest.raises(ConfigError, match="motion_method"):
        make_detector(DetectionConfig(detector="motion", motion_method="optical-flow"))
    with pytest.raises(ConfigError, match="min_area"):
        make_detector(DetectionConfig(detector="motion", min_area=0))


# -- yolo ---------------------------------------------------------------------------------

NAMES = {i: f"class{i}" for i in range(80)} | {0: "person", 2: "car"}


@pytest.fixture(scope="module")
def tiny_yolo(tmp_path_factory) -> str:
    """A YOLOv8n built from the yaml shipped in ultralytics (random weights, no download)."""
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml")
    model.model.names = dict(NAMES)
    path = tmp_path_factory.mktemp("yolo") / "tiny.pt"
    model.save(str(path))
    return str(path)


def tiny_config(weights: str, **overrides) -> DetectionConfig:
    return DetectionConfig(detector="yolo", model=weights, confidence=0.001, imgsz=64, device="cpu", **overrides)


def noise_frames(n: int) -> list[Frame]:
    rng = np.random.default_rng(1)
    return [Frame(i, i / 10, rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)) for i in range(n)]


def test_yolo_runs_on_frames_and_labels_with_model_names(tiny_yolo):
    det = make_detector(tiny_config(tiny_yolo))
    assert det.names == NAMES
    frames = noise_frames(3)
    batch = det.detect_batch(frames)
    single = det.detect(frames[0])
    assert len(batch) == 3 and all(isinstance(d, Detections) for d in batch)
    for dets in batch + [single]:
        assert dets.boxes.shape == (len(dets), 4) and dets.scores.shape == (len(dets),)
        assert set(dets.labels) <= set(NAMES.values())
        assert (dets.boxes[:, [0, 2]] <= 96).all() and (dets.boxes[:, [1, 3]] <= 72).all()
        assert (dets.scores >= 0.001).all()
    np.testing.assert_allclose(single.boxes, batch[0].boxes, atol=1e-3)


def test_yolo_class_filter_keeps_only_named_classes(tiny_yolo):
    det = make_detector(tiny_config(tiny_yolo, classes=["car", "person"]))
    assert det.class_ids == [0, 2]
    labels = {label for dets in det.detect_batch(noise_frames(2)) for label in dets.labels}
    assert labels <= {"person", "car"}


def test_class_ids_maps_names_and_lists_valid_ones():
    names = {0: "person", 1: "bicycle", 2: "car"}
    assert class_ids(names, None) is None
    assert class_ids(names, ["car", "person", "car"]) == [0, 2]
    with pytest.raises(ConfigError, match=r"unknown class name\(s\) 'dog'.*valid names: person, bicycle, car"):
        class_ids(names, ["person", "dog"])


class FakeYolo:
    """Stands in for ultralytics.YOLO: records the arrays it is given, returns one box each."""

    task = "detect"
    names = {0: "person"}

    def __init__(self) -> None:
        self.calls: list[list[np.ndarray]] = []

    def predict(self, images, **kwargs):
        self.calls.append(images)
        return [SimpleNamespace(boxes=_Boxes()) for _ in images]


class _Tensor(np.ndarray):
    """A numpy array with torch's `.cpu().numpy()`."""

    def __new__(cls, data):
        return np.asarray(data, np.float32).view(cls)

    def cpu(self):
        return self

    def numpy(self):
        return np.asarray(self)


class _Boxes:
    """One box hanging off the left edge, like ultralytics' `Results.boxes`."""

    xyxy = _Tensor([[-5.0, 1.0, 30.0, 20.0]])
    conf = _Tensor([0.8])
    cls = _Tensor([0.0])

    def __len__(self) -> int:
        return 1


def test_yolo_feeds_bgr_in_batches_and_clips(tiny_yolo):
    det = make_detector(tiny_config(tiny_yolo, batch_size=2))
    fake = det.model = FakeYolo()
    det.names = fake.names
    frames = noise_frames(5)
    out = det.detect_batch(frames)
    assert [len(call) for call in fake.calls] == [2, 2, 1]
    np.testing.assert_array_equal(fake.calls[0][1], frames[1].image[..., ::-1])  # RGB in, BGR to ultralytics
    assert fake.calls[0][1].flags.c_contiguous
    assert len(out) == 5 and out[4].labels == ["person"]
    np.testing.assert_allclose(out[4].boxes, [[0, 1, 30, 20]])


def test_yolo_missing_weights_offline_says_where_to_put_them(monkeypatch, tmp_path):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsError, match="downloads are off") as info:
        make_detector(DetectionConfig(detector="yolo", model="yolo11n.pt"))
    message = str(info.value)
    assert str(tmp_path / "yolo11n.pt") in message and "--detector-model" in message and "\n" not in message


def test_yolo_missing_or_broken_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        make_detector(DetectionConfig(detector="yolo", model=str(tmp_path / "models" / "missing.pt")))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="could not load YOLO weights") as info:
        make_detector(DetectionConfig(detector="yolo", model=str(broken)))
    assert "\n" not in str(info.value)


def test_yolo_rejects_bad_confidence(tiny_yolo):
    with pytest.raises(ConfigError, match="confidence"):
        make_detector(DetectionConfig(detector="yolo", model=tiny_yolo, confidence=1.5))
