"""Visual inspection (PatchCore on the packaged EfficientNet-Lite0): learn good parts from images,
flag and locate planted defects; the CLI contract of `inspect fit` and `inspect check --json`."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from r1mm.cases.surfaces import brushed_metal, plant, printed_label
from r1mm.inspection import Inspector


@pytest.fixture(scope="module")
def metal_inspector():
    rng = np.random.default_rng(0)
    return Inspector.fit([brushed_metal(rng) for _ in range(12)])


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("kind", ["scratch", "stain", "hole"])
def test_planted_defects_are_flagged_and_located(metal_inspector, kind):
    rng = np.random.default_rng(1)
    image, box = plant(brushed_metal(rng), kind, rng)
    result = metal_inspector.check(image)
    assert result.defect and result.score > metal_inspector.threshold
    assert _overlap(result.regions[0].box, box), (result.regions[0].box, box)
    assert result.heatmap.shape == image.shape[:2]


def test_good_parts_score_below_defective_ones(metal_inspector):
    rng = np.random.default_rng(2)
    good = [metal_inspector.check(brushed_metal(rng)).score for _ in range(5)]
    bad = [metal_inspector.check(plant(brushed_metal(rng), "scratch", rng)[0]).score for _ in range(3)]
    assert max(good) < min(bad)


def test_a_label_with_a_missing_bar_is_flagged_in_rgb():
    rng = np.random.default_rng(3)
    inspector = Inspector.fit([printed_label(rng) for _ in range(10)])
    label = printed_label(rng)
    label[68:78, 40:200] = 235  # the second bar is not printed
    result = inspector.check(label)
    assert result.defect and _overlap(result.regions[0].box, (40, 66, 200, 80))


def test_saved_and_loaded_it_scores_the_same(metal_inspector, tmp_path):
    image = brushed_metal(np.random.default_rng(4))
    metal_inspector.save(tmp_path / "line3.inspector")
    loaded = Inspector.load(tmp_path / "line3.inspector")
    assert loaded.threshold == metal_inspector.threshold
    assert loaded.check(image).score == pytest.approx(metal_inspector.check(image).score, rel=1e-6)


@pytest.mark.parametrize("count", [0, 1])
def test_fitting_on_too_few_images_says_why(count):
    with pytest.raises(ValueError, match="at least 2 good images"):
        Inspector.fit([brushed_metal(np.random.default_rng(5))] * count)


def test_cli_fit_and_check_json(tmp_path, capsys):
    from r1mm.__main__ import main

    rng = np.random.default_rng(6)
    good = tmp_path / "good"
    good.mkdir()
    for k in range(10):
        image = brushed_metal(rng)
        if k % 3 == 0:  # 16-bit grey, and another size: both are accepted
            Image.fromarray(image.astype(np.uint16) * 257).save(good / f"part{k}.png")
        else:
            Image.fromarray(image).resize((300, 280)).save(good / f"part{k}.png")
    assert main(["inspect", "fit", str(good), "--out", str(tmp_path / "line3.inspector")]) == 0
    assert "fitted on 8 good images" in capsys.readouterr().out
    new = tmp_path / "new"
    new.mkdir()
    Image.fromarray(brushed_metal(rng)).save(new / "a_good.png")
    Image.fromarray(plant(brushed_metal(rng), "hole", rng)[0]).convert("RGB").save(new / "b_bad.jpg", quality=95)
    (new / "c_notes.txt").write_text("not an image")
    code = main(["inspect", "check", "--inspector", str(tmp_path / "line3.inspector"), "--json", str(new)])
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 2 and "c_notes.txt: not a readable image" in err
    assert [r["file"] for r in rows] == ["a_good.png", "b_bad.jpg"]
    assert set(rows[0]) == {"file", "defect", "score", "threshold", "regions"}
    assert rows[1]["defect"] and rows[1]["regions"][0]["area_px"] > 0 and len(rows[1]["regions"][0]["box"]) == 4
