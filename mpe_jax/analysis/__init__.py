"""Analysis of logged runs (host side: TensorBoard logs, figures)."""
