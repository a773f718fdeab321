"""Physical-model instruments: the Synthesis ToolKit (STK) driven by the same
performed notes and pitch curves as the General-MIDI renders.

STK's ``stk-demo`` program (Debian package ``stk``) plays a SKINI score with
one of its instrument models: waveguide bowed string, clarinet, saxophone,
flute and blown bottle, plucked and stiff strings, mandolin and sitar, the
FM electric pianos, organ and voices.
These are synthesis algorithms rather than sample playback, so their
attacks, noise and spectra differ from every soundfont.

A part is one ``stk-demo`` run with up to ``VOICES`` voices: every note gets
a SKINI channel of its own while it sounds, its ``NoteOn`` carries the
fractional MIDI pitch at its onset and ``PitchChange`` messages on its
channel follow its pitch curve (``expression.Curves``), so the label
follows the sound exactly as with FluidSynth's pitch wheel. The waveguide
models are not tuned exactly to their nominal pitch (delay-line lengths and
filter phase); ``TUNING`` holds the measured error of each model (cents at
MIDI 36..96, step 2; ``measure_tuning`` remeasures it) and the rendering
subtracts it, so a note sounds at its labelled f0 within 13 cents (measured
over every model's range, ``tests/test_expressive.py``). STK's brass and
formant-voice models are left out: their pitch jumps by up to 60 cents from
one note to the next (lip and formant resonances), beyond any correction.

STK seeds its noise generators from the clock; with libfaketime installed
(``apt-get install -y libfaketime``) every render runs with a clock derived
from its score, so a track is the same audio every time it is rendered
(without it, only the noise differs between renders).

Install: ``apt-get install -y stk libfaketime``. Without STK ``STKError``
says so in one line.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile as sf

from data_pipelines import corpus
from data_pipelines.generated import fluidsynth_render as fs

INSTALL = 'apt-get install -y stk'
# STK seeds its noise generators (breath, bow, pluck excitation) from the
# clock. Run under libfaketime (Debian ``libfaketime``) with a clock set from
# the score, a render is a pure function of its score.
FAKETIME_LIBRARY = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'
FAKETIME_INSTALL = 'apt-get install -y libfaketime'
VOICES = 8
_CHANNELS = tuple(range(1, 17))
_RELEASE_GUARD = 0.3  # s a channel rests after a note-off before reuse


class STKError(RuntimeError):
  """STK is missing or a render failed (one line)."""


@dataclasses.dataclass(frozen=True)
class Instrument:
  """An STK model: whether players bend it (vibrato, glides), its playable
  MIDI range, the roles it takes and its gain to match the soundfonts."""
  sustained: bool
  low: int
  high: int
  roles: tuple[str, ...]
  gain: float = 1.0


_ALL = ('bass', 'chords', 'melody', 'voice')
INSTRUMENTS = {
    'Bowed': Instrument(True, 36, 86, ('melody', 'voice', 'bass')),
    'Clarinet': Instrument(True, 50, 91, ('melody', 'voice')),
    'Saxofony': Instrument(True, 49, 76, ('melody', 'voice')),
    'Flute': Instrument(True, 60, 96, ('melody', 'voice')),
    'BlowBotl': Instrument(True, 66, 84, ('melody', 'voice')),
    'FMVoices': Instrument(True, 45, 79, ('voice', 'chords')),
    'Plucked': Instrument(False, 36, 84, _ALL),
    'StifKarp': Instrument(False, 36, 78, _ALL),
    'Mandolin': Instrument(False, 55, 84, ('melody', 'voice', 'chords')),
    'Sitar': Instrument(False, 48, 74, ('melody', 'voice')),
    'Rhodey': Instrument(False, 36, 96, _ALL),
    'Wurley': Instrument(False, 36, 96, _ALL),
    'BeeThree': Instrument(False, 36, 96, _ALL),
    'HevyMetl': Instrument(False, 36, 84, ('melody', 'voice', 'chords')),
    'Moog': Instrument(True, 36, 84, ('bass', 'melody')),
}
# Heard only in the held-out sets (a reed, a plucked string, an e-piano).
HELD_OUT = ('Saxofony', 'Sitar', 'Wurley')
TRAIN_INSTRUMENTS = tuple(i for i in INSTRUMENTS if i not in HELD_OUT)

# Measured tuning error (cents) of each model at MIDI 36, 38, ..., 96
# (``measure_tuning``; 0 outside a model's range). Rendering subtracts it.
TUNING_PITCHES = np.arange(36, 97, 2)
TUNING: dict[str, tuple[float, ...]] = {
    'Bowed': (5.3, 4.9, 5.3, 6.3, 6.8, 8.2, 9.6, 10.0, 10.1, 13.8, 16.2, 18.2, 19.6, 23.4, 26.4, 29.4, 32.7, 37.1, 43.2, 50.3, 57.7, 59.7, 72.9, 81.4, 95.7, 112.1, 0.0, 0.0, 0.0, 0.0, 0.0),
    'Clarinet': (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.5, -0.1, 0.1, -0.0, -0.1, -0.1, 0.9, 0.0, 0.2, 0.2, 0.1, -0.0, 0.1, 0.4, -0.0, -0.4, 0.1, 0.0, -0.6, -0.8, -0.6, 0.0, 0.0, 0.0),
    'Saxofony': (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -11.5, -13.1, -12.7, -16.5, -18.5, -20.7, -23.3, -24.4, -29.4, -33.0, -37.2, -42.6, -47.7, -54.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    'Flute': (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 24.8, 25.5, 26.3, 26.9, 27.7, 28.7, 30.2, 31.7, 33.7, 35.5, 37.9, 41.0, 43.8, 48.5, 53.9, 60.5, 66.0, 75.8, 83.5),
    'BlowBotl': (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -4.6, -11.7, -22.5, 1.0, 0.1, -1.8, -2.0, 1.5, -3.3, -5.9, 2.4, -12.0, -0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    'FMVoices': (0.0, 0.0, 0.0, 0.0, 0.0, -0.0, 0.0, 0.0, 0.0, -0.0, 0.0, -0.0, 0.0, 0.0, 0.0, -0.0, 0.0, 0.0, -0.0, 0.0, -0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    'Plucked': (-5.1, -5.8, -6.5, -7.3, -8.1, -9.1, -10.3, -11.5, -12.9, -14.5, -16.2, -18.2, -20.4, -22.9, -25.7, -28.8, -32.3, -36.2, -40.8, -45.5, -51.0, -56.9, -64.0, -71.7, -80.7, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    'StifKarp': (-4.9, -6.6, -6.0, -6.9, -24.8, -8.8, -10.1, -11.4, -12.7, -14.8, -16.5, -25.3, -26.5, -22.8, -25.9, -29.0, -32.5, -36.3, -40.9, -45.6, -51.1, -57.1, 0.7, -71.9, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    'Mandolin': (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -22.3, -17.3, -20.4, -26.0, -29.9, -33.0, -37.4, -40.0, -48.4, -44.6, -50.6, -65.4, -72.7, -79.8, -88.7, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    'Sitar': (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -10.2, -11.2, -13.0, -14.2, -15.9, -18.0, -19.9, -22.7, -25.3, -28.6, -31.4, -34.5, -40.0, -45.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    'Rhodey': (0.2, -0.2, -0.1, 0.0, -0.0, -0.0, 0.1, 0.0, -0.1, 0.0, -0.0, -0.0, 0.0, 0.1, 0.0, 0.0, 0.0, -0.0, 0.0, -0.0, -0.0, 0.0, -0.0, -0.0, 0.0, 0.0, 0.0, -0.0, 0.0, -0.0, -0.0),
    'Wurley': (0.4, 0.0, -0.0, 0.5, -0.0, -0.2, 0.1, -0.1, -0.1, -0.0, -0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.0, 0.0, 0.0, -0.0, 0.0, -0.0, -0.0, 0.0),
    'BeeThree': (3.6, -1.7, 3.4, 3.5, -1.7, -2.6, 3.4, 3.5, 3.5, 3.5, -1.7, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, -2.6, 3.5, 3.5, 3.5, 3.5, 3.5, -1.7, -1.7, 3.5, 3.5, -1.7),
    'HevyMetl': (1.5, 1.8, 0.8, 2.4, 1.3, 0.4, -0.7, -0.4, -1.0, -2.6, -0.2, 0.5, 0.7, 0.1, -0.2, -0.1, 0.0, 0.0, 0.0, 0.0, -0.0, -0.0, 0.0, 0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    'Moog': (-0.7, -1.8, -4.1, -1.2, -2.1, -1.1, -0.5, -1.7, -2.2, -1.2, -1.1, -0.8, 0.1, -1.0, -0.6, -0.6, -1.5, -0.8, -0.5, 1.3, -0.4, -0.3, -0.4, 0.0, -0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
}


def find_stk() -> str:
  """Path of ``stk-demo`` (one-line STKError naming the package)."""
  path = shutil.which('stk-demo')
  if path is None:
    raise STKError('The Synthesis ToolKit is not installed (no `stk-demo` on '
                   f'PATH); install it with `{INSTALL}`.')
  return path


def check_instrument(name: str) -> Instrument:
  """The ``Instrument`` named ``name`` (one-line ValueError if unknown)."""
  if name not in INSTRUMENTS:
    raise ValueError(f'Unknown STK instrument {name!r}; known: '
                     f'{", ".join(INSTRUMENTS)}.')
  return INSTRUMENTS[name]


def tuning_error(name: str, pitch: np.ndarray | float) -> np.ndarray:
  """The model's measured tuning error (cents) at MIDI ``pitch``."""
  table = TUNING.get(name)
  if table is None:
    return np.zeros(np.shape(pitch))
  return np.interp(pitch, TUNING_PITCHES, np.asarray(table))


def skini_score(name: str, pitches: np.ndarray, onsets: np.ndarray,
                offsets: np.ndarray, velocities: np.ndarray,
                cents: list[np.ndarray] | None, step: float) -> str:
  """The SKINI text of one part (delta times in seconds).

  ``cents[i]`` is note i's pitch curve on a grid of ``step`` seconds (None =
  in tune); the model's ``tuning_error`` is subtracted from every pitch.
  """
  try:
    channels = fs.allocate_channels(onsets, offsets, channels=_CHANNELS,
                                    release_guard=_RELEASE_GUARD)
  except ValueError as error:
    raise STKError(f'{error} in one STK part.') from error
  events = []  # (time, order, text without time)
  for i in range(len(pitches)):
    ch = int(channels[i])
    curve = np.zeros(1) if cents is None else np.asarray(cents[i])
    correction = float(tuning_error(name, pitches[i])) / 100.0
    values = pitches[i] + curve / 100.0 - correction
    velocity = float(np.clip(velocities[i], 1, 127))
    events.append((onsets[i], 1, f'NoteOn\t{{t}}\t{ch}\t{values[0]:.4f}\t'
                   f'{velocity:.1f}'))
    last = values[0]
    for k in range(1, len(values)):
      t = onsets[i] + k * step
      if t >= offsets[i]:
        break
      if abs(values[k] - last) >= 0.002:
        events.append((t, 2, f'PitchChange\t{{t}}\t{ch}\t{values[k]:.4f}'))
        last = values[k]
    events.append((offsets[i], 0, f'NoteOff\t{{t}}\t{ch}\t{last:.4f}\t0.0'))
  events.sort(key=lambda e: (e[0], e[1]))
  lines, now = [], 0.0
  for t, _, text in events:
    lines.append(text.format(t=f'{max(0.0, t - now):.6f}'))
    now = max(now, t)
  return '\n'.join(lines) + '\n'


def render_part(name: str, pitches: np.ndarray, onsets: np.ndarray,
                offsets: np.ndarray, velocities: np.ndarray, n_samples: int,
                *, cents: list[np.ndarray] | None = None, step: float = 0.01,
                sample_rate: int = corpus.SAMPLE_RATE) -> np.ndarray:
  """Renders one part with STK model ``name``: [n_samples] float32.

  Raises:
    STKError: STK missing or the render failed (one line).
    ValueError: unknown instrument.
  """
  program = find_stk()
  instrument = check_instrument(name)
  score = skini_score(name, np.asarray(pitches, np.float64),
                      np.asarray(onsets, np.float64),
                      np.asarray(offsets, np.float64),
                      np.asarray(velocities, np.float64), cents, step)
  with tempfile.TemporaryDirectory(prefix='mpe_stk_') as tmp:
    ski, out = os.path.join(tmp, 'part.ski'), os.path.join(tmp, 'part.wav')
    with open(ski, 'w', encoding='ascii') as f:
      f.write(score)
    result = subprocess.run(
        [program, name, '-n', str(VOICES), '-s', str(sample_rate), '-ow', out,
         '-if', ski], capture_output=True, text=True, check=False,
        stdin=subprocess.DEVNULL, env=_fixed_clock_env(name + score))
    if result.returncode != 0 or not os.path.isfile(out):
      lines = [l for l in (result.stderr or result.stdout).splitlines()
               if l.strip() and not l.startswith(('ALSA', 'RtApi'))]
      raise STKError(f'stk-demo {name} failed (exit {result.returncode}): '
                     f'{" ".join(" ".join(lines).split())[:300]}')
    data, rate = sf.read(out, dtype='float32', always_2d=True)
  if rate != sample_rate:
    raise STKError(f'stk-demo rendered {rate} Hz instead of {sample_rate} Hz.')
  audio = np.zeros(n_samples, np.float32)
  mono = data.mean(axis=1)[:n_samples]
  audio[:len(mono)] = mono
  return audio * np.float32(instrument.gain)


def is_deterministic() -> bool:
  """Whether renders are pure functions of their scores (libfaketime)."""
  return os.path.isfile(FAKETIME_LIBRARY)


def _fixed_clock_env(text: str) -> dict[str, str] | None:
  """The environment that runs STK with a clock set from ``text`` (None:
  libfaketime missing, the real clock)."""
  if not is_deterministic():
    return None
  import hashlib  # pylint: disable=g-import-not-at-top
  offset = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 10**8
  env = dict(os.environ)
  env['LD_PRELOAD'] = ' '.join(
      p for p in (FAKETIME_LIBRARY, env.get('LD_PRELOAD', '')) if p)
  import time  # pylint: disable=g-import-not-at-top
  # A clock starting at 2000-01-01 + offset s (libfaketime's '@' form).
  env['FAKETIME'] = '@' + time.strftime('%Y-%m-%d %H:%M:%S',
                                        time.gmtime(946684800 + offset))
  env['FAKETIME_DONT_FAKE_MONOTONIC'] = '1'
  return env


def estimate_cents(audio: np.ndarray, pitch: float, *,
                   sample_rate: int = corpus.SAMPLE_RATE) -> float:
  """Deviation (cents) of a steady note's f0 from MIDI ``pitch``: the
  magnitude-weighted median over harmonics 1-4 of each harmonic's spectral
  peak (within +-150 cents, parabolic interpolation) against its expected
  frequency."""
  n = len(audio)
  n_fft = 1 << int(np.ceil(np.log2(8 * n)))
  spectrum = np.abs(np.fft.rfft(audio * np.hanning(n), n_fft))
  freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
  f0 = float(corpus.midi_to_hz(pitch))
  deviations, weights = [], []
  for h in (1, 2, 3, 4):
    target = h * f0
    if target * 2 ** (150 / 1200) >= sample_rate / 2:
      break
    band = np.nonzero((freqs > target * 2 ** (-150 / 1200)) &
                      (freqs < target * 2 ** (150 / 1200)))[0]
    k = int(band[np.argmax(spectrum[band])])
    a, b, c = np.log(spectrum[k - 1:k + 2] + 1e-12)
    shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
    peak = freqs[k] + shift * (freqs[1] - freqs[0])
    deviations.append(1200 * np.log2(peak / target))
    weights.append(spectrum[k])
  order = np.argsort(deviations)
  cumulative = np.cumsum(np.asarray(weights)[order])
  return float(np.asarray(deviations)[order][
      np.searchsorted(cumulative, cumulative[-1] / 2)])


def measure_tuning(name: str, *, sample_rate: int = corpus.SAMPLE_RATE
                   ) -> tuple[float, ...]:
  """The model's tuning error at ``TUNING_PITCHES`` (0 outside its range),
  measured on 1-s notes rendered without correction (0.3-0.9 s analysed)."""
  instrument = check_instrument(name)
  errors = []
  saved = TUNING.pop(name, None)
  try:
    for pitch in TUNING_PITCHES:
      p = int(np.clip(pitch, instrument.low, instrument.high))
      if p != pitch:
        errors.append(0.0)
        continue
      audio = render_part(name, np.array([p]), np.array([0.0]),
                          np.array([1.0]), np.array([100.0]),
                          sample_rate, sample_rate=sample_rate)
      segment = audio[int(0.3 * sample_rate):int(0.9 * sample_rate)]
      errors.append(round(estimate_cents(segment, p,
                                         sample_rate=sample_rate), 1))
  finally:
    if saved is not None:
      TUNING[name] = saved
  return tuple(errors)
