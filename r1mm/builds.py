"""Versioned, deterministic builds of what R1-MM trains itself (the decoder, the projectors).

A build's cache folder is named by a hash of its inputs: the code that builds it, its config, and
the versions of the packages whose weights or kernels it reads. Code that changed gives another
hash, so a cache built by older code is never used: it is rebuilt, and the log says which input
changed. Each finished build writes ``manifest.json`` with the inputs, their hash, and a SHA-256
of every file it wrote, so two builds can be compared file by file.

Builds run seeded, on a fixed number of threads (float sums depend on how work is split) and
with torch's deterministic algorithms, so two machines of one kind build the same files.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from r1mm.config import cache_dir

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
BUILD_THREADS = 2  # the project's machines have 2 cores; a fixed count keeps float sums the same
_PACKAGE_ROOT = Path(__file__).resolve().parent


@dataclass
class BuildInputs:
    """What a build reads, each part hashed separately so a rebuild can say what changed.

    Args:
        kind: the cache folder it lives under ("decoder", "latent").
        name: the build's name inside it.
        code: module files, relative to the r1mm package, whose code decides the output.
        config: the build's settings (plain JSON).
        packages: distributions whose versions decide the output (weights, kernels).
        tools: commands whose ``--version`` output decides the output (e.g. espeak-ng).
    """
    kind: str
    name: str
    code: list[str]
    config: dict = field(default_factory=dict)
    packages: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)

    def parts(self) -> dict[str, str]:
        out = {f"code {path}": file_sha256(_PACKAGE_ROOT / path) for path in self.code}
        out["config"] = hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()
        out.update({f"package {name}": _version(name) for name in self.packages})
        out.update({f"tool {name}": _tool_version(name) for name in self.tools})
        out["build threads"] = str(BUILD_THREADS)
        return out

    def digest(self, parts: dict[str, str] | None = None) -> str:
        parts = parts if parts is not None else self.parts()
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]

    def folder(self) -> Path:
        return cache_dir() / self.kind / f"{self.name}-{self.digest()}"


def is_built(inputs: BuildInputs) -> bool:
    return (inputs.folder() / MANIFEST).exists()


def why_rebuild(inputs: BuildInputs) -> str:
    """Why the build is needed: not built yet, or which inputs differ from the newest older build."""
    parts = inputs.parts()
    older = sorted((cache_dir() / inputs.kind).glob(f"{inputs.name}-*/{MANIFEST}"), key=lambda p: p.stat().st_mtime)
    older = [p for p in older if p.parent.name != f"{inputs.name}-{inputs.digest(parts)}"]
    if not older:
        return f"{inputs.kind}/{inputs.name} is not built yet"
    before = json.loads(older[-1].read_text()).get("inputs", {})
    changed = sorted(k for k in parts.keys() | before.keys() if parts.get(k) != before.get(k))
    return (f"the cached {inputs.kind}/{inputs.name} was built from other inputs ({', '.join(changed)} changed); "
            "rebuilding")


@contextlib.contextmanager
def deterministic(seed: int = 0) -> Iterator[None]:
    """Seeded, fixed thread count, deterministic torch kernels; restores the caller's settings."""
    import numpy as np
    import torch

    threads, strict = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(BUILD_THREADS)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(strict)


def finish(partial: Path, inputs: BuildInputs, started: float) -> Path:
    """Write the manifest into a finished build's ``partial`` folder, move it into place, and
    remove builds of the same name made from other inputs."""
    files = {str(p.relative_to(partial)): file_sha256(p) for p in sorted(partial.rglob("*")) if p.is_file()}
    parts = inputs.parts()
    manifest = {"kind": inputs.kind, "name": inputs.name, "input_hash": inputs.digest(parts), "inputs": parts,
                "config": inputs.config, "outputs": files,
                "output_hash": hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16],
                "seconds": round(time.perf_counter() - started, 1), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=1))
    target = inputs.folder()
    shutil.rmtree(target, ignore_errors=True)
    partial.replace(target)
    legacy = cache_dir() / inputs.kind / inputs.name  # from before builds were versioned
    for stale in [legacy, *(cache_dir() / inputs.kind).glob(f"{inputs.name}-*")]:
        if stale != target and stale.is_dir() and not stale.name.endswith(".partial"):
            shutil.rmtree(stale, ignore_errors=True)
    return target


def manifest(inputs: BuildInputs) -> dict:
    return json.loads((inputs.folder() / MANIFEST).read_text())


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@functools.lru_cache(maxsize=None)  # a subprocess per lookup would run on every projector_path() call
def _tool_version(command: str) -> str:
    try:
        out = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "unknown"
