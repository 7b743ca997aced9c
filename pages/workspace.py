"""Workspace: drop in files, ask questions, see the evidence behind every answer."""
import streamlit as st

from r1mm.modalities import specs
from r1mm.ui import common

ws = common.page_setup("Workspace")

st.markdown("Drop in a report and its earnings call, a CT series (a zip of DICOM files), "
            "a photo or chart, or a 3D scan, then ask about them. Every answer cites its evidence.")
uploads = st.file_uploader("Files", accept_multiple_files=True, key="uploader",
                           help=" · ".join(", ".join(dict.fromkeys(s.formats.values())) for s in specs()))
common.ingest_uploads(ws, uploads)

with st.expander(f"Files in this workspace ({len(ws.files())})", expanded=True):
    common.live_file_list(ws)
with st.expander("Search inside images, recordings, CT series and scans"):
    common.media_search(ws)

st.subheader("Questions")
history = ws.history()
for k, exchange in enumerate(history):
    st.chat_message("user").write(exchange.question)
    with st.chat_message("assistant"):
        common.show_answer(ws, exchange.answer, key=f"h{k}")

question = st.chat_input("Ask about your files, e.g. “How large is the largest nodule?”")
if question:
    st.chat_message("user").write(question)
    with st.chat_message("assistant"):
        stream = ws.ask_stream(question)
        draft_box = st.empty()
        with draft_box.container():
            draft = st.write_stream(stream)
        answer = stream.answer
        if stream.replaced:  # a refused draft stays visible only struck through, never as an answer
            draft_box.caption(f"Draft not used: ~~{str(draft).strip()}~~")
            st.warning(f"The language model's draft was replaced by the findings: {stream.replaced}.")
            st.write(answer.text)
        st.caption(f"{answer.model} · {answer.timings.get('total_s', 0) * 1000:.0f} ms")
        if answer.evidence:
            common.evidence_panel(ws, answer.evidence, key=f"h{len(history)}")
