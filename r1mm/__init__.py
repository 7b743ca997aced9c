"""R1-MM: a local multimodal analysis workbench (documents, audio, images, CT, point clouds)."""
from r1mm.errors import IngestError, LimitExceeded, R1Error
from r1mm.types import Answer, Evidence, Finding, Item, Locator, Modality, Tokens

__version__ = "0.1.0"
__all__ = ["R1Model", "Answer", "Evidence", "Finding", "IngestError", "Item", "LimitExceeded", "Locator", "Modality",
           "R1Error", "Tokens", "Workspace", "__version__"]


def __getattr__(name: str):
    # Workspace and R1Model pull in torch (and transformers): imported on first use, not with the
    # package, so a light part (a loader run in a child process) starts in a fraction of a second
    if name == "Workspace":
        from r1mm.workspace import Workspace

        return Workspace
    if name == "R1Model":
        from r1mm.sdk import R1Model

        return R1Model
    raise AttributeError(f"module 'r1mm' has no attribute {name!r}")
