"""Which part of the body a CT volume covers: head, neck, chest, abdomen, pelvis or an extremity,
decided slice by slice from the HU values in the patient's axial plane.

Each axial slice is described by the body's cross-section (mm²), the share of it that is aerated
lung, the share that is bone, and how much of it a closed ring of bone encloses (the skull).
The thresholds are anatomical orders of magnitude, not fitted values: an adult head's section is
150–300 cm² and mostly enclosed by the skull; a chest section is 400–1,000 cm² with lungs;
an arm or a leg is under 200 cm² with one or two long bones and no skull.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from r1mm.types import Item

LUNG_SHARE = 0.12  # a chest slice: at least this share of the body section is aerated lung
SKULL_SHARE = 0.45  # a head slice: at least this share of the section lies inside a bone ring
LIMB_AREA_MM2 = 20_000.0  # sections smaller than this (200 cm²) with no skull: an extremity (or the neck)
PELVIS_BONE_SHARE = 0.08  # a pelvis slice: at least this share of the section is bone, no lungs
MIN_REGION_SHARE = 0.15  # a region is reported when this share of the slices shows it
REGIONS = ("head", "neck", "chest", "abdomen", "pelvis", "extremity")


@dataclass
class Coverage:
    regions: list[str]  # head to feet
    slices: dict[str, tuple[int, int]]  # region -> first and last slice (0-based) labelled so
    per_slice: list[str | None]  # None: no body in the slice

    @property
    def has_lungs(self) -> bool:
        return "chest" in self.regions

    def describe(self) -> str:
        if not self.regions:
            return "no body part could be recognised"
        parts = [f"{r} (slices {self.slices[r][0] + 1}–{self.slices[r][1] + 1})" for r in self.regions]
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def axial(item: Item) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The volume with its first axis along the patient's head–feet axis, and the spacing in that
    order: a sagittal or coronal acquisition is read across its slices."""
    iop = item.orientation or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    row_cos, col_cos = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    axes_dirs = [np.cross(row_cos, col_cos), col_cos, row_cos]  # array axes 0, 1, 2 in patient space
    head_feet = int(np.argmax([abs(d[2]) for d in axes_dirs]))
    order = [head_feet] + [a for a in range(3) if a != head_feet]
    spacing = tuple(float(item.spacing_mm[a]) for a in order)
    return np.transpose(item.data, order), spacing  # type: ignore[return-value]


def slice_region(section: np.ndarray, pixel_mm2: float, body_hu: float = -500.0) -> str | None:
    """The region one axial slice (HU) shows, or None when it holds no body."""
    from r1mm.analysis.medical import AIR_TISSUE_HU, BONE_HU

    dense = section > body_hu
    labels, n = ndimage.label(dense)
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]  # voxels per label (sum_labels is ~10x slower)
    body = _filled(labels == 1 + int(np.argmax(sizes)))
    area = float(body.sum()) * pixel_mm2
    if area < 1_000.0:  # under 10 cm²: a table edge or a cable
        return None
    lung = float(((section < AIR_TISSUE_HU) & body).sum()) * pixel_mm2 / area
    bone_mask = (section >= BONE_HU) & body
    bone = float(bone_mask.sum()) * pixel_mm2 / area
    inside_bone = _filled(bone_mask) & ~bone_mask
    skull = float(inside_bone.sum()) * pixel_mm2 / area
    if skull >= SKULL_SHARE:
        return "head"
    if lung >= LUNG_SHARE and area >= LIMB_AREA_MM2:
        return "chest"
    if area < LIMB_AREA_MM2:
        return "neck" if _centred_single_bone(bone_mask) and lung > 0.005 else "extremity"
    return "pelvis" if bone >= PELVIS_BONE_SHARE else "abdomen"


def _filled(mask: np.ndarray) -> np.ndarray:
    """The slice's mask with its holes filled (one labelling; scipy's binary_fill_holes is ~10x slower)."""
    from r1mm.analysis.lungs import fill_holes_per_slice

    return fill_holes_per_slice(mask[None])[0]


def _centred_single_bone(bone: np.ndarray) -> bool:
    """The neck: one bone (the spine) behind an airway; a limb's bones have no airway beside them."""
    _, n = ndimage.label(bone)
    return n == 1


def _in_anatomical_order(per_slice: list[str | None]) -> list[str | None]:
    """The abdomen and pelvis lie on one side of the chest: slices called so on the other side are
    the shoulders' level, where arms and shoulders make the section large and the lung apices a small
    share of it; they are chest."""
    chest = [k for k, r in enumerate(per_slice) if r == "chest"]
    if not chest:
        return per_slice
    below = [k for k, r in enumerate(per_slice) if r in ("abdomen", "pelvis")]
    before, after = sum(k < chest[0] for k in below), sum(k > chest[-1] for k in below)
    wrong_side = (lambda k: k > chest[-1]) if before >= after else (lambda k: k < chest[0])
    return ["chest" if r in ("abdomen", "pelvis") and wrong_side(k) else r for k, r in enumerate(per_slice)]


def coverage(item: Item) -> Coverage:
    volume, (_, dy, dx) = axial(item)
    per_slice = _in_anatomical_order([slice_region(volume[k], dy * dx) for k in range(volume.shape[0])])
    counted = [r for r in per_slice if r]
    regions, spans = [], {}
    for region in REGIONS:
        at = [k for k, r in enumerate(per_slice) if r == region]
        if at and len(at) >= MIN_REGION_SHARE * max(len(counted), 1):
            regions.append(region)
            spans[region] = (at[0], at[-1])
    regions.sort(key=lambda r: REGIONS.index(r))
    return Coverage(regions, spans, per_slice)
