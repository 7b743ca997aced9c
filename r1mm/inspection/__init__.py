"""Visual inspection of parts on a production line: learn "good" from defect-free images, then
flag and locate defects (`patchcore.Inspector`)."""
from r1mm.inspection.patchcore import Check, Inspector, Region

__all__ = ["Check", "Inspector", "Region"]
