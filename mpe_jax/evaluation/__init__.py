"""Host-side evaluation: peak picking, mir_eval multi-pitch and melody
scores, separation SDRs."""
