"""Model lab: what answered each question, and how long each stage took."""
import pandas as pd
import streamlit as st

from r1mm.workspace import COMPONENTS
from r1mm.ui import common

ws = common.page_setup("Model lab")

st.warning("No language model is loaded: answers are composed from measured findings, so there is no expert "
           "routing, router entropy or KV memory to show yet. This page shows them per answer once the "
           "Mixture-of-Experts decoder is loaded.")
st.table(pd.DataFrame(COMPONENTS, columns=["part", "what runs"]))

history = ws.history()
if not history:
    st.info("Ask a question on the Workspace page to see its timings here.")
    st.stop()
rows = [{"question": ex.question, "answered by": ex.answer.model, "evidence": len(ex.answer.evidence),
         **{k: v * 1000 for k, v in ex.answer.timings.items()}} for ex in history]
st.subheader("Answers")
st.dataframe(pd.DataFrame(rows).rename(columns=lambda c: c.replace("_s", " (ms)")), use_container_width=True,
             hide_index=True)
latest = history[-1].answer
if latest.routing:
    st.json(latest.routing)
