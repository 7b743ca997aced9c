"""R1-MM: the entry point. It names the pages; each page lives in pages/ and talks only to r1mm.Workspace."""
import streamlit as st

PAGES = [
    st.Page("pages/workspace.py", title="Workspace", icon=":material/forum:", default=True),
    st.Page("pages/medical_ct.py", title="Medical CT", icon=":material/radiology:", url_path="Medical_CT"),
    st.Page("pages/financial.py", title="Financial", icon=":material/monitoring:", url_path="Financial"),
    st.Page("pages/point_cloud.py", title="Point cloud", icon=":material/view_in_ar:", url_path="Point_cloud"),
    st.Page("pages/line_inspection.py", title="Line inspection", icon=":material/precision_manufacturing:",
            url_path="Line_inspection"),
    st.Page("pages/model_lab.py", title="Model lab", icon=":material/hub:", url_path="Model_lab"),
]

st.navigation(PAGES).run()
