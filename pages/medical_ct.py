"""CT: browse a series, window it, see findings in millimetres, ask about it."""
import streamlit as st

from r1mm import render
from r1mm.analysis.medical import WINDOWS
from r1mm.types import Modality
from r1mm.ui import common

ws = common.page_setup("Medical CT")

series = [i for i in ws.items() if i.modality is Modality.CT]
if not series:
    st.info("No CT series yet. Upload a zip or folder of DICOM files on the Workspace page, "
            "or try the CT sample from the sidebar.")
    st.stop()

labels = {i.id: f"{i.source} · {i.meta.get('slices')} slices · "
                f"{' × '.join(f'{v:.2f}' for v in i.meta.get('spacing_mm', []))} mm" for i in series}
chosen = st.selectbox("Series", list(labels), format_func=labels.get)
record = next(i for i in series if i.id == chosen)
item = ws.item(chosen)
findings = ws.findings(chosen)
lesions = [f for f in findings if f.kind in ("ct.nodule", "ct.mass")]

left, right = st.columns([3, 2])
with right:
    preset = st.radio("Window", list(WINDOWS), horizontal=True, key="ct-window")
    level0, width0 = WINDOWS[preset]
    level = st.slider("Level (HU)", -1200, 1200, int(level0), key=f"level-{preset}")
    width = st.slider("Width (HU)", 1, 4000, int(width0), key=f"width-{preset}")
    plane = st.radio("Plane", ["axial", "coronal", "sagittal"], horizontal=True)
    jump = st.selectbox("Go to", ["—"] + [f.text.split(":")[0] for f in lesions])
    depth = {"axial": item.data.shape[0], "coronal": item.data.shape[1], "sagittal": item.data.shape[2]}[plane]
    default = depth // 2
    highlight = None
    if jump != "—":
        lesion = lesions[[f.text.split(":")[0] for f in lesions].index(jump)]
        if plane == "axial":
            default, highlight = lesion.locator.slice, lesion.locator.bbox_mm
    index = st.slider(f"{plane.capitalize()} slice", 1, depth, default + 1, key=f"slice-{plane}-{jump}") - 1
    if plane == "axial" and highlight is None:
        here = [f for f in lesions if f.locator.slice == index]
        highlight = here[0].locator.bbox_mm if here else None
    positions = item.arrays.get("slice_positions_mm")
    if plane == "axial" and positions is not None:
        st.caption(f"Slice {index + 1} of {depth} at {positions[index]:.1f} mm along the slice normal")

with left:
    st.image(render.ct_slice_image(item, index, level, width, plane=plane, bbox_mm=highlight),
             caption=f"{plane} · L {level} / W {width} HU")

st.subheader("Findings")
for f in findings:
    st.markdown(f"- {f.text}" + (f" · *{f.locator.describe()}*" if f.locator.slice is not None else ""))

st.subheader("Ask about this series")
question = st.text_input("Question", placeholder="How large is the largest nodule and in which lung?",
                         key="ct-question")
if question:
    common.show_answer(ws, ws.ask(question), key="ct")
