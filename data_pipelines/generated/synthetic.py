"""Synthetic audio with exact multi-pitch labels: the embedded default data.

Nothing can be downloaded in the default set-up, so the project makes its own
data:

* ``synth_note``: NSynth-like single notes (4 s, note-off at 3 s) for
  (self-supervised) training, with the exact f0 trajectory on the HCQT frame
  grid.
* ``synth_mixture``: polyphonic mixtures of 1..max_voices monophonic voices
  with mir_eval-style references, for validation and evaluation.
* ``SyntheticSource``: items addressed by ``(seed, split, index)``; the splits
  'train', 'valid', 'test' are disjoint seed domains.

Every item is a pure function of its integer keys: the random generator is
``np.random.default_rng(SeedSequence([seed, split_id, kind, index]))`` with
``kind`` = 0 for notes, 1 for mixtures, 2 for excerpt offsets.

Sound model (per note or per voice):

* Pitch: integer MIDI, f0 = 440 * 2**((midi - 69) / 12) (mixtures add one
  global tuning offset of up to +-15 cents). Optional vibrato (4-7 Hz, up to
  30 cents, delayed and faded in); the phase is the cumulative sum of the
  instantaneous frequency, so the label is the exact f0 of the audio.
* Spectrum: partial n has level ``slope * log2(n)`` dB (slope -15 .. -2
  dB/octave, dull to bright), plus 1-3 formant-like resonances (a Gaussian gain
  in log-frequency evaluated at the partial frequencies), a clarinet-like
  attenuation of even partials on some timbres, random per-partial jitter and
  randomly missing partials (never the fundamental). The fundamental is kept
  at most 20 dB below the strongest partial, so the pitch is always present
  in the signal. The onset is brighter (extra dB/octave that decays
  exponentially). Some timbres are inharmonic like stiff strings:
  ``f_n = n * f0 * sqrt(1 + B n**2) / sqrt(1 + B)`` (normalised so that partial
  1 is exactly f0; B in 1e-5 .. 5e-4; at most 32 partials).
* Anti-aliasing: a partial is generated only if its highest instantaneous
  frequency (vibrato included) is below Nyquist.
* Envelope: ADSR in dB (linear attack to a peak of 1, exponential decay to a
  sustain level that may itself decay, i.e. "percussive" notes, and an
  exponential release of 60 dB per ``release_s`` after note-off).
* Extras: a short band-pass noise attack transient on some notes; low-level
  coloured background noise (-60 .. -40 dB re peak) on some items.

Label rule: a note is labelled (f0 > 0) at a frame time exactly when its ADSR
amplitude envelope is at or above -40 dB of its peak (``LABEL_THRESHOLD_DB``),
i.e. ``envelope(t) >= 0.01 * max(envelope)``; transients and background noise
do not count. In mixtures each voice is monophonic: a note ends (audio fades
out over 10 ms, label stops) at the next onset of its voice, so a frame holds
at most one pitch per voice.

Rendering: harmonic tones are read from a band-limited wavetable (one inverse
FFT per note, linear interpolation, table >= 128 samples per period of the
highest partial); inharmonic tones sum their partials explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import math

import numpy as np
import scipy.signal

from data_pipelines import audio as audio_lib
from data_pipelines import labels as labels_lib
from data_pipelines import tracks

SPLITS: dict[str, int] = {'train': 0, 'valid': 1, 'test': 2}
LABEL_THRESHOLD_DB = -40.0
NOTE_OFF_FRACTION = 0.75  # NSynth: 4-s notes released at 3 s.
NOTE_MIDI_RANGE = (21, 108)
MIXTURE_MIDI_RANGE = (28, 96)
# MIDI span of the h=1 HCQT grid (27.5 Hz .. bin 439); vibrato stays inside.
_GRID_MIDI = (21.0, 21.0 + 439 / 5)

_NOTE, _MIXTURE, _EXCERPT = 0, 1, 2  # seed sub-domains ("kind").
_MAX_PARTIALS = 512  # > Nyquist / lowest f0 (11025 / 27 Hz = 408).
_MAX_INHARMONIC_PARTIALS = 32
_FUNDAMENTAL_FLOOR = 0.1  # fundamental >= -20 dB re strongest partial.
_VOICE_FADE_S = 0.01  # fade-out of a voice's note at the next onset.


def _item_rng(seed: int, split: str, kind: int,
              index: int) -> np.random.Generator:
  if split not in SPLITS:
    raise ValueError(f'Unknown split {split!r}; expected one of '
                     f'{sorted(SPLITS)}.')
  for name, value in (('seed', seed), ('index', index)):
    if int(value) != value or value < 0:
      raise ValueError(f'{name} must be a non-negative integer, got {value!r}.')
  return np.random.default_rng(
      np.random.SeedSequence([int(seed), SPLITS[split], kind, int(index)]))


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
  return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray | float:
  """MIDI note number (may be fractional) -> Hz (A4 = 69 = 440 Hz)."""
  return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


# ----------------------------------------------------------------- envelopes


def adsr_envelope(t: np.ndarray, *, attack_s: float, decay_s: float,
                  sustain_db: float, sustain_slope_db_per_s: float,
                  note_off_s: float, release_s: float) -> np.ndarray:
  """ADSR amplitude envelope (linear gain) at times ``t`` (s from the onset).

  Linear attack from 0 to the peak 1 at ``attack_s``; then the level in dB is
  ``sustain_db * (1 - exp(-(t - attack_s) / decay_s)) + slope * (t -
  attack_s)``; after ``note_off_s`` it falls by 60 dB per ``release_s``.
  Zero for t < 0. If the note-off comes before the end of the attack, the
  release starts from the level reached.

  Returns:
    float64 array shaped like ``t``.
  """
  t = np.asarray(t, dtype=np.float64)
  ln10_20 = np.log(10.0) / 20.0

  def held(u):  # level at times u >= attack_s, before the note-off
    du = u - attack_s
    level_db = (sustain_db * -np.expm1(-du / decay_s)
                + sustain_slope_db_per_s * du)
    return np.exp(ln10_20 * level_db)

  off = float(note_off_s)
  off_level = (off / attack_s if off < attack_s
               else float(held(np.float64(off))))
  env = np.zeros(t.shape, dtype=np.float64)
  rising = (t >= 0) & (t < min(attack_s, off))
  env[rising] = t[rising] / attack_s
  holding = (t >= attack_s) & (t < off)
  env[holding] = held(t[holding])
  releasing = t >= off
  env[releasing] = off_level * np.exp(
      (-60.0 * ln10_20 / release_s) * (t[releasing] - off))
  return env


def active_mask(envelope: np.ndarray, *, peak: float | None = None,
                threshold_db: float = LABEL_THRESHOLD_DB) -> np.ndarray:
  """The label rule: envelope at or above ``threshold_db`` re its peak.

  Args:
    envelope: amplitude envelope (linear gain) at the label times.
    peak: the envelope's peak; defaults to ``max(envelope)``.
    threshold_db: threshold in dB re the peak (-40 dB = 1 % amplitude).

  Returns:
    bool array shaped like ``envelope`` (all False for a zero envelope).
  """
  envelope = np.asarray(envelope, dtype=np.float64)
  if peak is None:
    peak = float(envelope.max()) if envelope.size else 0.0
  if peak <= 0:
    return np.zeros(envelope.shape, dtype=bool)
  return envelope >= peak * 10.0 ** (threshold_db / 20.0)


# ------------------------------------------------------------------- timbres


@dataclasses.dataclass(frozen=True, eq=False)
class Timbre:
  """Parameters of one instrument-like sound (drawn by ``draw_timbre``)."""
  slope_db_per_octave: float  # sustain spectral tilt (< 0)
  attack_boost_db_per_octave: float  # extra brightness at the onset (>= 0)
  brightness_decay_s: float  # time constant of that extra brightness
  even_gain: float  # amplitude factor of even partials (1 = none)
  formants: np.ndarray  # [F, 3]: centre (Hz), width (octaves, std), gain (dB)
  missing_prob: float  # probability that a partial n >= 2 is absent
  jitter_db: float  # std of random per-partial levels
  inharmonicity: float  # stiff-string B (0 = harmonic)
  vibrato_rate_hz: float
  vibrato_depth_cents: float  # 0 = no vibrato
  vibrato_delay_s: float
  percussive: bool
  attack_s: float
  decay_s: float
  sustain_db: float
  sustain_slope_db_per_s: float
  release_s: float  # time for 60 dB of decay after the note-off
  transient_db: float  # noise-burst level re the tone RMS (-inf = none)
  transient_s: float
  transient_hz: float
  # Per-partial draws, [_MAX_PARTIALS] each.
  partial_phases: np.ndarray
  partial_jitter: np.ndarray  # standard normal
  partial_present: np.ndarray  # bool


def draw_timbre(rng: np.random.Generator, *,
                release_range_s: tuple[float, float] = (0.05, 1.0)) -> Timbre:
  """Draws a random instrument-like timbre (see the module docstring)."""
  n_formants = int(rng.integers(1, 4))
  formants = np.stack([
      np.exp(rng.uniform(np.log(150.0), np.log(6000.0), n_formants)),
      rng.uniform(0.15, 0.8, n_formants),
      rng.uniform(-6.0, 18.0, n_formants)], axis=1)
  percussive = bool(rng.random() < 0.4)
  if percussive:  # plucked / struck: fast attack, decaying "sustain"
    attack_s = _log_uniform(rng, 0.001, 0.01)
    decay_s = _log_uniform(rng, 0.05, 0.5)
    sustain_db = rng.uniform(-30.0, -6.0)
    slope = rng.uniform(-30.0, -3.0)
  else:  # bowed / blown
    attack_s = _log_uniform(rng, 0.005, 0.15)
    decay_s = _log_uniform(rng, 0.05, 0.6)
    sustain_db = rng.uniform(-12.0, 0.0)
    slope = rng.uniform(-3.0, 0.0)
  has_vibrato = rng.random() < 0.3
  has_transient = rng.random() < 0.35
  missing_prob = rng.uniform(0.1, 0.4) if rng.random() < 0.25 else 0.0
  return Timbre(
      slope_db_per_octave=rng.uniform(-15.0, -2.0),
      attack_boost_db_per_octave=(
          rng.uniform(0.0, 6.0) if rng.random() < 0.7 else 0.0),
      brightness_decay_s=_log_uniform(rng, 0.03, 0.5),
      even_gain=rng.uniform(0.02, 0.3) if rng.random() < 0.2 else 1.0,
      formants=formants,
      missing_prob=missing_prob,
      jitter_db=rng.uniform(0.0, 4.0),
      inharmonicity=(
          _log_uniform(rng, 1e-5, 5e-4) if rng.random() < 0.25 else 0.0),
      vibrato_rate_hz=rng.uniform(4.0, 7.0),
      vibrato_depth_cents=rng.uniform(5.0, 30.0) if has_vibrato else 0.0,
      vibrato_delay_s=rng.uniform(0.0, 0.5),
      percussive=percussive,
      attack_s=attack_s,
      decay_s=decay_s,
      sustain_db=sustain_db,
      sustain_slope_db_per_s=slope,
      release_s=_log_uniform(rng, *release_range_s),
      transient_db=rng.uniform(-24.0, -6.0) if has_transient else -np.inf,
      transient_s=_log_uniform(rng, 0.005, 0.04),
      transient_hz=_log_uniform(rng, 500.0, 8000.0),
      partial_phases=rng.uniform(0.0, 2 * np.pi, _MAX_PARTIALS),
      partial_jitter=rng.standard_normal(_MAX_PARTIALS),
      partial_present=rng.random(_MAX_PARTIALS) >= missing_prob,
  )


def _vibrato_depth(timbre: Timbre, midi: float) -> float:
  """Vibrato depth (cents), reduced so that f0 stays on the HCQT grid."""
  room = 100.0 * min(midi - _GRID_MIDI[0], _GRID_MIDI[1] - midi)
  return float(np.clip(min(timbre.vibrato_depth_cents, room), 0.0, None))


def f0_trajectory(t: np.ndarray, f0_hz: float, *, vibrato_rate_hz: float,
                  vibrato_depth_cents: float, vibrato_delay_s: float,
                  vibrato_phase: float) -> np.ndarray:
  """Instantaneous f0 (Hz) at times ``t`` (s from the onset).

  The vibrato starts after ``vibrato_delay_s`` and fades in over 0.25 s.
  """
  t = np.asarray(t, dtype=np.float64)
  if vibrato_depth_cents <= 0:
    return np.full(t.shape, float(f0_hz))
  ramp = np.clip((t - vibrato_delay_s) / 0.25, 0.0, 1.0)
  cents = vibrato_depth_cents * ramp * np.sin(
      2 * np.pi * vibrato_rate_hz * (t - vibrato_delay_s) + vibrato_phase)
  return f0_hz * 2.0 ** (cents / 1200.0)


def _stretch(inharmonicity: float, n: np.ndarray) -> np.ndarray:
  """Frequency ratio f_n / (n f0) of stiff-string partials (1 for partial 1)."""
  return np.sqrt((1.0 + inharmonicity * n**2) / (1.0 + inharmonicity))


def _partial_amplitudes(timbre: Timbre, n: np.ndarray,
                        freqs_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Sustain and onset amplitudes of partials ``n`` (each sum of squares 1)."""
  octaves = np.log2(n)
  level_db = (timbre.slope_db_per_octave * octaves
              + timbre.jitter_db * timbre.partial_jitter[:len(n)])
  for centre, width, gain in timbre.formants:
    level_db += gain * np.exp(-0.5 * (np.log2(freqs_hz / centre) / width)**2)
  amp = 10.0 ** (level_db / 20.0)
  amp = np.where(n % 2 == 0, amp * timbre.even_gain, amp)
  keep = timbre.partial_present[:len(n)] | (n == 1)
  amp = np.where(keep, amp, 0.0)
  onset = amp * 10.0 ** (timbre.attack_boost_db_per_octave * octaves / 20.0)
  out = []
  for a in (amp, onset):
    a = a.copy()
    a[0] = max(a[0], _FUNDAMENTAL_FLOOR * a.max())
    out.append(a / np.sqrt(np.sum(a**2)))
  return out[0], out[1]


def _exclusive_phase(f0_samples: np.ndarray, sample_rate: int,
                     start_cycles: float) -> np.ndarray:
  """Phase (cycles, float64) of the fundamental at each sample."""
  phase = np.empty_like(f0_samples)
  phase[0] = 0.0
  np.cumsum(f0_samples[:-1] / sample_rate, out=phase[1:])
  return phase + start_cycles


def _render_tone(timbre: Timbre, f0_samples: np.ndarray, t: np.ndarray,
                 nominal_f0: float, sample_rate: int,
                 start_cycles: float) -> tuple[np.ndarray, int]:
  """Unit-power tone following ``f0_samples`` ([L] Hz); also returns #partials.

  Partials whose highest instantaneous frequency reaches Nyquist are left out.
  """
  nyquist = sample_rate / 2
  n = np.arange(1, _MAX_PARTIALS + 1, dtype=np.float64)
  ratio = n * _stretch(timbre.inharmonicity, n)
  n_partials = int(np.sum(ratio * f0_samples.max() < nyquist))
  if n_partials == 0:
    raise ValueError(f'f0 up to {f0_samples.max():.1f} Hz is not below the '
                     f'Nyquist frequency {nyquist:.1f} Hz.')
  if timbre.inharmonicity > 0:
    n_partials = min(n_partials, _MAX_INHARMONIC_PARTIALS)
  n, ratio = n[:n_partials], ratio[:n_partials]
  amp_sustain, amp_onset = _partial_amplitudes(timbre, n, ratio * nominal_f0)
  phase = _exclusive_phase(f0_samples, sample_rate, start_cycles)
  phases0 = timbre.partial_phases[:n_partials]
  if timbre.inharmonicity > 0:
    cycles = np.outer(ratio, phase)  # [P, L]
    cycles -= np.floor(cycles)
    osc = np.cos(cycles.astype(np.float32) * np.float32(2 * np.pi)
                 + phases0[:, None].astype(np.float32))
    sustain, onset = np.einsum(
        'kp,pl->kl', np.stack([amp_sustain, amp_onset]).astype(np.float32),
        osc)
  else:
    # Band-limited wavetable: >= 128 table samples per period of partial P.
    size = max(4096, 1 << math.ceil(math.log2(128 * n_partials)))
    amps = ((amp_sustain, amp_onset) if timbre.attack_boost_db_per_octave > 0
            else (amp_sustain,))
    spec = np.zeros((len(amps), size // 2 + 1), dtype=np.complex128)
    spec[:, n.astype(np.int64)] = (np.stack(amps) * (size / 2)
                                   * np.exp(1j * phases0))
    table = np.fft.irfft(spec, size, axis=1).astype(np.float32)  # [K, size]
    table = np.concatenate([table, table[:, :1]], axis=1)
    pos = (phase - np.floor(phase)) * size
    i0 = pos.astype(np.int32)
    frac = (pos - i0).astype(np.float32)
    lookup = [tab[i0] + frac * (tab[i0 + 1] - tab[i0]) for tab in table]
    sustain, onset = lookup[0], lookup[-1]
  tone = np.asarray(sustain, dtype=np.float64)
  if timbre.attack_boost_db_per_octave > 0:
    # Brighter onset spectrum fading out (to < 1e-6 after 14 time constants).
    m = min(len(t), int(np.searchsorted(t, 14 * timbre.brightness_decay_s)))
    w = np.exp(-t[:m] / timbre.brightness_decay_s)
    tone[:m] += w * (onset[:m] - sustain[:m])
  return np.sqrt(2.0) * tone, n_partials


def _transient(timbre: Timbre, rng: np.random.Generator,
               sample_rate: int) -> np.ndarray:
  """Band-pass noise burst with an exponential decay, peak level re 1."""
  length = max(int(round(timbre.transient_s * sample_rate)), 8)
  hi = min(timbre.transient_hz * 1.5, 0.45 * sample_rate)
  lo = min(timbre.transient_hz / 1.5, 0.5 * hi)
  sos = scipy.signal.butter(2, [lo, hi], btype='band', fs=sample_rate,
                            output='sos')
  burst = scipy.signal.sosfilt(sos, rng.standard_normal(length))
  burst *= np.exp(-np.arange(length) / (0.25 * length))
  return burst / (np.max(np.abs(burst)) + 1e-12) * 10.0 ** (
      timbre.transient_db / 20.0)


def _add_background_noise(x: np.ndarray, rng: np.random.Generator) -> float:
  """Adds coloured noise at -60..-40 dB RMS re the peak; returns its level."""
  level_db = rng.uniform(-60.0, -40.0)
  pole = rng.uniform(0.0, 0.95)  # 0 = white, -> 1 = dark
  noise = scipy.signal.lfilter([1.0 - pole], [1.0, -pole],
                               rng.standard_normal(len(x)))
  noise *= 10.0 ** (level_db / 20.0) * np.max(np.abs(x)) / (
      np.sqrt(np.mean(noise**2)) + 1e-12)
  x += noise
  return float(level_db)


def _envelope_kwargs(timbre: Timbre) -> dict[str, float]:
  return dict(attack_s=timbre.attack_s, decay_s=timbre.decay_s,
              sustain_db=timbre.sustain_db,
              sustain_slope_db_per_s=timbre.sustain_slope_db_per_s,
              release_s=timbre.release_s)


def _render_note(timbre: Timbre, rng: np.random.Generator, *, f0_hz: float,
                 midi: float, n_samples: int, note_off_s: float,
                 sample_rate: int,
                 label_times: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
  """One enveloped note from its onset: audio [n_samples], f0 at label_times.

  The tone has unit power before the envelope; the attack transient is added
  at the onset. Label times are seconds from the onset; the label is 0 where
  the envelope is below the -40 dB rule (or the time is negative).
  """
  attack_s = min(timbre.attack_s, 0.5 * note_off_s)
  env_kwargs = dict(_envelope_kwargs(timbre), attack_s=attack_s,
                    note_off_s=note_off_s)
  vibrato = dict(vibrato_rate_hz=timbre.vibrato_rate_hz,
                 vibrato_depth_cents=_vibrato_depth(timbre, midi),
                 vibrato_delay_s=timbre.vibrato_delay_s,
                 vibrato_phase=rng.uniform(0.0, 2 * np.pi))
  t = np.arange(n_samples, dtype=np.float64) / sample_rate
  f0_samples = f0_trajectory(t, f0_hz, **vibrato)
  tone, n_partials = _render_tone(timbre, f0_samples, t, f0_hz, sample_rate,
                                  start_cycles=rng.uniform())
  audio = tone * adsr_envelope(t, **env_kwargs)
  if np.isfinite(timbre.transient_db):
    burst = _transient(timbre, rng, sample_rate)[:n_samples]
    audio[:len(burst)] += burst
  active = active_mask(adsr_envelope(label_times, **env_kwargs), peak=1.0)
  active &= label_times >= 0
  f0_labels = np.where(active, f0_trajectory(label_times, f0_hz, **vibrato),
                       0.0)
  return audio, f0_labels, n_partials


# --------------------------------------------------------------------- notes


@dataclasses.dataclass
class SynthNote:
  """A synthetic single note.

  Attributes:
    audio: [N] float32, peak-normalised.
    f0_hz: [1 + N // hop] float64 exact f0 (Hz) at the HCQT frame times
      n * hop / sr; 0 where the note is below the -40 dB label rule.
    midi: the nominal MIDI pitch.
    info: the drawn sound parameters (for tests and inspection).
  """
  audio: np.ndarray
  f0_hz: np.ndarray
  midi: float
  info: dict[str, float]


def synth_note(seed: int, index: int, *, split: str = 'train',
               sample_rate: int = 22050, seconds: float = 4.0,
               midi_range: tuple[int, int] = NOTE_MIDI_RANGE,
               hop_length: int = 256) -> SynthNote:
  """An NSynth-like note: a pure function of (seed, split, index).

  Args:
    seed: root seed (non-negative integer).
    index: item index (non-negative integer).
    split: 'train', 'valid' or 'test' (disjoint seed domains).
    sample_rate: Hz.
    seconds: note length; the note-off is at 75 % of it (3 s of 4 s).
    midi_range: inclusive range of the uniformly drawn integer MIDI pitch.
    hop_length: hop (samples) of the label frame grid.

  Returns:
    A ``SynthNote`` of ``round(seconds * sample_rate)`` samples.
  """
  rng = _item_rng(seed, split, _NOTE, index)
  n_samples = int(round(seconds * sample_rate))
  midi = int(rng.integers(midi_range[0], midi_range[1] + 1))
  timbre = draw_timbre(rng)
  f0_hz = float(midi_to_hz(midi))
  times = labels_lib.frame_times(1 + n_samples // hop_length, hop_length,
                                 sample_rate)
  audio, f0_labels, n_partials = _render_note(
      timbre, rng, f0_hz=f0_hz, midi=midi, n_samples=n_samples,
      note_off_s=NOTE_OFF_FRACTION * seconds, sample_rate=sample_rate,
      label_times=times)
  noise_db = (_add_background_noise(audio, rng) if rng.random() < 0.3
              else -np.inf)
  info = dict(
      n_partials=float(n_partials), inharmonicity=timbre.inharmonicity,
      vibrato_depth_cents=_vibrato_depth(timbre, midi),
      vibrato_rate_hz=timbre.vibrato_rate_hz,
      slope_db_per_octave=timbre.slope_db_per_octave,
      even_gain=timbre.even_gain, percussive=float(timbre.percussive),
      transient_db=timbre.transient_db, noise_db=noise_db)
  return SynthNote(
      audio=audio_lib.peak_normalize(audio.astype(np.float32)),
      f0_hz=f0_labels, midi=float(midi), info=info)


# ------------------------------------------------------------------ mixtures


@dataclasses.dataclass
class _Note:
  onset_s: float
  gate_s: float  # note-off time re the onset
  next_onset_s: float  # onset of the voice's next note (inf = none)
  midi: int
  gain: float


def _voice_notes(rng: np.random.Generator, *, seconds: float, beat_s: float,
                 earlier: Sequence[list[_Note]]) -> list[_Note]:
  """A monophonic line: grid-quantised durations, rests and small steps."""
  lo_all, hi_all = MIXTURE_MIDI_RANGE
  centre = rng.uniform(lo_all + 6, hi_all - 6)
  span = rng.uniform(5.0, 12.0)
  lo = max(lo_all, int(round(centre - span)))
  hi = min(hi_all, int(round(centre + span)))
  unit = beat_s / 2  # eighth notes
  steps = np.arange(-7, 8)
  step_p = np.exp(-np.abs(steps) / 2.5)
  step_p /= step_p.sum()
  midi = int(rng.integers(lo, hi + 1))
  t = float(rng.integers(0, 4)) * unit
  notes = []
  while t < seconds:
    if rng.random() < 0.15:  # rest
      t += float(rng.integers(1, 5)) * unit
      continue
    dur = float(np.clip(unit * rng.choice([1, 2, 3, 4, 6, 8]), 0.2, 2.0))
    onset = max(0.0, t + rng.normal(0.0, 0.008))
    doubled = None
    if earlier and rng.random() < 0.1:  # unison / octave doubling
      other = earlier[int(rng.integers(len(earlier)))]
      for note in other:
        if note.onset_s <= onset < note.next_onset_s:
          doubled = note.midi + int(rng.choice([-12, 0, 12]))
    if doubled is not None and lo_all <= doubled <= hi_all:
      midi = doubled
    else:
      midi += int(rng.choice(steps, p=step_p))
      if midi < lo:
        midi = 2 * lo - midi
      if midi > hi:
        midi = 2 * hi - midi
      midi = int(np.clip(midi, lo, hi))
    notes.append(_Note(onset_s=onset, gate_s=dur * rng.uniform(0.7, 1.0),
                       next_onset_s=np.inf, midi=midi,
                       gain=10.0 ** (rng.uniform(-9.0, 0.0) / 20.0)))
    t += dur
  for a, b in zip(notes[:-1], notes[1:]):
    a.next_onset_s = b.onset_s
  return notes


def synth_mixture(seed: int, index: int, *, split: str = 'train',
                  sample_rate: int = 22050, seconds: float = 10.0,
                  max_voices: int = 6, hop_length: int = 256) -> tracks.Track:
  """A polyphonic mixture of 1..max_voices monophonic synthetic voices.

  Each voice has its own timbre, register (inside MIDI 28-96), gain and note
  sequence (tempo-quantised durations of 0.2-2 s, rests, humanised onsets);
  voices overlap in time, and occasionally double another voice at the unison
  or octave. The mix is peak-normalised.

  Args:
    seed, index, split: the item's keys (see ``synth_note``).
    sample_rate: Hz.
    seconds: track length.
    max_voices: the number of voices is uniform in 1..max_voices.
    hop_length: hop of the reference time grid.

  Returns:
    A ``Track``: ``ref_times`` = n * hop / sr for n = 0..N // hop and
    ``ref_freqs[n]`` = the exact f0 (Hz) of every voice whose note is at or
    above -40 dB of its envelope peak at that time (at most one per voice).
  """
  if max_voices < 1:
    raise ValueError(f'max_voices must be >= 1, got {max_voices}.')
  rng = _item_rng(seed, split, _MIXTURE, index)
  n_samples = int(round(seconds * sample_rate))
  n_frames = 1 + n_samples // hop_length
  times = labels_lib.frame_times(n_frames, hop_length, sample_rate)
  n_voices = int(rng.integers(1, max_voices + 1))
  beat_s = 60.0 / rng.uniform(60.0, 160.0)
  tuning_cents = rng.uniform(-15.0, 15.0)
  mix = np.zeros(n_samples, dtype=np.float64)
  f0_voices = np.zeros((n_voices, n_frames), dtype=np.float64)
  voices: list[list[_Note]] = []
  fade = max(int(round(_VOICE_FADE_S * sample_rate)), 1)
  for v in range(n_voices):
    timbre = draw_timbre(rng, release_range_s=(0.05, 0.5))
    voice_gain = 10.0 ** (rng.uniform(-10.0, 0.0) / 20.0)
    notes = _voice_notes(rng, seconds=seconds, beat_s=beat_s, earlier=voices)
    voices.append(notes)
    for note in notes:
      start = int(round(note.onset_s * sample_rate))
      if start >= n_samples:
        continue
      # Release down to -80 dB, or a 10-ms fade at the voice's next onset.
      natural_end = note.onset_s + note.gate_s + timbre.release_s * 4 / 3
      cut = note.next_onset_s * sample_rate
      stop = int(min(n_samples, math.ceil(natural_end * sample_rate),
                     cut + fade if np.isfinite(cut) else np.inf))
      if stop - start < 2:
        continue
      in_note = (times >= note.onset_s) & (times < min(note.next_onset_s,
                                                       natural_end))
      midi = note.midi + tuning_cents / 100.0
      audio, f0_labels, _ = _render_note(
          timbre, rng, f0_hz=float(midi_to_hz(midi)), midi=midi,
          n_samples=stop - start, note_off_s=note.gate_s,
          sample_rate=sample_rate, label_times=times[in_note] - start /
          sample_rate)
      if np.isfinite(cut) and cut < stop:
        ramp_start = int(round(cut)) - start
        ramp = np.clip(1.0 - (np.arange(stop - start) - ramp_start) / fade,
                       0.0, 1.0)
        audio *= ramp
      mix[start:stop] += voice_gain * note.gain * audio
      f0_voices[v, in_note] = f0_labels
  if rng.random() < 0.3 and np.any(mix):
    _add_background_noise(mix, rng)
  ref_freqs = [f0_voices[f0_voices[:, i] > 0, i] for i in range(n_frames)]
  return tracks.Track(
      name=f'synthetic_mixture_{split}_{seed}_{index:05d}',
      audio=audio_lib.peak_normalize(mix.astype(np.float32)),
      ref_times=times, ref_freqs=ref_freqs)


# -------------------------------------------------------------------- source


class SyntheticSource:
  """Synthetic items addressed by (seed, split, index).

  The same keys always give the same item; the splits are disjoint seed
  domains, so they never share items. ``note(i)`` of the 'train' split equals
  ``synth_note(seed, i)``.
  """

  def __init__(self, seed: int, split: str = 'train', *,
               sample_rate: int = 22050, hop_length: int = 256,
               note_seconds: float = 4.0):
    if split not in SPLITS:
      raise ValueError(f'Unknown split {split!r}; expected one of '
                       f'{sorted(SPLITS)}.')
    self.seed = int(seed)
    self.split = split
    self.sample_rate = sample_rate
    self.hop_length = hop_length
    self.note_seconds = note_seconds

  def note(self, index: int) -> SynthNote:
    """The 4-s (``note_seconds``) NSynth-like note ``index``."""
    return synth_note(self.seed, index, split=self.split,
                      sample_rate=self.sample_rate, seconds=self.note_seconds,
                      hop_length=self.hop_length)

  def note_excerpt(self, index: int,
                   n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """A training excerpt of note ``index`` (the reference excerpt rule).

    The start (or zero-padding offset) is random, drawn from the item's own
    seed domain, and a multiple of the hop so the labels stay frame-aligned.

    Returns:
      audio [n_samples] float32 and f0 [1 + n_samples // hop] float64 (Hz, 0 =
      no pitch) at the excerpt's frame times.
    """
    note = self.note(index)
    rng = _item_rng(self.seed, self.split, _EXCERPT, index)
    start = audio_lib.excerpt_start(len(note.audio), n_samples, rng,
                                    align=self.hop_length)
    audio = audio_lib.take_excerpt(note.audio, start, n_samples)
    f0 = audio_lib.take_excerpt(note.f0_hz, start // self.hop_length,
                                1 + n_samples // self.hop_length)
    return audio, f0

  def note_track(self, index: int, n_samples: int) -> tracks.Track:
    """``note_excerpt`` as an evaluation ``Track`` (frame-time references)."""
    audio, f0 = self.note_excerpt(index, n_samples)
    times = labels_lib.frame_times(len(f0), self.hop_length, self.sample_rate)
    return tracks.Track(
        name=f'synthetic_note_{self.split}_{self.seed}_{index:05d}',
        audio=audio, ref_times=times,
        ref_freqs=[f[f > 0] for f in f0[:, None]])

  def mixture(self, index: int, *, seconds: float = 10.0,
              max_voices: int = 6) -> tracks.Track:
    """Polyphonic mixture ``index`` (see ``synth_mixture``)."""
    return synth_mixture(self.seed, index, split=self.split,
                         sample_rate=self.sample_rate, seconds=seconds,
                         max_voices=max_voices, hop_length=self.hop_length)
