"""Command line: python -m r1mm ask | analyze | inspect | watch | samples | bench | serve | serve-model.

    python -m r1mm ask --json --question "How large is the largest nodule?" scan.zip
    python -m r1mm analyze report.pdf call.wav
    python -m r1mm analyze --jobs 2 ./inbox
    python -m r1mm samples ./samples
    python -m r1mm inspect fit good_parts/ --out line3.inspector
    python -m r1mm inspect check --inspector line3.inspector --json new_parts/
    python -m r1mm watch rtsp://camera-3/line --inspector line3.inspector
    python -m r1mm bench ct

A file that cannot be read prints one line on stderr naming the file and the reason, and
the exit code is 2; with --keep-going the other files are still processed.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

EXIT_BAD_INPUT = 2
_results = None  # where results go when `native_output_to_stderr` has moved stdout aside


def emit(text: str, flush: bool = False) -> None:
    """One line of R1-MM's results (an answer, the JSON) on stdout."""
    print(text, file=_results or sys.stdout, flush=flush)


def _progress_files(paths: list[str], quiet: bool):
    from tqdm import tqdm

    return tqdm(paths, desc="reading", unit="file", disable=quiet or len(paths) < 2, file=sys.stderr)


def _ingest(ws, paths: list[str], keep_going: bool, quiet: bool) -> int:
    """Add every path to the workspace; returns how many failed (stops at the first without keep_going)."""
    failed = 0
    for path in _progress_files(paths, quiet):
        record = ws.add(path)
        if not record.ok:
            failed += 1
            print(f"r1mm: {record.error}", file=sys.stderr)
            if not keep_going:
                break
    return failed


def cmd_ask(args: argparse.Namespace) -> int:
    from r1mm.batch import expand
    from r1mm.workspace import Workspace

    if args.model:  # a fine-tune: its decoder writes the answers, its projectors make the media tokens
        from r1mm.sdk import R1Model

        ws = R1Model.from_pretrained(args.model).workspace(args.workspace, keep_phi=args.keep_phi)
    else:
        ws = Workspace(args.workspace, keep_phi=args.keep_phi, decoder=_decoder(args.decoder))
    failed = _ingest(ws, [str(p) for p in expand(args.files)], args.keep_going, quiet=args.json)
    if failed and not args.keep_going:
        return EXIT_BAD_INPUT
    answer = ws.ask(args.question)
    findings = [f.to_dict() for f in ws.findings()]
    if args.json:
        out = {"answer": answer.text, "evidence": [e.to_dict() for e in answer.evidence],
               "findings": findings, "timings": answer.timings, "model": answer.model,
               "files": [{"name": f.name, "status": f.status, "error": f.error} for f in ws.files()]}
        emit(json.dumps(out, ensure_ascii=False))
    else:
        emit(answer.text)
        for e in answer.evidence:
            emit(f"  [{e.id}] {e.locator.describe()}")
    return EXIT_BAD_INPUT if failed else 0


def _decoder(choice: str):
    """None for findings-only answers, else the R1 decoder (built on first use when asked for)."""
    if choice == "none":
        return None
    from r1mm.decoder import default_decoder, load_grounded

    return load_grounded() if choice == "r1" else default_decoder()


def cmd_analyze(args: argparse.Namespace) -> int:
    from r1mm.workspace import Workspace

    from r1mm.batch import analyze_parallel, expand

    inputs = expand(args.files)
    if args.jobs > 1:
        with tempfile.TemporaryDirectory(prefix="r1mm-batch-") as scratch:
            ws = Workspace(args.workspace or scratch, keep_phi=args.keep_phi)
            try:
                return _print_analysis(ws, args, analyze_parallel(ws, inputs, args.jobs, args.keep_going,
                                                                  quiet=args.json))
            finally:
                ws.close()
    ws = Workspace(args.workspace, keep_phi=args.keep_phi)
    failed = _ingest(ws, [str(p) for p in inputs], args.keep_going, quiet=args.json)
    return _print_analysis(ws, args, failed)


def _print_analysis(ws, args: argparse.Namespace, failed: int) -> int:
    if failed and not args.keep_going:
        return EXIT_BAD_INPUT
    if args.json:
        emit(json.dumps({"files": [{"name": f.name, "status": f.status, "error": f.error, "timings": f.timings}
                                    for f in ws.files()],
                          "findings": [f.to_dict() for f in ws.findings()]}, ensure_ascii=False))
    else:
        for item in ws.items():
            emit(f"{item.source} ({item.modality.value})")
            for f in ws.findings(item.id):
                emit(f"  - {f.text}  [{f.locator.describe()}]")
    return EXIT_BAD_INPUT if failed else 0


def cmd_samples(args: argparse.Namespace) -> int:
    from r1mm.samples import write_samples

    truth = write_samples(Path(args.dir))
    for key, entry in truth.items():
        emit(f"{key:11s} {entry.get('file') or 'skipped: ' + entry.get('skipped', '')}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib
    import inspect

    module = importlib.import_module(f"r1mm.bench.{BENCHES[args.suite]}")
    accepted = inspect.signature(module.run).parameters
    options = {k: v for k, v in (("cases", args.cases), ("seconds", args.seconds), ("contexts", args.context),
                                 ("epochs", args.epochs), ("charts", args.charts), ("formats", args.formats),
                                 ("line_items", args.line_items or None), ("speed", args.speed or None),
                                 ("split", args.split), ("parse", args.parse or None),
                                 ("tables", args.tables or None))
               if v is not None}
    unknown = set(options) - set(accepted)
    if unknown:
        print(f"r1mm: bench {args.suite} takes no --{unknown.pop().replace('contexts', 'context')}", file=sys.stderr)
        return EXIT_BAD_INPUT
    result = module.run(**options)
    emit(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def _images(paths: list[str]) -> tuple[list[tuple[str, object]], list[str]]:
    """(name, PIL image) for every readable image among the files and folders; the others' reasons."""
    from PIL import Image, UnidentifiedImageError

    from r1mm.batch import expand

    images, errors = [], []
    for path in expand(paths):
        try:
            with Image.open(path) as image:
                image.load()
                images.append((Path(path).name, image.copy()))
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            errors.append(f"{Path(path).name}: not a readable image ({exc})")
    return images, errors


def cmd_inspect(args: argparse.Namespace) -> int:
    from r1mm.inspection import Inspector

    if args.action == "fit":
        images, errors = _images(args.files)
        for error in errors:
            print(f"r1mm: {error}", file=sys.stderr)
        try:
            inspector = Inspector.fit([im for _, im in images], false_alarm_rate=args.false_alarm_rate,
                                      align_parts=args.align)
            inspector.pixel_mm = args.pixel_mm
        except ValueError as exc:
            print(f"r1mm: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        inspector.save(args.out)
        emit(f"fitted on {inspector.images_fitted} good images ({len(images) - inspector.images_fitted} held out); "
             f"threshold {inspector.threshold:.4g} for {args.false_alarm_rate:.1%} false alarms; saved to {args.out}")
        return 0
    if not args.inspector:
        print("r1mm: inspect check needs --inspector FOLDER (made by `inspect fit`)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        inspector = Inspector.load(args.inspector)
    except ValueError as exc:
        print(f"r1mm: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.threshold is not None:
        inspector.threshold = args.threshold
    images, errors = _images(args.files)
    for error in errors:
        print(f"r1mm: {error}", file=sys.stderr)
    for name, image in images:
        result = inspector.check(image, pixel_mm=args.pixel_mm).to_json(name)
        if args.json:
            emit(json.dumps(result), flush=True)
        else:
            where = "; ".join(f"box {r['box']} ({r['area_px']} px)" for r in result["regions"]) or "no region"
            emit(f"{name}: {'DEFECT' if result['defect'] else 'good'} (score {result['score']:.4g}, "
                 f"threshold {result['threshold']:.4g}); {where}", flush=True)
    return EXIT_BAD_INPUT if errors else 0


def cmd_watch(args: argparse.Namespace) -> int:
    import signal
    import time

    from r1mm.inspection import Inspector
    from r1mm.inspection.watch import SourceError, Watcher, open_source
    from r1mm.workspace import Workspace

    try:
        inspector = Inspector.load(args.inspector)
        source = open_source(args.source, idle_s=args.idle_exit)
    except (ValueError, SourceError) as exc:
        print(f"r1mm: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.threshold is not None:
        inspector.threshold = args.threshold
    tty, last_print = sys.stderr.isatty(), [0.0]

    def show_alert(alert: dict) -> None:
        if args.json:
            emit(json.dumps(alert), flush=True)
        else:
            where = "; ".join(f"box {r['box']} ({r['area_px']} px)" for r in alert["regions"]) or "no region"
            at = f" at {alert['time_s']:.2f} s" if alert["time_s"] is not None else ""
            emit(f"ALERT {alert['frame']}{at}: score {alert['score']:.4g} > {alert['threshold']:.4g}; {where}",
                 flush=True)

    def show_status(status) -> None:  # one line, rewritten in place on a terminal, every 5 s otherwise
        if time.monotonic() - last_print[0] >= (0.5 if tty else 5.0):
            print(("\r" if tty else "") + status.line(), end="" if tty else "\n", file=sys.stderr, flush=True)
            last_print[0] = time.monotonic()

    ws = Workspace(args.workspace or os.environ.get("R1MM_WORKSPACE", "workspace"))
    watcher = Watcher(ws, inspector, source, source_name=args.source, inspector_name=str(Path(args.inspector).resolve()),
                      realtime=args.realtime, max_frames=args.max_frames, pixel_mm=args.pixel_mm,
                      resume=not args.no_resume, on_alert=show_alert, on_status=None if args.quiet else show_status)
    if watcher.resume_after:
        print(f"resuming {args.source} after {watcher.resume_after} (--no-resume starts over)", file=sys.stderr)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: watcher.stop())
    print(f"watching {source.description} (workspace {ws.root}); Ctrl-C stops", file=sys.stderr)
    status = watcher.run()
    print(("\n" if tty else "") + f"{status.line()}\nended: {status.ended}", file=sys.stderr)
    ws.close()
    return EXIT_BAD_INPUT if status.source_failed and status.read == 0 else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from r1mm.api import serve

    serve(Path(args.root), host=args.host, port=args.port, model=args.model)
    return 0


def cmd_serve_model(args: argparse.Namespace) -> int:
    from r1mm.api.model_server import serve_model

    serve_model(args.model, host=args.host, port=args.port)
    return 0


BENCHES = {"ct": "ct", "finance": "finance", "pointcloud": "pointcloud", "api": "api", "decoder": "decoder",
           "latent": "latent", "finetune": "finetune", "projectors": "projectors",
           "answers": "answers", "batch": "batch", "retrieval": "retrieval", "inspection": "inspection",
           "vision": "vision", "contract": "contract", "filings": "filings"}
COMMANDS = {"ask": cmd_ask, "analyze": cmd_analyze, "inspect": cmd_inspect, "watch": cmd_watch, "samples": cmd_samples,
            "bench": cmd_bench, "serve": cmd_serve, "serve-model": cmd_serve_model}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m r1mm", description="R1-MM multimodal analysis workbench")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_files(p: argparse.ArgumentParser) -> None:
        p.add_argument("files", nargs="+", metavar="FILE_OR_FOLDER",
                       help="documents, images, audio, point clouds; a folder or .zip of DICOM files is one CT series")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--keep-going", action="store_true", help="process the other files when one cannot be read")
        p.add_argument("--keep-phi", action="store_true", help="keep DICOM patient identifiers (removed by default)")
        p.add_argument("--workspace", metavar="DIR", help="keep the workspace in DIR (default: in memory)")

    ask = sub.add_parser("ask", help="answer a question about files, with evidence")
    ask.add_argument("--question", "-q", required=True)
    ask.add_argument("--decoder", choices=("auto", "r1", "none"), default="auto",
                     help="who writes the answer: the R1 decoder (auto: when built) or the findings alone")
    ask.add_argument("--model", metavar="DIR", help="a fine-tune saved by R1Model.save_pretrained (its decoder and projectors)")
    with_files(ask)
    analyze = sub.add_parser("analyze", help="list the findings of files (a folder: every file in it)")
    with_files(analyze)
    analyze.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                         help="analyse files in N worker processes (default 1)")
    inspect = sub.add_parser("inspect", help="visual inspection: learn good parts from images, then check images")
    inspect.add_argument("action", choices=("fit", "check"))
    inspect.add_argument("files", nargs="+", metavar="FILE_OR_FOLDER", help="images (fit: of defect-free parts)")
    inspect.add_argument("--out", default="line.inspector", help="fit: the folder to save the inspector to")
    inspect.add_argument("--inspector", metavar="FOLDER", help="check: an inspector saved by `inspect fit`")
    inspect.add_argument("--false-alarm-rate", type=float, default=0.01,
                         help="fit: share of good parts the threshold may flag (default 0.01)")
    inspect.add_argument("--align", action="store_true",
                         help="fit: turn and move every image onto the first good part before comparing (parts that "
                              "lie a few pixels or degrees off on the belt; not for textures)")
    inspect.add_argument("--threshold", type=float, help="check: a threshold to use instead of the fitted one")
    inspect.add_argument("--pixel-mm", type=float, help="pixel size on the part in mm, to give region areas in mm² (fit: kept with the inspector)")
    inspect.add_argument("--json", action="store_true", help="check: one JSON object per image per line")
    watch = sub.add_parser("watch", help="inspect a camera's frames as they come: a video, a folder, a device or a stream")
    watch.add_argument("source", help="a video file, a folder a camera writes images into, a device (/dev/video0 or 0), "
                                      "or an rtsp:// or http(s):// MJPEG stream")
    watch.add_argument("--inspector", required=True, metavar="FOLDER", help="an inspector saved by `inspect fit`")
    watch.add_argument("--workspace", metavar="DIR",
                       help="where alerts are written (default: $R1MM_WORKSPACE or ./workspace, the app's)")
    watch.add_argument("--realtime", action="store_true",
                       help="play a video file at its own frame rate, skipping frames the inspector cannot keep up "
                            "with (live sources always do)")
    watch.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames inspected")
    watch.add_argument("--idle-exit", type=float, metavar="S", help="folder: stop after S seconds without a new image")
    watch.add_argument("--threshold", type=float, help="a threshold to use instead of the fitted one")
    watch.add_argument("--pixel-mm", type=float, help="pixel size in mm, to give region areas in mm²")
    watch.add_argument("--no-resume", action="store_true", help="start over instead of after the last frame inspected")
    watch.add_argument("--json", action="store_true", help="print each alert as one JSON object per line")
    watch.add_argument("--quiet", action="store_true", help="no live summary on stderr")
    samples = sub.add_parser("samples", help="write sample inputs for every modality")
    samples.add_argument("dir")
    serve = sub.add_parser("serve", help="HTTP API (OpenAI-compatible); keys from R1MM_API_KEYS=name:key,…")
    serve.add_argument("--root", default="api-data", help="folder for the per-key workspaces")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--model", metavar="DIR", help="answer with a fine-tune saved by R1Model.save_pretrained")
    serve_model = sub.add_parser("serve-model", help="the R1 decoder alone behind an OpenAI-compatible API "
                                                     "(the backend for R1MM_DECODER_URL)")
    serve_model.add_argument("--model", help="a saved model folder or built decoder name (default: the built decoder)")
    serve_model.add_argument("--host", default="127.0.0.1")
    serve_model.add_argument("--port", type=int, default=8001)
    bench = sub.add_parser("bench", help="measure accuracy and speed on generated data with known answers")
    bench.add_argument("suite", choices=sorted(BENCHES))
    bench.add_argument("--cases", type=int, help="how many generated cases (default: the suite's)")
    bench.add_argument("--seconds", type=float, help="how long a load test runs (api; default 60)")
    bench.add_argument("--context", type=lambda s: tuple(int(x) for x in s.split(",")),
                       help="comma-separated context lengths in tokens for the needle test (decoder; default 32768,65536,131072)")
    bench.add_argument("--epochs", type=int, help="fine-tuning epochs (finetune; default 6)")
    bench.add_argument("--charts", type=int, help="charts drawn and read back (vision; default 100, 0 skips them)")
    bench.add_argument("--formats", type=lambda s: tuple(s.split(",")),
                       help="filing formats the shared bench is asked on (filings; default html,pdf)")
    bench.add_argument("--line-items", action="store_true",
                       help="answer from the filings' line items alone, without a workspace (filings; minutes, not an hour)")
    bench.add_argument("--split", help="ask only our own questions of this split, e.g. heldout3 (filings)")
    bench.add_argument("--parse", action="store_true",
                       help="score the question parse alone against the questions' cells, units and kinds (filings; seconds)")
    bench.add_argument("--tables", action="store_true",
                       help="read the filings' statement tables by R1-MM's reader and by camelot, against their tags "
                            "(filings)")
    bench.add_argument("--speed", action="store_true",
                       help="time reading each filing through the CLI and the app, and answering (filings)")
    return parser


def quiet_libraries() -> None:
    """stderr holds only what the user must act on: no model-loading progress bars or library
    warnings (set before the libraries are imported; --verbose keeps them)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bars
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    warnings.filterwarnings("ignore")


def native_output_to_stderr() -> None:
    """For the rest of the process, R1-MM's results alone reach stdout (`emit`): Python's ``print``
    (which open3d's "[Open3D WARNING] …" goes through) and file descriptor 1 (where C and C++
    libraries write, even from buffers flushed at exit) both point at stderr."""
    global _results
    sys.stdout.flush()
    _results = open(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:
        quiet_libraries()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # never a traceback for the user; R1MM_DEBUG=1 shows it
        if os.environ.get("R1MM_DEBUG"):
            raise
        print(f"r1mm: internal error ({type(exc).__name__}: {exc}); rerun with R1MM_DEBUG=1 for details",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    native_output_to_stderr()
    status = main()
    _results.flush()
    sys.exit(status)
