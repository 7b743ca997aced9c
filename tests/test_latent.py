"""Encoders, projectors and cross-modal search in the shared space."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from r1mm import Workspace
from r1mm.encoders import audio, ct, image, pointcloud
from r1mm.encoders.projector import D_LATENT, Projector, load, save
from r1mm.ingest import load as load_file
from r1mm.latent.align import CLASSES, train_projector


def first(path):
    items = load_file(path)
    return items[0] if isinstance(items, list) else items


@pytest.mark.parametrize("tower, name, tokens", [
    (image, "revenue_chart.png", 10), (pointcloud, "plate_scan.ply", 16), (ct, "ct_phantom.zip", None),
    (audio, "earnings_call.wav", None)])
def test_every_tower_gives_one_locator_per_token(samples, tower, name, tokens):
    item = first(samples / name)
    vectors, locators = tower.features(item)
    assert vectors.shape[1] == tower.DIM and vectors.dtype == np.float32
    assert len(locators) == len(vectors) and np.isfinite(vectors).all()
    if tokens:
        assert len(vectors) == tokens
    assert all(loc.source == name for loc in locators)


def test_ct_tokens_cover_the_volume_in_millimetres(samples, truth):
    item = first(samples / "ct_phantom.zip")
    _, locators = ct.features(item)
    width_mm = item.data.shape[2] * item.spacing_mm[2]
    assert max(loc.bbox_mm[2] for loc in locators) == pytest.approx(width_mm)
    assert {loc.slice for loc in locators} <= set(range(item.data.shape[0]))


def test_audio_tokens_follow_the_recording_in_time(samples):
    item = first(samples / "earnings_call.wav")
    _, locators = audio.features(item)
    duration = len(item.data) / item.meta["sample_rate"]
    starts = [loc.start_s for loc in locators]
    assert starts == sorted(starts) and starts[0] == 0 and locators[-1].end_s == pytest.approx(duration, abs=0.01)


def test_point_cloud_descriptor_is_scale_free(samples):
    item = first(samples / "plate_scan.ply")
    a, _ = pointcloud.features(item)
    item.data = item.data * 25.4          # the same part in other units
    b, _ = pointcloud.features(item)
    assert np.allclose(a, b, atol=1e-3)


def test_infonce_training_binds_features_to_their_descriptions():
    rng = np.random.default_rng(0)
    classes = len(CLASSES["pointcloud"])
    centres = rng.normal(size=(classes, 42)).astype(np.float32)
    labels = rng.integers(0, classes, 200)
    features = centres[labels] + 0.3 * rng.normal(size=(200, 42)).astype(np.float32)
    projector = train_projector("pointcloud", features, labels, epochs=150)
    from r1mm.encoders.text import embed

    text = torch.from_numpy(embed([t for t, _ in CLASSES["pointcloud"]]))
    with torch.no_grad():
        predicted = (projector(torch.from_numpy(features)) @ text.t()).argmax(-1).numpy()
    assert (predicted == labels).mean() > 0.9


def test_projectors_save_and_load(tmp_path):
    torch.manual_seed(0)
    projectors = {"image": Projector(image.DIM), "pointcloud": Projector(pointcloud.DIM)}
    save(projectors, tmp_path / "p.safetensors")
    loaded = load(tmp_path / "p.safetensors")
    x = torch.randn(3, pointcloud.DIM)
    with torch.no_grad():
        assert torch.allclose(loaded["pointcloud"](x), projectors["pointcloud"].eval()(x))
        assert loaded["image"](torch.randn(2, image.DIM)).shape == (2, D_LATENT)


def test_search_finds_the_dent_and_the_nodule_in_their_own_files(samples, truth, tmp_path):
    ws = Workspace(tmp_path / "ws")
    for name in ("plate_scan.ply", "ct_phantom.zip", "revenue_chart.png"):
        assert ws.add(samples / name).ok
    dent = ws.search("a dent in a flat surface", k=3)
    assert dent[0].modality.value == "pointcloud"
    cx, cy = truth["pointcloud"]["dent_centre"]
    assert any(m.locator.region[0] - 5 <= cx <= m.locator.region[3] + 5 and
               m.locator.region[1] - 5 <= cy <= m.locator.region[4] + 5 for m in dent)
    nodule = ws.search("a lung nodule", k=3)
    assert nodule[0].modality.value == "ct"
    photo = Image.new("RGB", (640, 420), (90, 140, 200))  # a second image: the search must tell them apart
    ImageDraw.Draw(photo).ellipse([200, 100, 440, 300], fill=(240, 200, 60))
    photo.save(tmp_path / "sun.png")
    assert ws.add(tmp_path / "sun.png").ok
    chart = ws.search("quarterly revenue plotted as bars", k=1)  # not one of the projectors' training phrases
    assert chart[0].locator.source == "revenue_chart.png"
    # Tokens survive a restart with the rest of the workspace.
    assert Workspace(tmp_path / "ws").search("a lung nodule", k=1)[0].locator == nodule[0].locator
