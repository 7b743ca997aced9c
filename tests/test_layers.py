"""The layering rules of DESIGN.md that keep the runtime path light and modules replaceable."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "r1mm"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True, cwd=PACKAGE.parent).stdout
    return set(json.loads(out.splitlines()[-1]))


def _training_bench_or_cases(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m in ("r1mm.latent.align", "r1mm.samples")
                  or m.startswith(("r1mm.bench", "r1mm.cases")))


def test_importing_the_runtime_imports_no_training_bench_or_generated_cases():
    loaded = _modules_after("import r1mm.encoders, r1mm.workspace")
    assert "r1mm.workspace" in loaded
    assert _training_bench_or_cases(loaded) == []


@pytest.mark.slow
def test_adding_a_scan_with_built_projectors_runs_no_training_code(tmp_path):
    from r1mm.cases.parts import plate_with_dent, write_ply
    from r1mm.encoders import projector

    projector.trained()  # builds them on a cold cache, as `make models` does
    write_ply(tmp_path / "plate.ply", plate_with_dent(n_points=5000))
    loaded = _modules_after(f"from r1mm.workspace import Workspace\n"
                            f"assert Workspace().add({str(tmp_path / 'plate.ply')!r}).ok")
    assert "r1mm.encoders.pointcloud" in loaded  # the scan was encoded into the shared space
    assert _training_bench_or_cases(loaded) == []


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("r1mm"):
                offenders += [f"{path.relative_to(PACKAGE)}: {node.module}.{a.name}" for a in node.names
                              if a.name.startswith("_") and a.name != "__version__"]
    assert offenders == []
