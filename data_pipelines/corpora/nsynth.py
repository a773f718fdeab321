"""NSynth: 4-s single notes of 1,006 instruments (the jsonwav release).

Layout (the extracted ``nsynth-<split>.jsonwav.tar.gz`` archives):

  <root>/nsynth-train/examples.json          metadata, one key per note
  <root>/nsynth-train/audio/<note>.wav       16 kHz mono, 4 s (64,000 samples)
  <root>/nsynth-valid/..., <root>/nsynth-test/...

A note name is ``<family>_<source>_<instrument>-<pitch>-<velocity>``, e.g.
``keyboard_acoustic_004-060-025``; the MIDI pitch is the second-to-last
dash-separated field.

Ground truth (ss-mpe's NSynth reader,
``ss_mpe/datasets/SoloMultiPitch/NSynth.py``): one note of
the file's pitch, active where the amplitude envelope is at least 10 % of its
maximum. Envelope: the audio (22,050 Hz, peak-normalised) is high-passed by
a biquad (Q = 1/sqrt(2)) at max(pitch / 3 -- the MIDI number used as Hz,
27.5 Hz), its RMS is taken over a centred 100-ms window, and the RMS is
low-passed by a 30-Hz biquad. Each active run is one note [onset, offset);
a run still active at the end of the audio ends at the end of the audio
(the reference pairs it with time 0 instead).

Splits: 'train' and 'test' = all notes with MIDI pitch in [21, 109] (the
HCQT range, ``fmin + n_bins / 5``); 'valid' = the first 200 in-range notes
of ``examples.json`` (the reference's NSynth validation set), sorted.
"""

from __future__ import annotations

import json
import os

import numpy as np

from data_pipelines import corpus

MIDI_RANGE = (21, 109)  # inclusive
VALID_TRACKS = 200
RMS_WINDOW_S = 0.10
ENVELOPE_CUTOFF_HZ = 30.0
ACTIVITY_FRACTION = 0.10
_Q = 1 / np.sqrt(2)  # torchaudio's biquad default


def pitch_of(name: str) -> int:
  """MIDI pitch of a note name like 'bass_electronic_018-022-100'."""
  return int(name.split('-')[-2])


def _biquad(kind: str, cutoff_hz: float, sample_rate: int):
  """RBJ-cookbook high/low-pass biquad coefficients (b, a), a[0] = 1."""
  w0 = 2 * np.pi * cutoff_hz / sample_rate
  alpha = np.sin(w0) / (2 * _Q)
  cos = np.cos(w0)
  if kind == 'highpass':
    b = np.array([(1 + cos) / 2, -(1 + cos), (1 + cos) / 2])
  else:
    b = np.array([(1 - cos) / 2, 1 - cos, (1 - cos) / 2])
  a = np.array([1 + alpha, -2 * cos, 1 - alpha])
  return b / a[0], a / a[0]


def activity_envelope(audio: np.ndarray, midi_pitch: int,
                      sample_rate: int) -> np.ndarray:
  """[N] low-passed RMS envelope of a note (see module docstring)."""
  import scipy.signal  # pylint: disable=g-import-not-at-top  (slow import)
  x = np.asarray(audio, dtype=np.float64)
  cutoff = max(midi_pitch / 3.0, corpus.midi_to_hz(MIDI_RANGE[0]).item())
  # torchaudio's lfilter clamps its output to [-1, 1].
  x = np.clip(scipy.signal.lfilter(*_biquad('highpass', cutoff, sample_rate),
                                   x), -1.0, 1.0)
  width = int(round(RMS_WINDOW_S * sample_rate))
  # Centred moving sum of x**2 = np.convolve(x**2, ones(width), 'same'),
  # from a cumulative sum: samples n - width // 2 .. n + (width - 1) // 2.
  total = np.concatenate([[0.0], np.cumsum(x**2)])
  n = np.arange(len(x))
  hi = np.minimum(len(x), n + (width - 1) // 2 + 1)
  lo = np.maximum(0, n - width // 2)
  rms = np.sqrt(np.maximum(total[hi] - total[lo], 0.0) / width)
  return np.clip(scipy.signal.lfilter(
      *_biquad('lowpass', ENVELOPE_CUTOFF_HZ, sample_rate), rms), -1.0, 1.0)


def envelope_notes(audio: np.ndarray, midi_pitch: int,
                   sample_rate: int) -> corpus.Notes:
  """The note intervals of a single-note recording (module docstring)."""
  envelope = activity_envelope(audio, midi_pitch, sample_rate)
  peak = envelope.max() if envelope.size else 0.0
  active = envelope >= ACTIVITY_FRACTION * peak if peak > 0 else (
      np.zeros(len(envelope), bool))
  change = np.diff(active.astype(np.int8), prepend=0, append=0)
  onsets = np.flatnonzero(change == 1) / sample_rate
  offsets = np.flatnonzero(change == -1) / sample_rate
  return corpus.Notes(onsets, offsets,
                      np.full(len(onsets), corpus.midi_to_hz(midi_pitch)))


class NSynth(corpus.FileCorpus):
  """NSynth notes with envelope-derived note intervals."""

  name = 'nsynth'
  title = 'NSynth'
  splits = ('train', 'valid', 'test')
  annotated = True
  url = 'https://magenta.tensorflow.org/datasets/nsynth'

  def _track_ids(self, split: str) -> list[str]:
    path = self._require(
        os.path.join(self.root, f'nsynth-{split}', 'examples.json'),
        f'nsynth-{split} metadata')
    try:
      with open(path, encoding='utf-8') as f:
        names = list(json.load(f))
    except (OSError, ValueError) as error:
      raise corpus.AnnotationError(
          f'Cannot read NSynth metadata {path!r}: '
          f'{corpus.one_line(error)}.') from error
    lo, hi = MIDI_RANGE
    names = [n for n in names if lo <= pitch_of(n) <= hi]
    if split == 'valid':
      names = names[:VALID_TRACKS]
    return sorted(f'{split}/{n}' for n in names)

  def audio_path(self, track_id: str) -> str:
    split, name = track_id.split('/')
    return os.path.join(self.root, f'nsynth-{split}', 'audio', f'{name}.wav')

  def _annotation(self, track_id, audio, sample_rate) -> corpus.Notes:
    return envelope_notes(audio, pitch_of(track_id), sample_rate)
