"""Point clouds: the part in 3D, its dimensions, and surface defects coloured by deviation."""
import streamlit as st

from r1mm import render
from r1mm.analysis.geometry import MAX_ANALYSED, plane_deviation
from r1mm.types import Modality
from r1mm.ui import common

ws = common.page_setup("Point cloud")

clouds = [i for i in ws.items() if i.modality is Modality.POINTCLOUD]
if not clouds:
    st.info("No point cloud yet. Upload a PLY, PCD, XYZ, PTS, OBJ or STL file on the Workspace page, "
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
colour = st.toggle("Colour by deviation from the main plane", value=True)
points = item.data
deviation = plane_deviation(points) if colour and len(points) <= 4 * MAX_ANALYSED else None
st.plotly_chart(render.pointcloud_figure(points, region=region, colour_by=deviation,
                                         colour_label=f"deviation ({unit})"), use_container_width=True)
st.caption("Downsampled to 30,000 points for the browser; measurements use the full cloud.")

st.subheader("Findings")
for f in findings:
    st.markdown(f"- {f.text}")

st.subheader("Ask about this part")
question = st.text_input("Question", placeholder="How deep is the deepest dent and where?", key="pc-question")
if question:
    common.show_answer(ws, ws.ask(question), key="pc")
