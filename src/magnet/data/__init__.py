"""Dataset records and their HF Features (rendering and exports join later)."""
