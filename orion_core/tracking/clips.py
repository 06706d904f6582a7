"""Clip embeddings of tracklets for video-native backends (V-JEPA 2): `encode_clips` in memory.

A video model embeds what an object looks like *and how it moves*; one crop is a still. When
the backend implements `encode_clips`, the memory's re-ID queries and entity prototypes use one
clip embedding per tracklet: `frames` crops spread across the tracklet, encoded together.

Memory is bounded: a track keeps at most `2 * frames` small crops (`SIDE` x `SIDE` RGB), spread
evenly over its life by decimation (when the slots are full every other crop is dropped and
the sampling stride doubles), so a track seen for an hour costs what one seen for a second does.
Crops covered by another box are not kept (the tracker passes only clean ones).

Clip statistics get their own calibration (`EntityMemory.clip_calibration`), fed for free: a
track's new clip against its previous one is a positive; against the clip of another track seen
in the same frame, a negative.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

SIDE = 112  # crops are resized to SIDE x SIDE so that one clip stacks (the backend resizes anyway)


class _Crops:
    __slots__ = ("frames", "crops", "stride", "seen", "clip", "clip_key")

    def __init__(self) -> None:
        self.frames: list[int] = []
        self.crops: list[np.ndarray] = []
        self.stride = 1
        self.seen = 0
        self.clip: np.ndarray | None = None
        self.clip_key: tuple | None = None


class ClipBank:
    """Per-track crop reservoirs and their (cached) clip embeddings.

    `encode`: (list of (T, SIDE, SIDE, 3) uint8 clips) -> (N, D) unit rows, e.g.
    `VisualEmbedder.encode_clips`. `calibration`: where clip positives/negatives go (optional).
    """

    def __init__(self, encode: Callable[[Sequence[np.ndarray]], np.ndarray], frames: int = 2, calibration=None) -> None:
        self.encode = encode
        self.frames = max(1, int(frames))
        self.calibration = calibration
        self._tracks: dict[int, _Crops] = {}
        self._last_frame = -1
        self._visible: list[int] = []
        self.counts = {"clips_encoded": 0}

    def observe(self, uids: Sequence[int], frame_index: int, image: np.ndarray, boxes: np.ndarray, clean: np.ndarray) -> None:
        """This frame's matched tracks (`uids`), their boxes (xyxy) and which crops are unoccluded."""
        import cv2

        from ..vision import crop_box

        self._last_frame, self._visible = frame_index, list(uids)
        for uid, box, ok in zip(uids, boxes, clean):
            store = self._tracks.setdefault(uid, _Crops())
            store.seen += 1
            if not ok or (store.seen - 1) % store.stride:
                continue
            crop = crop_box(image, box, 0.0)
            if crop is None:
                continue
            store.frames.append(frame_index)
            store.crops.append(cv2.resize(np.ascontiguousarray(crop), (SIDE, SIDE), interpolation=cv2.INTER_AREA))
            if len(store.crops) >= 2 * self.frames:
                store.frames, store.crops = store.frames[::2], store.crops[::2]
                store.stride *= 2

    def clip(self, uid: int) -> np.ndarray | None:
        """(D,) clip embedding of the track's kept crops (`frames` of them, spread), or None."""
        store = self._tracks.get(uid)
        if store is None or not store.crops:
            return None
        pick = np.unique(np.linspace(0, len(store.crops) - 1, self.frames).round().astype(int))
        key = tuple(store.frames[i] for i in pick)
        if store.clip_key == key:
            return store.clip
        (row,) = np.asarray(self.encode([np.stack([store.crops[i] for i in pick])]), np.float32)
        self.counts["clips_encoded"] += 1
        if self.calibration is not None:
            self._calibrate(uid, store.clip, row)
        store.clip, store.clip_key = row, key
        return row

    def _calibrate(self, uid: int, previous: np.ndarray | None, row: np.ndarray) -> None:
        if previous is not None:
            self.calibration.add_positive_value(float(previous @ row), uid)
        if uid not in self._visible:
            return
        for other in self._visible:
            store = self._tracks.get(other)
            if other != uid and store is not None and store.clip is not None:
                self.calibration.add_negative_value(float(store.clip @ row), (uid, other))

    def forget(self, uid: int) -> None:
        self._tracks.pop(uid, None)

    def reset(self) -> None:
        self._tracks.clear()
        self._visible = []

    @property
    def stats(self) -> dict:
        return {**self.counts, "tracks_with_crops": len(self._tracks), "frames_per_clip": self.frames}
