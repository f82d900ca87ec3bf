"""Readers of the input data (aclImdb folder or tarball, Keras' imdb.npz) and the limits they check."""
