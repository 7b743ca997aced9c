"""Images of product surfaces for visual inspection, with planted defects of known place: brushed
metal and a printed label, good ones varying in lighting, position and noise."""
from __future__ import annotations

import numpy as np

SIDE = 256


def brushed_metal(rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """8-bit grey: horizontal brushing streaks, a lighting gradient, sensor noise."""
    streaks = rng.normal(128, 6, (side, 1)) + rng.normal(0, 10, (side, side))
    light = np.linspace(-1, 1, side)[None, :] * rng.uniform(-12, 12) + rng.uniform(-15, 15)
    return np.clip(streaks + light, 0, 255).astype(np.uint8)


def printed_label(rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """RGB: a white label with dark bars and a red block, shifted a few pixels, lit unevenly."""
    image = np.full((side, side, 3), 235.0)
    dx, dy = rng.integers(-4, 5, 2)
    for k in range(6):
        y = 40 + 28 * k + dy
        image[y:y + 10, 40 + dx:200 + dx] = 30.0
    image[200 + dy:230 + dy, 60 + dx:120 + dx] = (200.0, 30.0, 30.0)
    image *= rng.uniform(0.85, 1.1)
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def plant(image: np.ndarray, kind: str, rng: np.random.Generator, size: int = 24) -> tuple[np.ndarray, tuple]:
    """A defect of about ``size`` pixels: a scratch, a stain, a hole showing the background, or a
    missing feature (a patch in the surface's plain colour: print missing, a hole filled, texture
    worn flat). Returns the image and the defect's box (x0, y0, x1, y1)."""
    out = image.astype(np.float64).copy()
    h, w = out.shape[:2]
    x0, y0 = (int(v) for v in rng.integers(30, min(h, w) - 30 - size, 2))
    plain = np.median(image.reshape(-1, *image.shape[2:]), axis=0)
    if kind == "missing":  # where a feature is (print, a hole's edge): a plain patch there is a defect
        for _ in range(100):
            if np.abs(image[y0:y0 + size // 2, x0:x0 + size].astype(np.float64) - plain).mean() > 25:
                break
            x0, y0 = (int(v) for v in rng.integers(30, min(h, w) - 30 - size, 2))
    if kind == "scratch":  # dark on a light surface, light where it crosses dark print: always visible
        for t in range(size * 2):
            y, x = y0 + t // 4, x0 + t // 2
            out[y:y + 2, x] = 40 if image[y:y + 2, x].mean() > 100 else 220
        box = (x0, y0, x0 + size + 1, y0 + size // 2 + 2)
    elif kind == "stain":
        yy, xx = np.mgrid[:h, :w]
        blob = 45 * np.exp(-((yy - y0 - size / 2) ** 2 + (xx - x0 - size / 2) ** 2) / (2 * (size / 4) ** 2))
        out -= blob if out.ndim == 2 else blob[:, :, None]
        box = (x0, y0, x0 + size, y0 + size)
    elif kind == "missing":  # print missing, a hole filled, texture worn flat: the surface's plain colour
        out[y0:y0 + size // 2, x0:x0 + size] = plain
        box = (x0, y0, x0 + size, y0 + size // 2)
    else:  # "hole"
        out[y0:y0 + size // 2, x0:x0 + size // 2] = 0
        box = (x0, y0, x0 + size // 2, y0 + size // 2)
    return np.clip(out, 0, 255).astype(np.uint8), box


def textile(rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """8-bit grey: a woven pattern (two crossing sine gratings), its phase and contrast varying."""
    yy, xx = np.mgrid[:side, :side].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi, 2)
    weave = np.sin(xx / 3.0 + phase[0]) * np.sin(yy / 3.0 + phase[1])
    image = 128 + rng.uniform(30, 40) * weave + rng.normal(0, 5, (side, side)) + rng.uniform(-10, 10)
    return np.clip(image, 0, 255).astype(np.uint8)


def moulded_part(rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """8-bit grey: a grey moulded plate on a dark belt with four round holes, shifted a few pixels."""
    yy, xx = np.mgrid[:side, :side]
    dx, dy = rng.integers(-3, 4, 2)
    image = np.full((side, side), 30.0)
    image[24 + dy:232 + dy, 24 + dx:232 + dx] = 150.0 + rng.uniform(-10, 10)
    for cy, cx in ((70, 70), (70, 186), (186, 70), (186, 186)):
        image[(yy - cy - dy) ** 2 + (xx - cx - dx) ** 2 <= 14 ** 2] = 30.0
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


SURFACES = {"brushed metal": brushed_metal, "printed label": printed_label, "textile": textile,
            "moulded part with holes": moulded_part}


def write_line_video(path, make, rng: np.random.Generator, frames: int = 40, defect_frames=(10, 25),
                     fps: int = 10) -> list[tuple[int, tuple]]:
    """A production-line video (MPEG-4 in MP4, or MJPEG in AVI by suffix) of parts made by ``make``,
    with a planted defect in ``defect_frames``; returns [(frame, box)] of the planted defects."""
    import av

    planted = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg" if str(path).endswith(".avi") else "mpeg4", rate=fps)
        stream.width = stream.height = SIDE
        stream.pix_fmt = "yuvj420p" if str(path).endswith(".avi") else "yuv420p"
        stream.options = {"qmin": "1", "qmax": "2"} if str(path).endswith(".avi") else {}
        stream.bit_rate = 4_000_000
        for index in range(frames):
            image = make(rng)
            if index in defect_frames:
                image, box = plant(image, ("hole", "scratch", "stain")[len(planted) % 3], rng, size=28)
                planted.append((index, box))
            rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return planted
