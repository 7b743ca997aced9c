"""R1-MM: a local multimodal analysis workbench (documents, audio, images, CT, point clouds)."""
from r1mm.errors import IngestError, LimitExceeded, R1Error
from r1mm.types import Answer, Evidence, Finding, Item, Locator, Modality, Tokens
from r1mm.workspace import Workspace

__version__ = "0.1.0"
__all__ = ["Answer", "Evidence", "Finding", "IngestError", "Item", "LimitExceeded", "Locator", "Modality",
           "R1Error", "Tokens", "Workspace", "__version__"]
