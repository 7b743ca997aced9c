"""Line inspection: learn good parts from images, check parts, and watch a camera with its alerts."""
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import streamlit as st
from PIL import Image

from r1mm import render
from r1mm.inspection import Inspector
from r1mm.inspection.watch import heatmap_rgb
from r1mm.ui import common
from r1mm.workspace import LINE_INSPECTOR

ws = common.page_setup("Line inspection")
inspector = ws.line_inspector


def read_uploads(files) -> tuple[list[tuple[str, Image.Image]], list[str]]:
    images, errors = [], []
    for upload in files:
        try:
            with Image.open(io.BytesIO(upload.getvalue())) as image:
                image.load()
                images.append((upload.name, image.copy()))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            errors.append(f"{upload.name}: not a readable image ({exc})")
    return images, errors


# ---- 1 · learn good parts -------------------------------------------------------------------
st.subheader("1 · Learn what a good part looks like")
if inspector is not None:
    st.success(f"Line inspector: PatchCore fitted on {inspector.images_fitted} good images; threshold "
               f"{inspector.threshold:.4g} (set for {inspector.false_alarm_rate:.1%} false alarms on held-out "
               f"good images){'; parts aligned' if inspector.reference is not None else ''}"
               f"{f'; pixel size {inspector.pixel_mm:g} mm' if inspector.pixel_mm else ''}.")
good = st.file_uploader("Images of defect-free parts (10–500)", type=["png", "jpg", "jpeg", "bmp", "tif", "tiff"],
                        accept_multiple_files=True, key="good-parts")
left, middle, right = st.columns(3)
false_alarms = left.number_input("False alarms allowed on good parts (%)", 0.1, 20.0, 1.0, 0.1)
pixel_mm = middle.number_input("Pixel size on the part (mm, 0 = unknown)", 0.0, 100.0, 0.0, 0.01)
align = right.checkbox("Align parts to the first good one (parts shifted or turned on the belt)")
# the count is of uploads that have arrived: the button says how many the fit will use
fit = st.button(f"Fit the line inspector ({len(good or [])} images)", type="primary", disabled=not good)
if fit:
    images, errors = read_uploads(good or [])
    for error in errors:
        st.error(error)
    if len(images) < 2:
        st.error(f"Fitting needs at least 2 good images (got {len(images)}): some are held out to set the threshold.")
    else:
        bar = st.progress(0.0, text="Taking patch features of the good parts…")
        fitted = Inspector.fit([im for _, im in images], false_alarm_rate=false_alarms / 100, align_parts=align,
                               progress=lambda done, total: bar.progress(done / total,
                                                                         text=f"{done} of {total} good images"))
        fitted.pixel_mm = pixel_mm or None
        bar.progress(1.0, text="Checking the images already in the workspace…")
        again = ws.set_line_inspector(fitted)
        bar.empty()
        st.session_state.fit_message = (f"Fitted on {fitted.images_fitted} good images "
                                        f"({len(images) - fitted.images_fitted} held out); threshold "
                                        f"{fitted.threshold:.4g}. {again} image(s) in the workspace checked again.")
        st.rerun()
if "fit_message" in st.session_state:
    st.info(st.session_state.pop("fit_message"))
if inspector is None:
    st.info("Upload images of good parts to fit the line's inspector; then check parts or watch a camera.")
    st.stop()

threshold = st.number_input("Threshold (the anomaly score above which a part is flagged)", 0.0, None,
                            float(inspector.threshold), format="%.4g", key="threshold")
if abs(threshold - inspector.threshold) > 1e-9 and st.button("Use this threshold for the line"):
    inspector.threshold = threshold
    ws.set_line_inspector(inspector)
    st.rerun()

# ---- 2 · check parts ------------------------------------------------------------------------
st.subheader("2 · Check parts")
parts = st.file_uploader("Images of parts to check", type=["png", "jpg", "jpeg", "bmp", "tif", "tiff"],
                         accept_multiple_files=True, key="parts")
if parts:
    images, errors = read_uploads(parts)
    for error in errors:
        st.error(error)
    for name, image in images:
        result = inspector.check(image)
        verdict = (f"**{name}: DEFECT** — score {result.score:.4g} > threshold {result.threshold:.4g}"
                   if result.defect else f"**{name}: good** — score {result.score:.4g} ≤ threshold {result.threshold:.4g}")
        st.markdown(verdict)
        for k, region in enumerate(result.regions, start=1):
            area = f"{region.area_px:,} px" + (f" ({region.area_mm2:.2f} mm²)" if region.area_mm2 is not None else "")
            st.markdown(f"- region {k}: box {list(region.box)}, area {area}")
        left, right = st.columns(2)
        left.image(render.outlined(image, [r.box for r in result.regions]), caption=f"{name}: defect regions boxed")
        right.image(heatmap_rgb(image, result), caption="anomaly heat map (yellow → red above the threshold)")
    if st.button("Add these parts to the workspace (to ask about them)"):
        folder = Path(tempfile.mkdtemp(prefix="r1mm-parts-"))
        for upload in parts:
            (folder / Path(upload.name).name).write_bytes(upload.getvalue())
            common.submit(ws, folder / Path(upload.name).name, upload.name)
        shutil.rmtree(folder, ignore_errors=True)  # each part's upload is kept in the workspace
        st.success("Added: ask on the Workspace page, e.g. “Is this part defective?”")

# ---- 3 · watch a camera ---------------------------------------------------------------------
st.subheader("3 · Watch a camera")
runs = ws.repo.runs()
running = [r for r in runs if r.running]
source = st.text_input("Source: a video file, a folder the camera writes images into, a device (/dev/video0) "
                       "or an rtsp:// or http:// MJPEG stream", key="watch-source")
left, right = st.columns(2)
if left.button("Start watching", disabled=not source or bool(running), type="primary"):
    log = open(ws.root / "watch.log", "ab")
    subprocess.Popen([sys.executable, "-m", "r1mm", "watch", source, "--inspector", str(ws.root / LINE_INSPECTOR),
                      "--workspace", str(ws.root), "--quiet"],
                     stdout=log, stderr=log, start_new_session=True)
    log.close()
    st.toast(f"Watching {source}")
if right.button("Stop", disabled=not running):
    for run in running:
        os.kill(run.pid, signal.SIGTERM)


@st.fragment(run_every=1.0)
def live_view() -> None:
    runs = ws.repo.runs()
    if not runs:
        st.caption("No watch yet.")
        return
    run = runs[0]
    state = "watching" if run.running else f"ended: {run.reason or 'stopped'}"
    st.markdown(f"**{run.source}** — {state} · {run.frames_inspected} frames inspected, {run.frames_skipped} "
                f"skipped (inspector busy), {run.frames_unreadable} unreadable · **{run.alerts} alerts**")
    latest = ws.root / "alerts" / f"run-{run.id}" / "latest.jpg"
    if latest.exists():
        left, right = st.columns(2)
        left.image(str(latest), caption=f"current frame ({run.position})")
        right.image(str(latest.with_name("latest-heatmap.jpg")), caption="its anomaly heat map")
    alerts = ws.repo.alerts(run.id)
    if not alerts:
        return
    st.markdown("**Alert log** (newest first)")
    st.dataframe([{"frame": a.frame, "time (s)": None if a.time_s is None else round(a.time_s, 2),
                   "score": round(a.score, 3), "× threshold": round(a.score / a.threshold, 2),
                   "box (px)": str(a.regions[0]["box"]) if a.regions else "—",
                   "area (px)": a.regions[0]["area_px"] if a.regions else 0} for a in alerts],
                 hide_index=True, use_container_width=True)
    by_id = {a.id: a for a in alerts}
    chosen = by_id[st.selectbox("Open an alert", list(by_id), key="alert",
                                format_func=lambda i: f"{by_id[i].frame}: score {by_id[i].score:.4g} "
                                                      f"({by_id[i].score / by_id[i].threshold:.1f}× threshold)")]
    left, right = st.columns(2)
    if Path(chosen.frame_path).exists():
        with Image.open(chosen.frame_path) as frame:
            left.image(render.outlined(frame, [r["box"] for r in chosen.regions]),
                       caption=f"{chosen.frame}: " + "; ".join(f"box {r['box']}, {r['area_px']} px" for r in chosen.regions))
        right.image(chosen.heatmap_path, caption="anomaly heat map")
    else:
        left.warning(f"{chosen.frame}: the saved frame is missing ({chosen.frame_path})")


live_view()
