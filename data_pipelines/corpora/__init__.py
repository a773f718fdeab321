"""Readers of the real corpora, one module per corpus's on-disk layout
(``data_pipelines.catalog`` registers them by name; ``corpus.CorpusReader``
is their base class)."""
