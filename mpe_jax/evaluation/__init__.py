"""Host-side evaluation: peak picking, mir_eval multi-pitch metrics."""
