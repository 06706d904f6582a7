"""Stream RGB frames out of a video file, one at a time, so memory stays flat for any length.

PyAV (FFmpeg) decodes straight to rgb24, so the BGR/RGB question never reaches the rest of
the pipeline. Damaged files are processed as far as they decode; the shortfall is recorded
(`truncated`, `error`) for run.json instead of failing the whole run.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import threading
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .config import VideoConfig
from .errors import ConfigError, InputError
from .files import kind_of, stat_path
from .types import Frame

log = logging.getLogger(__name__)

# FFmpeg's frame counts and durations in headers are estimates; allow this much slack
# before calling a short decode "truncated".
COUNT_SLACK = 0.01
DURATION_SLACK = 0.05
# FFmpeg "decodes" text files as ANSI art (the tty demuxer); never a video a user meant.
TEXT_FORMATS = {"tty"}
# Largest frame decoded: 8K (7680x4320 = 33 MP, DCI 8192x4320 = 35 MP) fits; an 8192x8192 frame is 201 MB
# of RGB and a few KB of MJPEG, so a tiny file could otherwise ask for gigabytes of read-ahead.
MAX_MEGAPIXELS = 40


@dataclass
class VideoInfo:
    """What the container says about the video stream, before decoding it all.

    `fps` is the container's declared rate and may be wrong (PETS09 says 10, is really 7);
    `frame_count` is the header's figure, a hint only: `VideoSource.frames_decoded` is the truth.
    """

    path: str
    fps: float
    width: int
    height: int
    frame_count: int | None
    duration_s: float | None
    codec: str
    container: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _av():
    try:
        import av
    except ImportError:  # pragma: no cover - av is a core dependency
        raise InputError("reading video needs PyAV; install it with: pip install av") from None
    return av


def _check_path(path: Path) -> None:
    info = stat_path(path, "video file")  # missing, a NUL in the name, a parent folder the user may not enter
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path} is a directory, not a video file; pass the path of a video file")
    kind = kind_of(info.st_mode)
    if kind is not None:  # a FIFO would block or look empty; a device never ends
        raise InputError(f"video file {path} is {kind}, not a regular file; save the video to a file and pass that")
    if info.st_size == 0:
        raise InputError(f"video file {path} is empty (0 bytes); re-copy or re-export it")


def _open_container(path: Path):
    av = _av()
    try:
        return av.open(str(path), mode="r")
    except PermissionError:
        raise InputError(f"video file {path} is not readable (permission denied); fix its permissions") from None
    except (av.FFmpegError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or _short(exc)  # FFmpeg's own words, without errno and path
        raise InputError(
            f"{path} is not a video FFmpeg can read ({reason}); pass a video file (mp4, avi, mkv, ...)"
        ) from None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def check_frame_size(path: Path, width: int, height: int, where: str = "") -> None:
    """Refuse frames above MAX_MEGAPIXELS before they are converted to RGB (3 bytes per pixel)."""
    if width * height > MAX_MEGAPIXELS * 1_000_000:
        raise InputError(
            f"{path}{where} has {width}x{height} frames ({width * height / 1e6:.0f} megapixels); Orion reads at most "
            f"{MAX_MEGAPIXELS} megapixels per frame: scale the video down first (e.g. ffmpeg -vf scale=3840:-2)"
        )


def _frame_count_hint(stream) -> int | None:
    return int(stream.frames) if stream.frames and stream.frames > 0 else None


def _duration_s(stream, container) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE is microseconds
    return None


def _stream_fps(stream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and float(rate) > 0:
            return float(rate)
    return 0.0


class VideoSource:
    """An iterable of `Frame`s from one file; `open_video` builds it.

    Iterating twice re-decodes from the start. After a full pass, `frames_decoded` is the real
    count, and `truncated`/`error` say whether the file ended earlier than its header promised.

    Frames are often decoded in a worker thread (`stages.Prefetch`) while the owner may `close()`
    from another, e.g. on Ctrl-C when the worker did not stop in time. FFmpeg frees the decoder
    on close, so a decode still running then crashes the process (SIGSEGV). One lock covers each
    frame's decode and conversion and every close: `close()` waits for the frame in hand, and
    after it the stream just ends.
    """

    def __init__(self, path: str | os.PathLike, config: VideoConfig | None = None) -> None:
        self.path = Path(path)
        self.config = config or VideoConfig()
        _validate_config(self.config)
        _check_path(self.path)
        self.frames_decoded = 0
        self.frames_yielded = 0
        self.truncated = False
        self.error: str | None = None
        self._fresh = True
        self._lock = threading.RLock()
        self._closed = False  # by the owner (`close`); a pass that ends closes the file too but may reopen it
        # One converter for every frame: `VideoFrame.to_ndarray(format="rgb24")` sets up FFmpeg's
        # scaler afresh per frame, 1.2-3.5 ms of a 768x576 frame here against 0.3-0.4 ms reused
        # (same pixels).
        self._reformatter = None
        self._container = _open_container(self.path)
        try:
            if self._container.format.name in TEXT_FORMATS:
                raise InputError(f"{self.path} is a text file, not a video; pass a video file (mp4, avi, mkv, ...)")
            if not self._container.streams.video:
                raise InputError(f"{self.path} has no video stream (audio only?); pass a video file")
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"  # frame threading: several times faster on MPEG-4/H.264
            self._stream = stream
            self._start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            fps = _stream_fps(stream)
            self.info = VideoInfo(
                path=str(self.path),
                fps=fps,
                width=int(stream.codec_context.width or 0),
                height=int(stream.codec_context.height or 0),
                frame_count=_frame_count_hint(stream),
                duration_s=_duration_s(stream, self._container),
                codec=stream.codec_context.name,
                container=self._container.format.name,
            )
            check_frame_size(self.path, self.info.width, self.info.height)
            self._decoder = self._container.decode(stream)
            self._first = self._next_av_frame()  # probe: a "video" that decodes nothing fails now
            if self._first is not None:
                check_frame_size(self.path, self._first.width, self._first.height)
        except BaseException:
            self._container.close()
            raise
        if self._first is None:
            self._container.close()
            reason = f": {self.error}" if self.error else ""
            raise InputError(f"{self.path} contains no decodable video frames{reason}; the file is corrupt or empty")
        if not self.info.width or not self.info.height:
            self.info.width, self.info.height = self._first.width, self._first.height

    # -- decoding --------------------------------------------------------------------------

    def _next_av_frame(self):
        """The next decoded frame, or None at the end; a decoder error ends the stream early."""
        av = _av()
        if self._closed:
            return None
        try:
            return next(self._decoder)
        except StopIteration:
            return None
        except (av.FFmpegError, EOFError) as exc:
            self.truncated = True
            self.error = f"decoding stopped with an error: {_short(exc)}"
            return None

    def _reopen(self) -> None:
        if self._closed:
            raise ValueError(f"{self.path}: the video was closed; open it again to decode")
        self._container.close()
        self._container = _open_container(self.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._decoder = self._container.decode(self._stream)
        self._first = None

    def _time_s(self, av_frame, index: int) -> float:
        if av_frame.pts is not None and av_frame.time_base is not None:
            return float(av_frame.pts * av_frame.time_base) - self._start
        return index / self.info.fps if self.info.fps > 0 else 0.0

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self, pixel_format: str = "rgb24") -> Iterator[Frame]:
        """Frames as RGB (`rgb24`, HxWx3) or as planar I420 (`yuv420p`, (H*3/2)xW: Y, then U, then V).

        `yuv420p` is what most decoders produce and what the H.264 writer wants, so a pass that
        only draws on frames and re-encodes them (annotated.mp4) skips two colour conversions;
        frames with an odd side, which I420 cannot hold, come as RGB (3-D) instead.
        """
        if pixel_format not in ("rgb24", "yuv420p"):
            raise ValueError(f"pixel_format must be rgb24 or yuv420p, got {pixel_format!r}")
        with self._lock:
            if not self._fresh:
                self._reopen()
            self._fresh = False
        self.frames_decoded = 0
        self.frames_yielded = 0
        self.truncated = False
        self.error = None
        sampler = FrameSampler(self.config.fps, self.info.fps)
        limit = self.config.max_frames
        pending = self._first
        self._first = None
        last_time_s: float | None = None
        try:
            while limit is None or self.frames_yielded < limit:
                with self._lock:  # not across the yield: the consumer may close meanwhile
                    if self._closed:
                        break
                    av_frame = pending if pending is not None else self._next_av_frame()
                    pending = None
                    if av_frame is None:
                        self._check_complete(last_time_s)
                        break
                    index = self.frames_decoded
                    self.frames_decoded += 1
                    time_s = self._time_s(av_frame, index)
                    last_time_s = time_s if av_frame.pts is not None else None
                    if not sampler.keep(time_s):
                        continue
                    check_frame_size(self.path, av_frame.width, av_frame.height, f" frame {index + 1}")  # size may change mid-stream
                    planar = pixel_format == "yuv420p" and av_frame.width % 2 == 0 and av_frame.height % 2 == 0
                    if planar:
                        image = av_frame.to_ndarray(format="yuv420p")
                    else:
                        if self._reformatter is None:
                            self._reformatter = _av().video.reformatter.VideoReformatter()
                        image = self._reformatter.reformat(av_frame, format="rgb24").to_ndarray()
                    del av_frame
                    self.frames_yielded += 1
                yield Frame(index=index, time_s=time_s, image=image)
        finally:  # also on an early break: release the decoder threads; a new pass reopens the file
            with self._lock:
                self._container.close()
            if self.truncated:
                log.warning("%s: %s; processed the %d frames that decoded", self.path, self.error, self.frames_decoded)

    def _check_complete(self, last_time_s: float | None) -> None:
        """At end of stream: did we get roughly what the header promised?

        With a frame count in the header, compare counts. Without one (Matroska, WebM), compare
        the last frame's timestamp with the duration: duration x fps would call every
        variable-frame-rate file "truncated", because its declared rate is only a guess.
        """
        if self.truncated:
            return
        expected = self.info.frame_count
        if expected:
            if self.frames_decoded < expected - max(2, COUNT_SLACK * expected):
                self.truncated = True
                self.error = (
                    f"decoded {self.frames_decoded} frames but the header announces about {expected}; "
                    "the file looks truncated or damaged"
                )
            return
        duration = self.info.duration_s
        if not duration or last_time_s is None:
            return
        frame_s = 1.0 / self.info.fps if self.info.fps > 0 else 0.0
        if last_time_s < duration - max(2 * frame_s, DURATION_SLACK * duration):
            self.truncated = True
            self.error = (
                f"frames stop at {last_time_s:.2f} s but the header announces {duration:.2f} s; "
                "the file looks truncated or damaged"
            )

    def expected_frames(self) -> int | None:
        """Frames one pass will yield, as far as the header tells: sampling and max_frames applied.

        For progress only (the header count is a hint, see VideoInfo); None when unknown.
        """
        limit = self.config.max_frames
        count = self.info.frame_count
        if count is None and self.info.duration_s and self.info.fps > 0:
            count = int(round(self.info.duration_s * self.info.fps))
        if count is not None and self.config.fps and self.info.fps > self.config.fps:
            count = int(math.ceil(count * self.config.fps / self.info.fps))
        if count is None:
            return limit
        return count if limit is None else min(count, limit)

    # -- bookkeeping -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What run.json records about decoding."""
        return {
            "frames_decoded": self.frames_decoded,
            "frames_yielded": self.frames_yielded,
            "truncated": self.truncated,
            "error": self.error,
        }

    def close(self) -> None:
        """Release the file; safe from any thread, waits for a frame another thread is decoding."""
        with self._lock:
            self._closed = True
            self._container.close()

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FrameSampler:
    """Keep frames so the output rate approximates `target_fps`, by timestamp (VFR-safe).

    A frame is kept once its time reaches the next slot; half a source frame of tolerance
    stops 3 fps from 10 fps drifting to every fourth frame.
    """

    def __init__(self, target_fps: float | None, source_fps: float) -> None:
        self.step = 1.0 / target_fps if target_fps else 0.0
        self.tolerance = 0.5 / source_fps if source_fps > 0 else 0.0
        self.next_t: float | None = None

    def keep(self, time_s: float) -> bool:
        if not self.step:
            return True
        if self.next_t is None or time_s >= self.next_t - self.tolerance:
            slot = self.next_t if self.next_t is not None else time_s
            # after a gap (VFR, dropped frames) restart the grid instead of bursting to catch up
            self.next_t = slot + self.step if slot + self.step > time_s else time_s + self.step
            return True
        return False


def _validate_config(config: VideoConfig) -> None:
    if config.fps is not None and (isinstance(config.fps, bool) or not config.fps > 0 or not math.isfinite(config.fps)):
        raise ConfigError(f"video.fps must be a positive number (frames per second to sample), got {config.fps!r}")
    if config.max_frames is not None and (
        isinstance(config.max_frames, bool) or not isinstance(config.max_frames, int) or config.max_frames < 1
    ):
        raise ConfigError(f"video.max_frames must be a positive integer, got {config.max_frames!r}")


def open_video(path: str | os.PathLike, config: VideoConfig | None = None) -> VideoSource:
    """Open and probe `path` (container and first frame) so bad inputs fail before any model loads."""
    return VideoSource(path, config)


def _yuv420p_frame(av, image: np.ndarray):
    """An RGB image as a yuv420p VideoFrame, converted by OpenCV (BT.601, limited range, as FFmpeg's
    default): FFmpeg's own swscale conversion took 8-14 ms of a 768x576 frame here, OpenCV 0.7 ms."""
    import cv2

    yuv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2YUV_I420)
    return av.VideoFrame.from_ndarray(yuv, format="yuv420p")


# libx264's default ("medium") spent 46 of a 59 s PETS09 histogram run encoding annotated.mp4;
# measured on the 2-core VM (benchmarks/README.md, "Annotated video").
X264_PRESET = "ultrafast"


class VideoWriter:
    """Write RGB frames to a video; the file appears under its final name only when closed.

    H.264 (libx264) when FFmpeg has it, else MPEG-4 part 2. Size comes from the first frame;
    odd sizes are padded by one pixel because yuv420p needs even dimensions.

    Frames are often encoded in a worker thread (`stages.Consumer`) while the owner may `discard()`
    from another (an interrupted run). Encoding into a closed FFmpeg container crashes the process,
    so one lock covers each frame's encode and every close; a write after `discard()` raises.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        codec: str | None = None,
        preset: str | None = None,
        fit: bool = False,
        deterministic: bool = False,
    ) -> None:
        if not fps or fps <= 0 or not math.isfinite(fps):
            raise ConfigError(f"VideoWriter: fps must be positive, got {fps!r}")
        self.path = Path(path)
        self.fps = fps
        self.codec = codec
        self.fit = fit
        # One encoder thread: x264's output depends on its thread count (auto = per machine), and
        # synthetic scenes want repeatable videos. Not a guarantee of equal bytes: in one pytest
        # process, after tests/test_detectors.py, encodes of identical frames still differed by
        # about one level (cause not pinned), so tests compare pixels with a tolerance. Opt-in.
        self.deterministic = deterministic
        self.preset = preset or X264_PRESET  # libx264 only
        self.frames_written = 0
        self._tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp{self.path.suffix or '.mp4'}")
        self._container = None
        self._stream = None
        self._lock = threading.RLock()
        self._discarded = False

    def _check_open(self) -> None:
        if self._discarded:
            raise ValueError(f"VideoWriter: {self.path} was discarded; nothing more can be written")

    def _start(self, width: int, height: int) -> None:
        av = _av()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fmt = "mp4" if self.path.suffix.lower() in ("", ".mp4", ".m4v") else None
        # faststart puts the index first: the file plays while downloading, and a cut copy still opens
        options = {"movflags": "+faststart"} if fmt == "mp4" else {}
        self._container = av.open(str(self._tmp), mode="w", format=fmt, options=options)
        rate = Fraction(self.fps).limit_denominator(1001)
        names = [self.codec] if self.codec else ["libx264", "mpeg4"]
        last: Exception | None = None
        for name in names:
            try:
                stream = self._container.add_stream(name, rate=rate)
                break
            except (av.FFmpegError, ValueError) as exc:  # UnknownCodecError is a ValueError
                last = exc
        else:
            self._abort()
            raise InputError(
                f"VideoWriter: no usable encoder among {names} ({_short(last)}); install an FFmpeg build with libx264"
            )
        if stream.codec_context.name == "libx264" and self.preset:
            stream.options = {"preset": self.preset}
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        if self.deterministic:
            stream.codec_context.thread_count = 1
        self.codec = stream.codec_context.name
        self._stream = stream

    def write_yuv420(self, planes: np.ndarray) -> None:
        """Append one I420 frame ((H*3/2)xW uint8, `VideoSource.frames("yuv420p")`): no colour conversion.

        A frame whose size differs from the stream's goes through RGB and `write`'s scaling."""
        with self._lock:
            self._check_open()
            av = _av()
            planes = np.asarray(planes)
            if planes.ndim != 2 or planes.dtype != np.uint8 or planes.shape[0] % 3:
                raise ValueError(f"VideoWriter.write_yuv420 expects (H*3/2)xW uint8 planes, got {planes.shape} {planes.dtype}")
            height, width = planes.shape[0] * 2 // 3, planes.shape[1]
            if self._stream is None:
                self._start(width, height)
                self._size = (height, width)
            if (height, width) != (self._stream.height, self._stream.width):
                import cv2

                self.write(cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_I420))
                return
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(planes), format="yuv420p")
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.frames_written += 1

    def write(self, image: np.ndarray) -> None:
        """Append one HxWx3 RGB uint8 frame of the first one's size (with `fit`, other sizes are scaled to it).

        Videos may change size mid-stream (a stream switching resolution, concatenated clips); an
        annotated copy keeps the first size, as players expect one size per stream.
        """
        with self._lock:
            self._check_open()
            av = _av()
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"VideoWriter.write expects HxWx3 uint8 RGB, got {image.shape} {image.dtype}")
            if self._stream is None:
                self._start(image.shape[1], image.shape[0])
                self._size = image.shape[:2]
            if image.shape[:2] != self._size:
                if not self.fit:
                    raise ValueError(f"VideoWriter: frame size {image.shape[:2]} differs from the first frame's {self._size}")
                import cv2

                image = cv2.resize(image, (self._size[1], self._size[0]), interpolation=cv2.INTER_LINEAR)
            pad_h, pad_w = self._stream.height - image.shape[0], self._stream.width - image.shape[1]
            if pad_h or pad_w:
                image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            frame = _yuv420p_frame(av, image)
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and move the file into place (nothing is written for zero frames)."""
        with self._lock:
            if self._container is None:  # nothing written, or discarded
                return
            try:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
                self._container.close()
            except BaseException:
                self._abort()
                raise
            self._container = None
            os.replace(self._tmp, self.path)

    def discard(self) -> None:
        """Drop what was written without flushing the encoder (a failed or interrupted run)."""
        with self._lock:
            self._discarded = True
            self._abort()

    def _abort(self) -> None:
        with self._lock:
            if self._container is not None:
                try:
                    self._container.close()
                except Exception:  # the temp file is discarded anyway
                    pass
                self._container = None
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()
