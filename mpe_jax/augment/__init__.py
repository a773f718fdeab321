"""On-device augmentations (pure functions of explicit PRNG keys)."""
