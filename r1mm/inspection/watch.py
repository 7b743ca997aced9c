"""Watching a production line: frames from a video file, a folder a camera fills, a webcam or an
RTSP / HTTP MJPEG stream, inspected as they come, with every alert written to the workspace.

    source = open_source("rtsp://camera-3/line")   # or "line3.mp4", "incoming/", "/dev/video0", "0"
    run = Watcher(ws, inspector, source).run()     # until the source ends or stop() is called

A reader thread decodes frames into a one-frame slot; the inspector takes the newest. On a live
source a frame that arrives while the inspector is busy replaces the waiting one and is counted as
skipped: the alerts stay current instead of falling behind the line. Files and folders are read
at the inspector's pace (nothing skipped) unless ``realtime`` plays them at their own frame rate.

Each alert (frame, time, regions, heat map) is committed as it happens: killing the watcher loses
nothing already written, and a restart on the same source resumes after the last frame inspected.
Video is decoded by PyAV (FFmpeg).
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from r1mm.inspection.patchcore import Check, Inspector, to_rgb

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mjpeg", ".mjpg", ".mpg", ".mpeg", ".ts"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
CONNECT_TIMEOUT_S = 10.0
RECONNECT_TRIES = 5  # a live stream that drops is reopened this often (1, 2, 4, 8, 8 s apart)
FOLDER_POLL_S = 0.2
LATEST_EVERY_S = 0.5  # how often the live view's frame and heat map are rewritten


class SourceError(Exception):
    """A source that cannot be opened or read, with the reason in words."""


@dataclass
class Frame:
    index: int  # 0-based position in the source
    name: str  # "frame 120" in a video or stream, the file name in a folder
    time_s: float | None  # position in the video or stream, seconds
    image: np.ndarray  # (H, W, 3) uint8


class Source:
    """Frames in order. ``live`` sources (cameras, streams) do not wait for the reader."""
    live = False
    description = ""

    def frames(self, after: str | None) -> Iterator[Frame]:
        raise NotImplementedError

    def unreadable(self) -> list[str]:
        """Frames passed over because they could not be read, each with the reason (drained)."""
        return []


class VideoSource(Source):
    """A video file, a capture device or a network stream, decoded by PyAV."""

    def __init__(self, target: str, live: bool, container_format: str | None = None,
                 options: dict[str, str] | None = None):
        self.target, self.live, self.format, self.options = target, live, container_format, options or {}
        self.description = ("stream " if live else "video ") + target

    def _open(self):
        import av

        try:
            container = av.open(self.target, format=self.format, options=self.options,
                                timeout=(CONNECT_TIMEOUT_S, CONNECT_TIMEOUT_S))
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"{self.target}: cannot be opened ({_reason(exc)})") from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.target}: has no video stream")
        return container

    def frames(self, after: str | None) -> Iterator[Frame]:
        import av

        skip_to = int(after.split()[-1]) + 1 if after and not self.live else 0
        index, tries, reason = 0, 0, ""
        while True:
            try:
                container = self._open()
            except SourceError as exc:
                if index == 0 or not self.live:  # never connected: say so at once
                    raise
                container, reason = None, str(exc).split(": ", 1)[-1]
            if container is not None:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                try:
                    for frame in container.decode(stream):
                        if index >= skip_to:
                            yield Frame(index, f"frame {index}", None if frame.time is None else float(frame.time),
                                        frame.to_ndarray(format="rgb24"))
                            tries = 0
                        index += 1
                    reason = "the stream ended"
                except av.error.FFmpegError as exc:
                    if not self.live:
                        raise SourceError(f"{self.target}: unreadable after frame {index} ({_reason(exc)})") from None
                    reason = f"the stream stopped ({_reason(exc)})"
                finally:
                    container.close()
            if not self.live:
                return
            tries += 1  # a live stream that ends or breaks is reconnected
            if tries > RECONNECT_TRIES:
                raise SourceError(f"{self.target}: {reason}; {RECONNECT_TRIES} reconnections failed")
            time.sleep(min(2 ** (tries - 1), 8))


class FolderSource(Source):
    """Images a camera writes into a folder, in name order, each read once its size stops changing.
    With ``idle_s`` the source ends after that long without a new file (else it waits forever)."""

    def __init__(self, folder: Path, idle_s: float | None = None):
        self.folder, self.idle_s = folder, idle_s
        self.description = f"folder {folder}"
        self._bad: list[str] = []

    def frames(self, after: str | None) -> Iterator[Frame]:
        from PIL import Image, UnidentifiedImageError

        done: set[str] = set()
        sizes: dict[str, int] = {}
        index, idle_since = 0, time.monotonic()
        while True:
            fresh = []
            for path in sorted(self.folder.iterdir()):
                if path.name in done or path.suffix.lower() not in IMAGE_SUFFIXES or (after and path.name <= after):
                    continue
                size = path.stat().st_size
                if sizes.get(path.name) == size:  # unchanged since the last look: the camera has finished it
                    fresh.append(path)
                sizes[path.name] = size
            for path in fresh:
                done.add(path.name)
                try:
                    with Image.open(path) as image:
                        array = to_rgb(image)
                except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
                    self._bad.append(f"{path.name}: not a readable image ({exc})")
                    continue
                yield Frame(index, path.name, None, array)
                index += 1
                idle_since = time.monotonic()
            if self.idle_s is not None and time.monotonic() - idle_since > self.idle_s:
                return
            time.sleep(FOLDER_POLL_S)

    def unreadable(self) -> list[str]:
        bad, self._bad = self._bad, []
        return bad


def open_source(source: str, idle_s: float | None = None) -> Source:
    """A source from what the user typed: a folder, a video file, a device, or a stream URL."""
    if source.isdigit():
        source = f"/dev/video{source}"
    if source.startswith("/dev/video"):
        return VideoSource(source, live=True, container_format="v4l2")
    if "://" in source:
        scheme = source.split("://", 1)[0].lower()
        if scheme == "rtsp":
            return VideoSource(source, live=True, options={"rtsp_transport": "tcp"})
        if scheme in ("http", "https"):
            # an MJPEG camera serves multipart/x-mixed-replace, FFmpeg's "mpjpeg"
            mjpeg = any(source.lower().split("?")[0].endswith(s) for s in ("mjpg", "mjpeg", "/video", "/stream"))
            return VideoSource(source, live=True, container_format="mpjpeg" if mjpeg else None)
        raise SourceError(f"{source}: unsupported stream ({scheme}://); use rtsp://, http:// or https://")
    path = Path(source)
    if path.is_dir():
        return FolderSource(path, idle_s)
    if not path.exists():
        raise SourceError(f"{source}: no such file, folder or device")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise SourceError(f"{path.name}: not a video ({', '.join(sorted(VIDEO_SUFFIXES))}) or a folder of images")
    return VideoSource(str(path), live=False)


@dataclass
class Status:
    """What the watcher has done so far, for the live summary."""
    run_id: int
    read: int = 0
    inspected: int = 0
    skipped: int = 0
    unreadable: int = 0
    alerts: int = 0
    frames_per_s: float = 0.0
    last: str = ""  # the last frame inspected, with its verdict
    ended: str | None = None  # why the run ended
    source_failed: bool = False  # it ended because the source could not be opened or read

    def line(self) -> str:
        return (f"{self.inspected} frames inspected ({self.frames_per_s:.1f}/s), {self.skipped} skipped, "
                f"{self.unreadable} unreadable · {self.alerts} alerts · last: {self.last or '—'}")


class Watcher:
    """Inspect a source's frames as they come and write each alert into the workspace."""

    def __init__(self, ws, inspector: Inspector, source: Source, *, source_name: str, inspector_name: str,
                 realtime: bool = False, max_frames: int | None = None, pixel_mm: float | None = None,
                 resume: bool = True, on_alert: Callable[[dict], None] | None = None,
                 on_status: Callable[[Status], None] | None = None):
        if ws.root is None:
            raise ValueError("a watcher writes its alerts into a workspace folder (not an in-memory workspace)")
        self.ws, self.inspector, self.source = ws, inspector, source
        self.source_name, self.inspector_name = source_name, inspector_name
        self.realtime, self.max_frames, self.pixel_mm = realtime or source.live, max_frames, pixel_mm
        self.on_alert, self.on_status = on_alert, on_status
        earlier = [r for r in ws.repo.runs(source_name) if r.position] if resume and not source.live else []
        self.resume_after = earlier[0].position if earlier else None
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> Status:
        repo = self.ws.repo
        status = Status(repo.start_run(self.source_name, self.inspector_name))
        folder = self.ws.root / "alerts" / f"run-{status.run_id}"
        folder.mkdir(parents=True, exist_ok=True)
        slot: queue.Queue = queue.Queue(maxsize=1)
        reader = threading.Thread(target=self._read, args=(slot, status), daemon=True, name="r1mm-watch-reader")
        reader.start()
        started, last_latest, position = time.monotonic(), 0.0, None
        try:
            while not self._stop.is_set():
                try:
                    frame = slot.get(timeout=0.2)
                except queue.Empty:
                    if not reader.is_alive() and slot.empty():
                        break
                    continue
                if frame is None:  # the reader's end mark
                    break
                check = self.inspector.check(frame.image, pixel_mm=self.pixel_mm)
                status.inspected += 1
                position = frame.name
                status.frames_per_s = status.inspected / max(time.monotonic() - started, 1e-9)
                verdict = f"DEFECT {check.score / check.threshold:.2f}× threshold" if check.defect else "good"
                status.last = f"{frame.name} {verdict}"
                if check.defect:
                    self._alert(status, folder, frame, check)
                if time.monotonic() - last_latest > LATEST_EVERY_S:
                    write_view(folder / "latest", frame.image, check)
                    last_latest = time.monotonic()
                status.unreadable += len(bad := self.source.unreadable())
                for reason in bad:
                    status.last = reason
                repo.update_run(status.run_id, position=position, read=status.read, inspected=status.inspected,
                                skipped=status.skipped, unreadable=status.unreadable)
                if self.on_status is not None:
                    self.on_status(status)
                if self.max_frames is not None and status.inspected >= self.max_frames:
                    status.ended = status.ended or f"{self.max_frames} frames inspected"
                    break
        finally:
            self._stop.set()
            status.unreadable += len(self.source.unreadable())
            status.ended = status.ended or "stopped"
            repo.update_run(status.run_id, position=position, read=status.read, inspected=status.inspected,
                            skipped=status.skipped, unreadable=status.unreadable)
            repo.end_run(status.run_id, status.ended)
        return status

    def _read(self, slot: queue.Queue, status: Status) -> None:
        """Decode frames into the slot: a live source replaces a waiting frame (counted as skipped)."""
        started = time.monotonic()
        try:
            for frame in self.source.frames(self.resume_after):
                if self._stop.is_set():
                    return
                status.read += 1
                if self.realtime and frame.time_s is not None and not self.source.live:
                    time.sleep(max(0.0, frame.time_s - (time.monotonic() - started)))  # play at the file's rate
                if self.realtime:
                    try:
                        slot.get_nowait()
                        status.skipped += 1
                    except queue.Empty:
                        pass
                    slot.put(frame)
                else:
                    self._hand_over(slot, frame)
            status.ended = f"the source ended after {status.read} frames"
        except SourceError as exc:
            status.ended, status.source_failed = str(exc), True
        except Exception as exc:  # a decoder bug ends the run with its reason, never silently
            status.ended = f"{self.source.description}: reading failed ({type(exc).__name__}: {exc})"
            status.source_failed = True
        finally:
            self._hand_over(slot, None)  # the end mark

    def _hand_over(self, slot: queue.Queue, frame: Frame | None) -> None:
        """Wait until the inspector takes the frame (or the watcher stops)."""
        while not self._stop.is_set():
            try:
                slot.put(frame, timeout=0.2)
                return
            except queue.Full:
                continue

    def _alert(self, status: Status, folder: Path, frame: Frame, check: Check) -> None:
        stem = folder / f"alert-{status.alerts + 1:06d}"
        frame_path, heatmap_path = write_view(stem, frame.image, check)
        regions = check.to_json(frame.name)["regions"]
        self.ws.repo.add_alert(status.run_id, frame.name, frame.time_s, check.score, check.threshold, regions,
                               str(frame_path), str(heatmap_path))
        status.alerts += 1
        if self.on_alert is not None:
            self.on_alert({"frame": frame.name, "time_s": frame.time_s, "score": round(check.score, 4),
                           "threshold": round(check.threshold, 4), "regions": regions})


def heatmap_rgb(image: np.ndarray, check: Check) -> np.ndarray:
    """The frame with its anomaly map laid over it: transparent below half the threshold, then
    yellow to red as the score passes the threshold."""
    level = np.clip(check.heatmap / max(check.threshold, 1e-9) - 0.5, 0, 1.5) / 1.5  # 0 .. 1
    colour = np.stack([np.full_like(level, 255), 255 * (1 - level), np.zeros_like(level)], axis=-1)
    alpha = (0.65 * np.minimum(level * 2, 1))[..., None]
    return (to_rgb(image) * (1 - alpha) + colour * alpha).astype(np.uint8)


def write_view(stem: Path, image: np.ndarray, check: Check) -> tuple[Path, Path]:
    """The frame (JPEG) and its heat map overlay (JPEG), each written atomically."""
    from PIL import Image

    from r1mm.store import atomic_write

    frame_path, heatmap_path = stem.with_suffix(".jpg"), stem.with_name(stem.name + "-heatmap.jpg")
    atomic_write(frame_path, lambda p: Image.fromarray(to_rgb(image)).save(p, format="JPEG", quality=92))
    atomic_write(heatmap_path, lambda p: Image.fromarray(heatmap_rgb(image, check)).save(p, format="JPEG", quality=85))
    return frame_path, heatmap_path


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '")[0].strip() or type(exc).__name__
