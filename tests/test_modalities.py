"""The modality registry: each modality declared in one place, and looked up everywhere else."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from r1mm import store
from r1mm.analysis import analyze
from r1mm.ingest import load, sniff
from r1mm.modalities import answer_rules, modality_spec, spec_for_format, specs
from r1mm.types import Document, Item, Modality, Page, Table

ROOT = Path(__file__).resolve().parents[1]


def test_every_modality_is_registered_once_with_its_formats_and_rule_orders_unique():
    assert [s.modality for s in specs()] and len({s.modality for s in specs()}) == len(specs()) == len(Modality)
    formats = [f for s in specs() for f in s.formats]
    assert len(formats) == len(set(formats))
    orders = [r.order for r in answer_rules()]
    assert orders == sorted(orders) and len(orders) == len(set(orders))


@pytest.mark.parametrize("item", [
    Item(Modality.TEXT, "r.pdf", Document("pdf", [Page(1, "Revenue 10", [Table(1, [["Revenue", "10"]],
                                                                               [[(1.0, 2.0, 3.0, 4.0), None]])],
                                                       (595.0, 842.0), ["Revenue 10"])])),
    Item(Modality.IMAGE, "i.png", Image.new("RGB", (7, 5), (10, 20, 30))),
    Item(Modality.POINTCLOUD, "p.ply", np.arange(12, dtype=np.float64).reshape(4, 3),
         arrays={"colors": np.zeros((4, 3), np.uint8)}),
    Item(Modality.CT, "ct", np.zeros((2, 3, 4), np.int16), spacing_mm=(2.5, 0.7, 0.7)),
], ids=lambda item: item.modality.value)
def test_each_modality_stores_its_data_and_reads_it_back(tmp_path, item):
    path = store.save_item_data(item, tmp_path / "item")
    assert path.suffix == modality_spec(item.modality).storage.suffix
    back = store.load_item_data(Item(item.modality, item.source, None), path)
    if item.modality is Modality.IMAGE:
        assert back.data.size == item.data.size and back.data.getpixel((3, 2)) == (10, 20, 30)
    elif item.modality is Modality.TEXT:
        assert back.data == item.data
    else:
        assert np.array_equal(back.data, item.data) and back.spacing_mm == item.spacing_mm
        assert all(np.array_equal(back.arrays[k], v) for k, v in item.arrays.items())


def test_a_file_is_loaded_by_the_modality_its_content_belongs_to(tmp_path, samples):
    for name, modality in [("quarterly_report.pdf", Modality.TEXT), ("revenue_chart.png", Modality.IMAGE),
                           ("plate_scan.ply", Modality.POINTCLOUD), ("ct_phantom.zip", Modality.CT)]:
        renamed = tmp_path / f"{name}.bin"  # the suffix does not decide
        renamed.write_bytes((samples / name).read_bytes())
        assert spec_for_format(sniff(renamed)).modality is modality
        assert {i.modality for i in load(renamed)} == {modality}


def test_a_text_that_is_no_financial_report_gets_no_finance_analysis(tmp_path):
    note = tmp_path / "minutes.txt"
    note.write_text("Minutes of the garden club. We planted 40 tulips and 12 roses along the north wall.\n\n"
                    "Next meeting: bring 3 spades.\n")
    report = tmp_path / "results.txt"
    report.write_text("Quarterly results. Revenue was 120.5 million dollars; net income was 20.1 million.\n")
    (note_item,), (report_item,) = load(note), load(report)
    assert [a.domain for a in modality_spec(Modality.TEXT).analyses_for(note_item)] == []
    assert analyze(note_item) == []
    assert [a.domain for a in modality_spec(Modality.TEXT).analyses_for(report_item)] == ["financial report"]


def test_only_the_registry_pages_and_generators_name_modalities():
    """The rest of R1-MM looks a modality up (`modality_spec`) instead of listing modalities."""
    allowed = ("modalities/", "types.py", "ingest/", "bench/", "cases/", "latent/align.py")
    named = []
    for path in (ROOT / "r1mm").rglob("*.py"):
        rel = path.relative_to(ROOT / "r1mm").as_posix()
        if rel.startswith(allowed):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Modality":
                named.append(f"{rel}: Modality.{node.attr}")
    assert named == ["workspace.py: Modality.POINTCLOUD"]  # comparing two scans is a point-cloud operation
