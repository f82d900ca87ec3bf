"""The pipeline's stages, the stage graph and the runner (``python -m imdb_pipeline.stages.runner``)."""
