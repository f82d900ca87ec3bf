"""Text to token ids, the word table, n-gram features, multi-hot rows, weighting, review statistics."""
