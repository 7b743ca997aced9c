"""Per-modality encoders into the shared latent space (text first; the other towers follow)."""
