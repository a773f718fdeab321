"""Training objectives: one pure function per loss, combined by config weights."""
