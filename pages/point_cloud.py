"""Point clouds: the part in 3D, its dimensions, and surface defects coloured by deviation."""
import numpy as np
import streamlit as st

from r1mm import render
from r1mm.analysis.geometry import MAX_ANALYSED, inspect
from r1mm.types import Modality
from r1mm.ui import common

ws = common.page_setup("Point cloud")

clouds = [i for i in ws.items() if i.modality is Modality.POINTCLOUD]
if not clouds:
    st.info("No point cloud yet. Upload a PLY, LAS, LAZ, PCD, XYZ, PTS, OBJ or STL file on the Workspace page, "
            "or try the scanned-part sample from the sidebar.")
    st.stop()

chosen = st.selectbox("Scan", [c.id for c in clouds],
                      format_func=lambda i: next(f"{c.source} · {c.meta['points']:,} points · {c.meta['units']}"
                                                 for c in clouds if c.id == i))
item = ws.item(chosen)
unit = item.meta["units"]
findings = ws.findings(chosen)
defects = [f for f in findings if f.kind in ("pointcloud.dent", "pointcloud.bump")]

options = ["none"] + [f.text.split(":")[0] for f in defects]
focus = st.radio("Highlight", options, horizontal=True)
region = defects[options.index(focus) - 1].locator.region if focus != "none" else None
# a LiDAR tile is terrain, not a part: it has no fitted surfaces to deviate from
colour = not item.meta.get("lidar") and st.toggle("Colour by deviation from the fitted surfaces", value=True)


@st.cache_data(show_spinner="Fitting the part's surfaces…")
def surfaces_of(item_id: int) -> tuple[np.ndarray, np.ndarray, str]:
    seen = inspect(ws.item(item_id).data)  # the points and fit the findings were measured on
    if seen.fit is None:
        return seen.points, np.zeros(len(seen.points)), "none (too few points to fit)"
    return seen.points, np.nan_to_num(seen.fit.deviation), seen.fit.description


if colour:
    points, deviation, description = surfaces_of(chosen)
    st.caption(f"Fitted surfaces: {description}; colour = signed deviation in {unit} (blue out, red in).")
else:
    points, deviation = item.data, None
st.plotly_chart(render.pointcloud_figure(points, region=region, colour_by=deviation,
                                         colour_label=f"deviation ({unit})"), use_container_width=True)
st.caption(f"Downsampled to 30,000 points for the browser; measurements use up to {MAX_ANALYSED:,} points of the "
           "scan (voxel centroids: a larger scan is thinned evenly first).")

st.subheader("Findings")
for f in findings:
    st.markdown(f"- {f.text}")

others = [c for c in clouds if c.id != chosen]
if others:
    st.subheader("Compare with a reference")
    reference = st.selectbox("Reference scan or mesh", [None] + [c.id for c in others], key="pc-reference",
                             format_func=lambda i: "—" if i is None else next(c.source for c in others if c.id == i))
    if reference is not None:
        with st.spinner("Aligning (ICP) and measuring deviations…"):
            for f in ws.compare_to_reference(chosen, reference):
                st.markdown(f"- {f.text}")

st.subheader("Ask about this part")
question = st.text_input("Question", placeholder="How deep is the deepest dent and where?", key="pc-question")
if question:
    common.show_answer(ws, ws.ask(question), key="pc")
