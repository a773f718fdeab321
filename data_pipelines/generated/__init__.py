"""Data made by this project, with exact labels: synthetic notes, mixtures
and drums; General-MIDI renders (FluidSynth, STK physical models, recorded
drum kits) of generated and corpus music, played with expression and passed
through recording chains."""
