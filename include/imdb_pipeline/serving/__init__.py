"""Scoring raw reviews: the scorer, ``predict``, the inbox and its batch scoring, batch statistics, drift."""
