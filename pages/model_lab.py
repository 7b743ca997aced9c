"""Model lab: inside the decoder for one answer — experts fired, router entropy, KV memory."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from r1mm.ui import common
from r1mm.workspace import COMPONENTS

ws = common.page_setup("Model lab")
st.table(pd.DataFrame(COMPONENTS, columns=["part", "what runs"]))

model = getattr(ws.decoder, "model", None)  # None: findings only, or a decoder behind a URL
if model is not None:
    modes = ["dense", "top_k", "adaptive"]
    current = model.config.moe_routing
    chosen_mode = st.radio(
        "Routing for the next answers", modes, index=modes.index(current), horizontal=True,
        help=f"dense: every expert, the base model's own answers and the fastest here (the default); top_k: the "
             f"{model.config.moe_top_k} experts the router ranks highest; adaptive: the fewest experts whose router "
             f"probability reaches {model.config.moe_top_p}, more where the router is unsure (high entropy). Both "
             "cost perplexity on this model (python -m r1mm bench decoder). Applies to this server's decoder.")
    if chosen_mode != current:
        model.set_routing(chosen_mode)
    weights = ["int8", "fp32"]
    chosen_weights = st.radio(
        "Layer weights for the answer tokens", weights, index=0 if ws.decoder.int8_layers else 1, horizontal=True,
        help="int8: each answer token is decoded with int8 copies of the attention and FFN weights, a quarter of "
             "the bytes to read (the default; held-out perplexity 61.25 against 62.16 with fp32, `bench decoder`); "
             "fp32: the model's own weights. The "
             "prompt is read in fp32 either way. Applies to this server's decoder.")
    ws.decoder.int8_layers = chosen_weights == "int8"
    st.caption(f"The next answers run {chosen_mode} routing, answer tokens with {chosen_weights} layer weights.")

history = ws.history()
if not history:
    st.info("Ask a question on the Workspace page; its routing and timings show here.")
    st.stop()

rows = [{"question": ex.question, "answered by": ex.answer.model, "evidence": len(ex.answer.evidence),
         **{k.removesuffix("_s") + " (ms)": round(v * 1000, 1) for k, v in ex.answer.timings.items()
            if k.endswith("_s") and k != "tokens_per_s"},
         "decode (tokens/s)": ex.answer.timings.get("tokens_per_s")}
        for ex in history]
st.subheader("Answers")
st.dataframe(pd.DataFrame(rows), use_container_width=True, hide_index=True)

with_routing = [(k, ex) for k, ex in enumerate(history) if ex.answer.routing.get("layers")]
if not with_routing:
    st.info("No answer here was written by the R1 decoder, so there is no routing to show. Turn on "
            "“Write answers with the R1 decoder” in the sidebar and ask again.")
    st.stop()

labels = {k: f"{k + 1}. {ex.question[:80]}" for k, ex in with_routing}
chosen = st.selectbox("Answer", [k for k, _ in with_routing][::-1], format_func=labels.get)
routing = history[chosen].answer.routing
layers = routing["layers"]

c1, c2, c3, c4 = st.columns(4)
c1.metric("Tokens (prompt + answer)", routing["tokens"])
c2.metric("Routed experts per token", f"{np.mean([l['experts_per_token'] for l in layers]):.1f} "
                                      f"of {routing['num_experts']}")
c3.metric("FFN compute vs dense", f"{routing['ffn_flops_vs_dense'] * 100:.0f} %")
kv, full = routing["kv_bytes"], routing["kv_bytes_full_attention"]
c4.metric("KV memory", f"{kv / 2**20:.2f} MiB", f"{kv / full * 100:.0f} % of full attention ({full / 2**20:.2f} MiB)",
          delta_color="off")
st.caption(f"Routing mode: {routing['routing_mode']}; answer tokens decoded with "
           f"{routing.get('answer_weights', 'fp32')} layer weights. Entropy is in nats; a router that is unsure (high "
           "entropy) spreads probability and adaptive routing then runs more experts.")
if routing.get("kv_memory") == "blocks":
    on_disk = routing.get("kv_disk_bytes", 0)
    st.caption(f"Memory: block memory. The full-attention layers keep the first tokens, the last "
               f"{routing['kv_local']:,} and, from older text, {routing['kv_block']}-token blocks recalled by the question"
               + (f"; {on_disk / 2**20:.1f} MiB of older blocks wait on disk." if on_disk else
                  "; this prompt was short enough to stay whole in the local window."))

st.subheader("Which experts fired, per layer")
use = np.array([l["expert_use"] for l in layers]) * 100
fig = go.Figure(go.Heatmap(z=use, x=[f"E{e}" for e in range(use.shape[1])], y=[f"layer {l['layer']}" for l in layers],
                           colorscale="Blues", colorbar={"title": "% of tokens"},
                           hovertemplate="%{y} · %{x}: %{z:.0f} % of tokens<extra></extra>"))
fig.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="routed expert")
st.plotly_chart(fig, use_container_width=True)

st.subheader("Router entropy and experts per layer")
per_layer = pd.DataFrame({"layer": [l["layer"] for l in layers],
                          "mean entropy (nats)": [l["entropy_mean"] for l in layers],
                          "experts per token": [l["experts_per_token"] for l in layers]}).set_index("layer")
left, right = st.columns(2)
left.bar_chart(per_layer["mean entropy (nats)"])
right.bar_chart(per_layer["experts per token"])

st.subheader("Per answer token")
answer_entropy = np.array([l["answer_entropy"] for l in layers])
answer_experts = np.array([l["answer_experts"] for l in layers])
if answer_entropy.size:
    tokens = [f"t{i + 1}" for i in range(answer_entropy.shape[1])]
    tabs = st.tabs(["Router entropy", "Experts used"])
    for tab, z, title, unit in ((tabs[0], answer_entropy, "entropy (nats)", "nats"),
                                (tabs[1], answer_experts, "experts", "experts")):
        heat = go.Figure(go.Heatmap(z=z, x=tokens, y=[f"layer {l['layer']}" for l in layers], colorscale="Viridis",
                                    colorbar={"title": title},
                                    hovertemplate=f"%{{y}} · %{{x}}: %{{z}} {unit}<extra></extra>"))
        heat.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="answer token")
        tab.plotly_chart(heat, use_container_width=True)
    corr = np.corrcoef(answer_entropy.ravel(), answer_experts.ravel())[0, 1] if answer_experts.std() else float("nan")
    st.caption(f"Correlation of router entropy with experts used, over the answer's tokens: {corr:.2f}")
