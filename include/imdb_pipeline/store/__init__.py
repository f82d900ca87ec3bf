"""Where files live and how they are written: artifacts and atomic stage folders, the model store,
scored batches, cached downloads."""
