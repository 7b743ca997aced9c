"""Report and earnings call side by side: figures, the call's timeline and tone, export."""
import pandas as pd
import streamlit as st

from r1mm.analysis.speech import prosody
from r1mm.report import analysis_markdown, markdown_to_pdf
from r1mm.types import Modality
from r1mm.ui import common
from r1mm.ui.statements import metrics_frame, show_statements

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
        metrics = metrics_frame([f for f in ws.findings(report.id) if f.kind == "finance.fact"])
        if not metrics.empty:
            st.caption("Standard metrics, each from the statement line an answer would cite (latest period first)")
            st.dataframe(metrics, use_container_width=True, height=240)
        else:
            st.warning("No line of an income statement, balance sheet or cash-flow statement was found in this "
                       "document.")
    else:
        st.info("No report uploaded.")

with right:
    st.subheader("Earnings call")
    if calls:
        call = st.selectbox("Recording", calls, format_func=lambda i: i.source)
        item = ws.item(call.id)
        st.audio(item.data, sample_rate=item.meta["sample_rate"])
        call_findings = ws.findings(call.id)
        utterances = [f for f in call_findings if f.kind == "speech.utterance"]
        if utterances:
            st.caption("Transcript (Whisper base); voices told apart by GE2E speaker embeddings (resemblyzer), clustered")
            st.dataframe(pd.DataFrame([{"start (s)": f.locator.start_s, "end (s)": f.locator.end_s,
                                        "voice": f.text.split(",")[0], "said": f.value} for f in utterances]),
                         use_container_width=True, hide_index=True, height=240)
        else:
            for f in call_findings:
                if f.kind == "speech.unavailable":
                    st.warning(f.text)
        tone = pd.DataFrame(tone_of(call.id)).set_index("t_s")
        st.caption("Tone over time: pitch (Hz) and loudness (dB below the loudest second)")
        st.line_chart(tone["pitch_hz"], x_label="time (s)", y_label="pitch (Hz)", height=180)
        st.line_chart(tone["loudness_db"], x_label="time (s)", y_label="loudness (dB)", height=140)
        sentiment = [f for f in call_findings if f.kind == "speech.tone"]
        if sentiment:
            st.caption("Tone of what was said (VADER with a finance lexicon, −1 to +1)")
            st.bar_chart(pd.DataFrame({"start (s)": [f.locator.start_s for f in sentiment],
                                       "tone": [f.value for f in sentiment]}).set_index("start (s)"), height=140)
    else:
        st.info("No call recording uploaded.")

if reports:
    st.subheader("Statements")
    show_statements(ws.item(report.id), key="fin")

st.subheader("Claims on the call against the report")
checks = ws.claim_checks()
if checks:
    verdict_icon = {"agrees": ":material/check_circle:", "disagrees": ":material/cancel:",
                    "not in report": ":material/help:", "check the recording": ":material/hearing:",
                    "forward-looking": ":material/schedule:"}
    for check in checks:
        st.markdown(f"{verdict_icon.get(check.value['verdict'], ':material/info:')} {check.text}")
else:
    st.info("No figures were stated on the call, or there is no call or report to hold them against.")
risks = [f for f in ws.findings() if f.kind in ("finance.risk", "speech.risk")]
if risks:
    st.subheader("Risks stated")
    for f in risks:
        st.markdown(f"- {f.text} *({f.locator.describe()})*")

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
