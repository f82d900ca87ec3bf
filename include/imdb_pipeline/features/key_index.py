"""``KeyIndex``: where each int64 key sits in a sorted key array, by hashing instead of binary search.

Scoring looks up every n-gram of every review among up to 1,000,000 feature keys. ``np.searchsorted``
takes ~20 dependent, cache-missing reads per lookup at that size; an open-addressing hash table
(linear probing, at most a quarter full) takes one or two, vectorized over all keys at once.
"""

from __future__ import annotations

import numpy as np

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads nearby keys apart
_EMPTY = np.int64(-1)  # a free slot's key (the indexed keys are >= 0), and "not found"


class KeyIndex:
    """Positions of ``keys`` (distinct, >= 0), looked up many at a time; -1 for a key not there."""

    def __init__(self, keys: np.ndarray):
        keys = np.asarray(keys, np.int64)
        if len(keys) and keys.min() < 0:
            raise ValueError("KeyIndex keys must be >= 0")
        self.bits = max(int(np.ceil(np.log2(max(len(keys), 1) * 4))), 4)
        self.mask = np.uint64((1 << self.bits) - 1)
        self.slot_keys = np.full(1 << self.bits, _EMPTY, np.int64)
        self.slot_positions = np.zeros(1 << self.bits, np.int32 if len(keys) < 2**31 else np.int64)
        pending, slots = np.arange(len(keys)), self._slots(keys)
        while pending.size:
            free = np.flatnonzero(self.slot_keys[slots] == _EMPTY)
            # Of the pending keys that reach a free slot, the first per slot takes it; the others probe on.
            taken, first = np.unique(slots[free], return_index=True)
            self.slot_keys[taken] = keys[pending[free[first]]]
            self.slot_positions[taken] = pending[free[first]]
            placed = np.zeros(len(pending), bool)
            placed[free[first]] = True
            pending, slots = pending[~placed], (slots[~placed] + np.uint64(1)) & self.mask

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return (keys.view(np.uint64) * _MULTIPLIER) >> np.uint64(64 - self.bits)

    def positions(self, keys: np.ndarray) -> np.ndarray:
        """Each key's position in the indexed keys, or -1 (int64)."""
        keys = np.asarray(keys, np.int64)
        slots = self._slots(keys)
        held = self.slot_keys[slots]
        match = held == keys
        found = np.where(match, self.slot_positions[slots], _EMPTY)
        pending = np.flatnonzero((held != _EMPTY) & ~match)  # another key's slot: probe on
        slots = slots[pending]
        while pending.size:
            slots = (slots + np.uint64(1)) & self.mask
            held = self.slot_keys[slots]
            hit = held == keys[pending]
            found[pending[hit]] = self.slot_positions[slots[hit]]
            more = (held != _EMPTY) & ~hit
            pending, slots = pending[more], slots[more]
        return found
