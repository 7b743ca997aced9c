"""Report and earnings call side by side: figures, the call's timeline and tone, export."""
import pandas as pd
import streamlit as st

from r1mm.analysis.finance import metric_and_period
from r1mm.analysis.speech import prosody
from r1mm.report import analysis_markdown, markdown_to_pdf
from r1mm.types import Modality
from r1mm.ui import common

ws = common.page_setup("Financial")


@st.cache_data(show_spinner="Measuring the call's tone…")
def tone_of(item_id: int) -> list[dict]:
    item = ws.item(item_id)
    return prosody(item.data, item.meta["sample_rate"])


reports = [i for i in ws.items() if i.modality is Modality.TEXT]
calls = [i for i in ws.items() if i.modality is Modality.AUDIO]
if not reports and not calls:
    st.info("No report or call yet. Upload a report PDF and the call recording on the Workspace page, "
            "or try the report + earnings call sample from the sidebar.")
    st.stop()

left, right = st.columns(2)
with left:
    st.subheader("Report")
    if reports:
        report = st.selectbox("Report", reports, format_func=lambda i: i.source)
        figures = [f for f in ws.findings(report.id) if f.kind == "finance.figure"]
        if figures:
            rows = {}
            for f in figures:
                metric, period = metric_and_period(f)
                rows.setdefault(metric, {})[period] = f.value
            table = pd.DataFrame.from_dict(rows, orient="index")
            st.caption(f"Figures in {figures[0].unit} · page {figures[0].locator.page}")
            st.dataframe(table, use_container_width=True)
        derived = [f for f in ws.findings(report.id) if f.kind in ("finance.change", "finance.margin")]
        for f in derived:
            st.markdown(f"- {f.text}")
        if not figures:
            st.warning("No financial table was found in this document.")
    else:
        st.info("No report uploaded.")

with right:
    st.subheader("Earnings call")
    if calls:
        call = st.selectbox("Recording", calls, format_func=lambda i: i.source)
        item = ws.item(call.id)
        st.audio(item.data, sample_rate=item.meta["sample_rate"])
        segments = [f for f in ws.findings(call.id) if f.kind == "audio.segment"]
        st.dataframe(pd.DataFrame([{"start (s)": f.locator.start_s, "end (s)": f.locator.end_s,
                                    "length (s)": f.value} for f in segments]),
                     use_container_width=True, hide_index=True)
        tone = pd.DataFrame(tone_of(call.id)).set_index("t_s")
        st.caption("Tone over time: pitch (Hz) and loudness (dB below the loudest second)")
        st.line_chart(tone["pitch_hz"], x_label="time (s)", y_label="pitch (Hz)", height=180)
        st.line_chart(tone["loudness_db"], x_label="time (s)", y_label="loudness (dB)", height=140)
    else:
        st.info("No call recording uploaded.")

st.subheader("Claims on the call against the report")
st.info("Checking what was said against the report needs a transcript, and no speech recognition model is "
        "loaded yet; the call's speech spans and tone are shown above.")

st.subheader("Ask")
question = st.text_input("Question", placeholder="How much did net income change year over year?",
                         key="fin-question")
if question:
    common.show_answer(ws, ws.ask(question), key="fin")

st.subheader("Export")
markdown = analysis_markdown(ws, "R1-MM financial analysis")
c1, c2 = st.columns(2)
c1.download_button("Markdown", markdown, file_name="r1mm-analysis.md", mime="text/markdown")
c2.download_button("PDF", markdown_to_pdf(markdown), file_name="r1mm-analysis.pdf", mime="application/pdf")
