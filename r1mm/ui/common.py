"""Streamlit pieces shared by the pages: the session's workspace, the sidebar, uploads with
per-file status, and the evidence viewer. Only the app and its pages import this module.
"""
from __future__ import annotations

import importlib
import os
import uuid
from pathlib import Path

import streamlit as st

from r1mm.modalities import modality_spec
from r1mm.types import Answer, Evidence
from r1mm.workers import WorkerPool
from r1mm.workspace import COMPONENTS, FileRecord, Workspace

STATUS_ICON = {"ready": ":material/check_circle:", "failed": ":material/error:",
               "processing": ":material/hourglass_top:", "interrupted": ":material/warning:",
               "cancelled": ":material/cancel:"}
SAMPLE_SETS = {
    "Report + earnings call": ("quarterly_report.pdf", "earnings_call.wav"),
    "CT series (zip)": ("ct_phantom.zip",),
    "Scanned part": ("plate_scan.ply",),
    "Chart image": ("revenue_chart.png",),
}


def workspace_root() -> Path:
    return Path(os.environ.get("R1MM_WORKSPACE", "workspace")).resolve()


def workspace() -> Workspace:
    """This browser session's handle on the workspace folder (shared by all sessions on disk)."""
    if "workspace" not in st.session_state:
        st.session_state.workspace = Workspace(workspace_root())
        st.session_state.workspace.decoder = decoder() if st.session_state.get("use_decoder", True) else None
    return st.session_state.workspace


@st.cache_resource(show_spinner="Loading the R1 decoder…")
def decoder():
    """The R1 decoder, loaded once per server (None when it is not built or R1MM_DECODER=none)."""
    from r1mm.decoder import default_decoder

    return default_decoder()


@st.cache_resource(show_spinner="Writing sample files…")
def samples_dir() -> Path:
    """Sample inputs, generated once per server process."""
    from r1mm.samples import write_samples

    out = workspace_root() / "samples"
    if not (out / "truth.json").exists():
        write_samples(out)
    return out


ASSETS = Path(__file__).resolve().parents[2] / "assets"


def page_setup(title: str) -> Workspace:
    st.set_page_config(page_title=f"R1-MM · {title}", page_icon=str(ASSETS / "logo.svg"), layout="wide")
    st.logo(str(ASSETS / "logo.svg"))
    ws = workspace()
    sidebar(ws)
    st.title(title)
    return ws


def sidebar(ws: Workspace) -> None:
    with st.sidebar:
        st.subheader("Try a sample")
        for label, names in SAMPLE_SETS.items():
            if st.button(label, key=f"sample-{label}", use_container_width=True):
                folder = samples_dir()
                for name in names:
                    submit(ws, folder / name, name)
        st.subheader("Engine")
        language_model_choice(ws)
        for part, what in COMPONENTS:
            st.markdown(f"**{part}**: {what}")
        st.caption(f"Upload limit: {st.get_option('server.maxUploadSize')} MB per file "
                   "(`server.maxUploadSize` in `.streamlit/config.toml`)")
        st.caption(f"Workspace: `{ws.root}`")


def language_model_choice(ws: Workspace) -> None:
    """Pick who writes answers: the R1 decoder (checked against the evidence) or the findings alone."""
    from r1mm.decoder.build import is_built

    loaded = decoder()
    if loaded is None:
        if is_built():
            st.markdown("**Answers**: findings only (`R1MM_DECODER=none`)")
            return
        st.markdown("**Answers**: findings only; the R1 decoder is not built yet.")
        if st.button("Build the R1 decoder (a few minutes, once)", use_container_width=True):
            from r1mm.decoder.build import build

            with st.status("Building the R1 decoder…", expanded=True) as status:
                build(progress=status.write)
                status.update(label="R1 decoder built", state="complete")
            decoder.clear()
            st.session_state.pop("workspace", None)
            st.rerun()
        return
    use = st.toggle("Write answers with the R1 decoder", value=st.session_state.get("use_decoder", True),
                    help=loaded.describe() + ". Each answer is checked against its evidence; numbers it "
                         "cannot support are replaced by the findings.")
    st.session_state.use_decoder = use
    ws.decoder = loaded if use else None
    st.markdown(f"**Decoder**: {loaded.describe()}")


@st.cache_resource
def worker_pool(root: str) -> WorkerPool:
    """The worker processes that read this workspace's files, one pool per server: the page only
    polls the database, so a rerun (a question asked meanwhile, a page switch) stays quick and
    never cuts a read short."""
    return WorkerPool(Path(root))


def submit(ws: Workspace, path: Path, name: str, cleanup: Path | None = None) -> int:
    """List the file at once as queued; a worker process reads it."""
    return worker_pool(str(ws.root)).submit(ws, path, name, cleanup)


def ingest_uploads(ws: Workspace, uploads) -> None:
    """Queue each upload once; it is written to a private folder, deleted once processed."""
    done: set[str] = st.session_state.setdefault("processed_uploads", set())
    for upload in uploads or []:
        if upload.file_id in done:
            continue
        done.add(upload.file_id)
        incoming = ws.root / "incoming" / uuid.uuid4().hex
        incoming.mkdir(parents=True)
        path = incoming / "upload"
        path.write_bytes(upload.getbuffer())
        submit(ws, path, upload.name, cleanup=incoming)


def live_file_list(ws: Workspace) -> None:
    """The file list, refreshed every second while files are processing; the page reruns when they finish."""
    busy = any(f.status == "processing" for f in ws.files())
    st.fragment(_file_list_fragment, run_every=1.0 if busy else None)(ws)


def _file_list_fragment(ws: Workspace) -> None:
    worker_pool(str(ws.root)).wake()  # a worker that died is replaced; its file is read again
    files = ws.files()
    busy = {f.id for f in files if f.status == "processing"}
    was_busy = st.session_state.get("busy_files", set())
    st.session_state.busy_files = busy
    if was_busy and not busy:
        st.rerun()  # new items: let the whole page (findings, viewers) pick them up
    file_list(ws, files)


def file_list(ws: Workspace, files: list[FileRecord]) -> None:
    if not files:
        st.info("No files yet. Drop some above, or try a sample from the sidebar.")
        return
    for rec in files:
        size = _human_size(rec.size_bytes)
        if rec.status == "processing":
            cols = st.columns([9, 1])
            cols[0].progress(rec.progress, text=f"{rec.name} · {size} · {rec.stage or 'queued'}…")
            if cols[1].button("Cancel", key=f"cancel-{rec.id}"):
                worker_pool(str(ws.root)).cancel(rec.id)
                st.rerun()
            continue
        cols = st.columns([8, 1, 1])
        took = sum(rec.timings.values())
        cols[0].markdown(f"{STATUS_ICON.get(rec.status, '')} **{rec.name}** · {size} · {rec.status}"
                         + (f" · {took:.1f} s" if took else ""))
        if rec.status in ("failed", "interrupted", "cancelled") and rec.retryable:
            if cols[1].button("Retry", key=f"retry-{rec.id}"):
                worker_pool(str(ws.root)).retry(ws, rec.id)
                st.rerun()
        if cols[2].button("Remove", key=f"remove-{rec.id}"):
            ws.remove(rec.id)
            st.rerun()
        if rec.status == "cancelled":
            st.info(f"{rec.name}: {rec.error}", icon=":material/info:")
        elif rec.error:
            st.error(rec.error, icon=":material/error:")


def _human_size(n: int) -> str:
    if n >= 100_000:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.0f} kB" if n >= 1000 else f"{n} bytes"


def show_answer(ws: Workspace, answer: Answer, key: str) -> None:
    st.markdown(answer.text)
    st.caption(f"{answer.model} · {answer.timings.get('total_s', 0) * 1000:.0f} ms")
    if answer.evidence:
        evidence_panel(ws, answer.evidence, key)


def evidence_panel(ws: Workspace, evidence: list[Evidence], key: str) -> None:
    """Pick a piece of evidence and see it where it came from."""
    labels = {e.id: f"[{e.id}] {e.locator.describe()}" for e in evidence}
    chosen = st.radio("Evidence", list(labels), format_func=labels.get, key=f"evidence-{key}",
                      horizontal=False)
    show_evidence(ws, next(e for e in evidence if e.id == chosen))


def show_evidence(ws: Workspace, ev: Evidence) -> None:
    loc = ev.locator
    record = ws.item_by_source(loc.source)
    st.caption(ev.text)
    if record is None:
        st.warning(f"{loc.source} is no longer in the workspace.")
        return
    module, function = modality_spec(record.modality).view.split(":")
    getattr(importlib.import_module(module), function)(ws.item(record.id), loc)


def media_search(ws: Workspace) -> None:
    """Search inside images, recordings, CT series and scans by describing what to find."""
    query = st.text_input("Search inside your media", placeholder="e.g. “a dent in a flat surface”, "
                          "“a lung nodule”, “a bar chart”, “an analyst asking a question”", key="media-query")
    if not query:
        return
    matches = ws.search(query, k=5)
    if not matches:
        st.info("No image, recording, CT series or scan has been encoded yet.")
        return
    evidence = [Evidence(f"M{i}", f"{m.modality.value} · similarity {m.score:.2f} in the shared space", m.locator,
                         m.score) for i, m in enumerate(matches, start=1)]
    evidence_panel(ws, evidence, key="media-search")
