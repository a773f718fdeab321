"""Transcribe audio files with the shipped model or a trained checkpoint.

    python -m mpe_jax.transcribe --output_dir=out song.wav     # shipped model
    mpe-jax-transcribe --output_dir=out song.wav                # the same
    python -m mpe_jax.transcribe --checkpoint=runs/quick [--output_dir=out] \\
        [--formats=mid,notes,txt,png,csv,npz,wav] song.wav more_songs/ ...

Without ``--checkpoint`` the model shipped in the package
(``mpe_jax/pretrained/``, ``pretrained.DEFAULT``) is used.

Reads any format libsndfile (or, failing that, librosa/ffmpeg) decodes, at any
sample rate and channel count (averaged to mono, resampled to the model rate,
peak-normalised as in the reference loaders), in blocks, and computes the
salience in fixed-size chunks that reproduce whole-file processing
(``mpe_jax.inference``), so memory stays bounded for files of any length.
Folders are searched recursively for audio files. For each input it writes
``<stem>.mid``, ``.notes.csv``, ``.multipitch.txt`` and ``.png`` (and on
request ``.csv``, ``.npz``, ``.sonified.wav``; see ``mpe_jax.outputs``) under
``--output_dir`` (inputs found in a folder keep their sub-folders). The
checkpoint carries its config; no ``--config`` is needed.

Every input is checked before anything is written: a missing file or a
folder without audio stops the command with one line and no output. A file
that cannot be transcribed (not audio, corrupt, NaN samples, ...) is
reported in one line and skipped; the others go on. The run ends with
a summary; the exit status is 0 when every input was transcribed, 1 when some
failed, 2 when nothing could start (bad flags, unreadable checkpoint,
unwritable output folder). ``--verbose`` adds tracebacks and library logs.

In Python (e.g. a notebook)::

    from mpe_jax import inference, transcribe
    predictor = inference.load_predictor('runs/quick')
    result = transcribe.transcribe_audio(audio, 22050, predictor)
    result.plot()
    transcribe.transcribe_files(['song.wav'], predictor, output_dir='out')
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import os
import sys
import time
import traceback
from typing import Any, Sequence

import numpy as np

from data_pipelines import audio as audio_lib
from data_pipelines import audio_stream
from mpe_jax import cli
from mpe_jax import outputs as outputs_lib
from mpe_jax import onsets as onsets_lib
from mpe_jax.evaluation import peaks as peaks_lib

# Extensions searched for in folders (explicitly named files of any extension
# are tried).
AUDIO_EXTENSIONS = ('.wav', '.wave', '.flac', '.ogg', '.oga', '.opus', '.mp3',
                    '.aif', '.aiff', '.aifc', '.au', '.snd', '.w64', '.rf64',
                    '.caf', '.m4a', '.mp4', '.aac', '.wma')

USAGE = """Transcribe audio files with mpe_jax (the shipped model by default).

Usage: mpe-jax-transcribe [--output_dir=OUT] [--formats=mid,notes,txt,png]
           [--checkpoint=DIR] [--min_frequency=HZ] [--max_frequency=HZ]
           [--onset_threshold=DB] [--min_note_seconds=S] [--midi_tempo=BPM]
           AUDIO_FILE_OR_FOLDER...
   (or: python -m mpe_jax.transcribe ...)
"""


# ---------------------------------------------------------------- inputs ---


@dataclasses.dataclass(frozen=True)
class Job:
  """One input file: its path, its output stem (relative), or why not."""
  source: str
  stem: str = ''
  error: str = ''


def expand_inputs(inputs: Sequence[str]) -> list[Job]:
  """Files stay as given; folders become their audio files (recursively).

  A missing path or a folder without audio files becomes a ``Job`` with an
  ``error``. Output stems are the file name without extension, or the path
  relative to the folder given; repeated stems get ``_2``, ``_3``, ...
  """
  jobs: list[Job] = []
  for raw in inputs:
    path = os.path.normpath(os.fspath(raw))
    if os.path.isdir(path):
      found = []
      for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
          if name.lower().endswith(AUDIO_EXTENSIONS) and not name.startswith(
              '.'):
            full = os.path.join(root, name)
            found.append(Job(full, os.path.splitext(
                os.path.relpath(full, path))[0]))
      if not found:
        jobs.append(Job(path, error=(
            f'{path}: folder contains no audio files '
            f'({", ".join(AUDIO_EXTENSIONS[:7])}, ...).')))
      jobs.extend(found)
    elif os.path.exists(path):
      jobs.append(Job(path, os.path.splitext(os.path.basename(path))[0]))
    else:
      jobs.append(Job(path, error=f'{path}: file not found.'))
  seen: dict[str, int] = {}
  unique = []
  for job in jobs:
    if job.error:
      unique.append(job)
      continue
    count = seen.get(job.stem, 0) + 1
    seen[job.stem] = count
    unique.append(job if count == 1 else dataclasses.replace(
        job, stem=f'{job.stem}_{count}'))
  return unique


def check_output_dir(path: str) -> str:
  """Creates ``path`` if needed and checks that files can be written there.

  Raises:
    OSError: one line naming the folder.
  """
  path = os.path.abspath(path)
  try:
    os.makedirs(path, exist_ok=True)
    probe = os.path.join(path, f'.mpe_jax_write_test_{os.getpid()}')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise OSError(f'cannot write to output folder {path} '
                  f'({e.strerror or type(e).__name__}); choose another '
                  '--output_dir.') from e
  return path


# ---------------------------------------------------------------- results ---


@dataclasses.dataclass
class FileResult:
  """What happened to one input."""
  source: str
  outputs: list[str] = dataclasses.field(default_factory=list)
  error: str = ''
  warnings: list[str] = dataclasses.field(default_factory=list)
  seconds: float = 0.0  # audio duration
  notes: int | None = None  # None: no note output was asked for
  frames: int = 0  # salience frames computed
  frames_with_pitch: int = 0  # of them, frames with at least one pitch
  skipped: bool = False
  traceback: str = ''  # for unexpected errors (shown with --verbose)
  adaptation: str = ''  # what --adapt did (or a warning says why not)

  @property
  def ok(self) -> bool:
    return not self.error


@dataclasses.dataclass
class Transcription:
  """The transcription of one signal (in memory).

  Attributes:
    salience: ``[K, T]`` in [0, 1].
    times: ``[T]`` frame times (s).
    frequencies: ``[K]`` bin frequencies (Hz).
    threshold: peak threshold used for ``multipitch`` and ``notes``.
    multipitch: T arrays of active frequencies (Hz), mir_eval format.
    notes: MIDI notes (``outputs.Note``).
    adaptation: with ``adapt``, what the test-time adaptation did, or why
      it did not run (one line); '' otherwise.
  """
  salience: np.ndarray
  times: np.ndarray
  frequencies: np.ndarray
  threshold: float
  multipitch: list[np.ndarray]
  notes: list[outputs_lib.Note]
  adaptation: str = ''

  def write_midi(self, path: str, *, pitch_bends: bool = False,
                 tempo_bpm: float = outputs_lib.MIDI_TEMPO) -> str:
    """The notes as a MIDI file (as the command's ``.mid``); returns it.
    ``pitch_bends``: follow each note's pitch curve (``outputs.write_midi``);
    ``tempo_bpm``: the file's tempo (the notes keep their times).
    """
    return outputs_lib.write_midi(os.fspath(path), self.notes,
                                  pitch_bends=pitch_bends,
                                  tempo_bpm=tempo_bpm)

  def write_notes(self, path: str) -> str:
    """The note events as CSV (as the command's ``.notes.csv``: start,
    end, MIDI pitch, velocity, mean bend in cents); returns the path."""
    return outputs_lib.write_notes(os.fspath(path), self.notes)

  def write_txt(self, path: str) -> str:
    """The frame-level pitches in mir_eval's multi-pitch format (as the
    command's ``.multipitch.txt``); returns the path."""
    return outputs_lib.write_multipitch(os.fspath(path), self.times,
                                        self.multipitch)

  def write_npz(self, path: str) -> str:
    """``salience``, ``times`` and ``frequencies`` (as the command's
    ``.npz``); returns the path."""
    return outputs_lib.write_npz(os.fspath(path), self.salience, self.times,
                                 self.frequencies)

  def plot(self, ax=None, **kwargs):
    """Salience-gram with the estimates (matplotlib; a new figure if no ax)."""
    if ax is None:
      import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
      _, ax = plt.subplots(figsize=(10, 4))
    kwargs.setdefault('notes', self.notes)
    return outputs_lib.plot_salience(ax, self.salience, self.times,
                                     self.frequencies,
                                     threshold=self.threshold, **kwargs)


def _decoding(predictor, threshold: float | None) -> tuple[float, float]:
  """(threshold, continuation threshold) of the peaks (``peaks.decoding``)."""
  return peaks_lib.decoding(predictor.config.eval, threshold)


MAX_CHANNELS = 8  # more "channels" than this is not a channel axis


def to_mono(audio: Any) -> np.ndarray:
  """``[N]`` float32 samples of ``[N]``, ``[N, C]`` (soundfile's layout) or
  ``[C, N]`` (librosa's) audio, channels averaged.

  A 2-D array is read as ``[N, C]`` when its second axis is at most
  ``MAX_CHANNELS`` long and its first is longer, as ``[C, N]`` the other way
  round; anything else is ambiguous.

  Raises:
    ValueError: no samples, more than 2 axes, or an ambiguous 2-D shape.
  """
  x = np.asarray(audio, np.float32)
  if x.ndim == 2:
    rows, cols = x.shape
    if cols <= MAX_CHANNELS < rows:
      x = x.mean(axis=1, dtype=np.float32)
    elif rows <= MAX_CHANNELS < cols:
      x = x.mean(axis=0, dtype=np.float32)
    else:
      raise ValueError(
          f'audio of shape {x.shape} is ambiguous: give [samples] or '
          f'[samples, channels] / [channels, samples] with at most '
          f'{MAX_CHANNELS} channels and more samples than that.')
  if x.ndim != 1 or x.size == 0:
    raise ValueError(f'audio must be [N], [N, C] or [C, N] with N > 0, got '
                     f'shape {np.shape(audio)}')
  return x


def transcribe_audio(audio: np.ndarray, sample_rate: int, predictor, *,
                     threshold: float | None = None,
                     min_note_seconds: float = outputs_lib.MIN_NOTE_SECONDS,
                     max_gap_seconds: float = outputs_lib.MAX_GAP_SECONDS,
                     onset_threshold: float | None = outputs_lib.ONSET_DB,
                     min_frequency: float | None = None,
                     max_frequency: float | None = None,
                     adapt: Any = None) -> Transcription:
  """Transcribes a signal held in memory.

  Args:
    audio: ``[N]`` mono, ``[N, C]`` or ``[C, N]`` samples (``to_mono``).
    sample_rate: Hz of ``audio`` (resampled to the model rate if different).
    predictor: an ``inference.Predictor``.
    threshold: peak threshold (default: the checkpoint's
      ``config.eval.threshold``).
    min_note_seconds, max_gap_seconds: note extraction (see
      ``outputs.NoteTracker``).
    onset_threshold: rise (dB) of the energy at a sounding note's harmonics
      that starts it again (a repeated note); None: never split.
    min_frequency, max_frequency: pitches outside ``[min, max]`` Hz are
      dropped from ``multipitch`` and ``notes`` (None: no limit).
    adapt: an ``adapt.AdaptSettings``: first adapt a copy of the model to
      this signal (``mpe_jax.adapt``); None: no adaptation.

  Raises:
    ValueError: empty audio, an ambiguous shape, NaN/Inf samples, a bad
      frequency range.
  """
  x = to_mono(audio)
  allowed = outputs_lib.frequency_mask(predictor.bin_frequencies,
                                       min_frequency, max_frequency)
  if not np.all(np.isfinite(x)):
    raise ValueError('audio contains NaN or Inf samples')
  if sample_rate != predictor.sample_rate:
    x = audio_lib.resample(x, sample_rate,
                           predictor.sample_rate).astype(np.float32)
  peak = float(np.max(np.abs(x)))
  thr, low = _decoding(predictor, threshold)
  adaptation = ''
  if adapt is not None:
    report = FileResult('')
    if peak > 0:
      predictor = _adapted(predictor, x / peak, adapt, report, None)
    else:
      report.warnings.append('not adapted: the recording is silent: nothing '
                             'to adapt to.')
    adaptation = report.adaptation or report.warnings[-1]
  if peak > 0:
    salience = predictor.salience(x / peak)
  else:  # digital silence: no pitch
    n_frames = (predictor.num_frames(len(x)) if predictor.streaming
                else predictor.whole_file(x).shape[-1])
    salience = np.zeros((len(predictor.bin_frequencies), n_frames),
                        np.float32)
  times = predictor.frame_times(salience.shape[-1])
  tracker = outputs_lib.NoteTracker(
      times[1] - times[0] if len(times) > 1 else
      predictor.hop_length / predictor.sample_rate,
      min_note_seconds=min_note_seconds, max_gap_seconds=max_gap_seconds,
      onset_db=onset_threshold)
  active = peaks_lib.decode(salience, thr, low)
  if allowed is not None:
    active = active & allowed[:, None]
  freqs = [predictor.bin_frequencies[active[:, t]]
           for t in range(active.shape[-1])]
  strength = None
  if peak > 0 and predictor.hop_length:
    strength = onsets_lib.OnsetStrength(predictor.sample_rate,
                                        predictor.hop_length)(
                                            x / peak, 0,
                                            salience.shape[-1])
  tracker.add_salience(0, salience, active, predictor.bin_frequencies,
                       strength)
  return Transcription(salience, times, predictor.bin_frequencies, thr,
                       freqs, tracker.finish(), adaptation)


def _frame_seconds(predictor) -> float:
  times = predictor.frame_times(2)
  return float(times[1] - times[0])


def _zero_blocks(n_bins: int, n_frames: int, block: int):
  for start in range(0, n_frames, block):
    yield start, np.zeros((n_bins, min(block, n_frames - start)), np.float32)


def _counted(salience: np.ndarray, progress: Any):
  """The one block of a salience computed ahead (progress updated)."""
  if progress is not None:
    progress.update(salience.shape[-1])
  yield 0, salience


def _phase(timings, name: str):
  """``timings.phase(name)``, or nothing without timings."""
  return contextlib.nullcontext() if timings is None else timings.phase(name)


def _adapted(predictor, samples, settings, result: FileResult,
             progress: Any):
  """The predictor adapted to ``samples`` (``mpe_jax.adapt``), or the given
  one with a warning when the recording cannot be adapted on."""
  from mpe_jax import adapt as adapt_lib  # pylint: disable=g-import-not-at-top
  try:
    adapted, report = adapt_lib.adapt(
        predictor, np.asarray(samples[0:len(samples)], np.float32), settings,
        progress=progress)
  except adapt_lib.AdaptError as error:
    result.warnings.append(f'not adapted: {error}')
    return predictor
  result.adaptation = report.line()
  return adapted


@dataclasses.dataclass
class Prepared:
  """One input decoded (and, for files of up to two chunks, its whole
  salience computed) ahead of writing its outputs (``prepare``)."""
  decoded: Any = None  # audio_stream.DecodedAudio, peak-normalised
  salience: np.ndarray | None = None  # [K, T], or None: streamed later
  error: str = ''  # the file could not be decoded (one line)
  failure: BaseException | None = None  # computing the salience failed


def prepare(job: Job, predictor, *, ahead: bool = False) -> Prepared:
  """Decodes ``job``'s file; with ``ahead``, also computes the salience of
  a file that goes through the model in one call (up to
  ``predictor.whole_frames`` frames, not silent), so that a worker thread
  can run it while the previous file's outputs are written."""
  prepared = Prepared()
  try:
    prepared.decoded = audio_stream.decode_audio(job.source,
                                                 predictor.sample_rate)
  except audio_lib.AudioError as e:
    prepared.error = str(e)
    return prepared
  decoded = prepared.decoded
  decoded.normalize()
  if (ahead and decoded.peak > 0 and predictor.streaming is not None
      and not decoded.on_disk
      and predictor.num_frames(len(decoded.samples))
      <= predictor.whole_frames):
    try:
      prepared.salience = predictor.whole_file(decoded.samples)
    except Exception as e:  # pylint: disable=broad-except
      prepared.failure = e  # raised where the file's errors are handled
  return prepared


def transcribe_file(job: Job, predictor, output_dir: str, *,
                    formats: Sequence[str] = outputs_lib.DEFAULT_FORMATS,
                    threshold: float | None = None,
                    min_note_seconds: float = outputs_lib.MIN_NOTE_SECONDS,
                    max_gap_seconds: float = outputs_lib.MAX_GAP_SECONDS,
                    skip_existing: bool = False,
                    progress: Any = None, timings: Any = None,
                    sonify_balance: float = 0.5,
                    pitch_bends: bool = False,
                    onset_threshold: float | None = outputs_lib.ONSET_DB,
                    min_frequency: float | None = None,
                    max_frequency: float | None = None,
                    midi_tempo: float = outputs_lib.MIDI_TEMPO,
                    adapt: Any = None,
                    prepared: Any = None) -> FileResult:
  """Transcribes one input to its output files (errors are not raised but
  returned in ``FileResult.error``, except programming errors).

  ``timings`` (a ``timings.Timings``) gets the seconds spent decoding
  ('decode'), computing the salience ('compute') and picking peaks, joining
  notes and writing files ('host'). ``adapt`` (an ``adapt.AdaptSettings``)
  first adapts a copy of the model to this input (``mpe_jax.adapt``); a
  recording it cannot adapt on is transcribed unadapted, with a warning.
  ``prepared``: a future of ``prepare(job, predictor, ahead=True)`` run by
  a worker thread (the wait for it counts as 'compute'); None: decoded
  here."""

  result = FileResult(job.source)
  if job.error:
    result.error = job.error
    return result
  stem = os.path.join(output_dir, job.stem)
  targets = [stem + outputs_lib.SUFFIXES[f] for f in formats]
  if skip_existing and all(os.path.exists(t) for t in targets):
    result.outputs, result.skipped = targets, True
    return result
  if prepared is not None:
    with _phase(timings, 'compute'):
      ready = prepared.result()
  else:
    with _phase(timings, 'decode'):
      ready = prepare(job, predictor)
  if ready.error:
    result.error = ready.error
    return result
  decoded = ready.decoded
  result.warnings = list(decoded.warnings)
  result.seconds = decoded.seconds
  writers = None
  try:
    if decoded.peak == 0:
      result.warnings.append('silent: every sample is 0; no pitches.')
    if ready.failure is not None:
      raise ready.failure
    samples = decoded.samples
    if adapt is not None and decoded.peak > 0:
      predictor = _adapted(predictor, samples, adapt, result, progress)
    if ready.salience is not None:  # computed ahead
      n_frames, blocks = ready.salience.shape[-1], _counted(
          ready.salience, progress)
    elif predictor.streaming is None:
      whole = predictor.whole_file(samples)
      n_frames, blocks = whole.shape[-1], iter([(0, whole)])
    else:
      n_frames = predictor.num_frames(len(samples))
      blocks = (_zero_blocks(len(predictor.bin_frequencies), n_frames,
                             predictor.chunk_frames) if decoded.peak == 0
                else predictor.stream(samples, progress=progress))
    writers = outputs_lib.Writers(
        stem, formats, predictor.bin_frequencies, _frame_seconds(predictor),
        n_frames, threshold=_decoding(predictor, threshold)[0],
        continue_threshold=_decoding(predictor, threshold)[1],
        min_note_seconds=min_note_seconds, max_gap_seconds=max_gap_seconds,
        title=os.path.basename(job.source), audio=samples,
        sample_rate=predictor.sample_rate, balance=sonify_balance,
        pitch_bends=pitch_bends, onset_db=onset_threshold,
        min_frequency=min_frequency, max_frequency=max_frequency,
        tempo_bpm=midi_tempo)
    if progress is not None:
      progress.reset(total=n_frames)
    blocks = iter(blocks)
    while True:
      with _phase(timings, 'compute'):
        item = next(blocks, None)
      if item is None:
        break
      with _phase(timings, 'host'):
        writers.add(*item)
    with _phase(timings, 'host'):
      result.outputs = writers.commit()
    if writers.tracker is not None:
      result.notes = len(writers.notes)
    result.frames = n_frames
    result.frames_with_pitch = writers.frames_with_pitch
  except OSError as e:
    if writers is not None:
      writers.abort()
    result.error = f'{job.source}: cannot write outputs ({cli.one_line(e)}).'
  except Exception as e:  # pylint: disable=broad-except
    if writers is not None:
      writers.abort()
    result.error = f'{job.source}: {cli.one_line(e)}'
    result.traceback = traceback.format_exc()
  return result


def transcribe_files(inputs: Sequence[str], predictor, *,
                     output_dir: str = '.',
                     formats: Sequence[str] = outputs_lib.DEFAULT_FORMATS,
                     threshold: float | None = None,
                     min_note_seconds: float = outputs_lib.MIN_NOTE_SECONDS,
                     max_gap_seconds: float = outputs_lib.MAX_GAP_SECONDS,
                     skip_existing: bool = False,
                     verbose: bool = False,
                     show_progress: bool | None = None,
                     timings: Any = None,
                     sonify_balance: float = 0.5,
                     pitch_bends: bool = False,
                     onset_threshold: float | None = outputs_lib.ONSET_DB,
                     min_frequency: float | None = None,
                     max_frequency: float | None = None,
                     midi_tempo: float = outputs_lib.MIDI_TEMPO,
                     adapt: Any = None) -> list[FileResult]:
  """Transcribes files and folders; one failure does not stop the others.

  Prints one line per failure and warning on stderr (tracebacks with
  ``verbose``) and the written outputs on stdout.

  Returns:
    One ``FileResult`` per input file (folders expanded).

  Raises:
    OSError: ``output_dir`` cannot be written.
    ValueError: unknown format.
  """
  from tqdm import auto as tqdm  # pylint: disable=g-import-not-at-top

  unknown = sorted(set(formats) - set(outputs_lib.FORMATS))
  if unknown or not formats:
    raise ValueError(f'unknown --formats {unknown or formats}; choose from '
                     f'{",".join(outputs_lib.FORMATS)}.')
  output_dir = check_output_dir(output_dir)
  jobs = expand_inputs(inputs)
  results = []
  disable = None if show_progress is None else not show_progress
  # One worker decodes the next file and computes its salience while this
  # one's notes and files are made (not with --adapt: each file adapts its
  # own copy of the model first).
  ahead = adapt is None and predictor.streaming is not None and len(jobs) > 1
  pool = concurrent.futures.ThreadPoolExecutor(
      max_workers=1, thread_name_prefix='mpe_jax_prepare') if ahead else None
  futures: dict[int, Any] = {}

  def submit(i: int) -> None:
    job = jobs[i]
    if pool is None or job.error or (skip_existing and all(
        os.path.exists(os.path.join(output_dir, job.stem)
                       + outputs_lib.SUFFIXES[f]) for f in formats)):
      return
    futures[i] = pool.submit(prepare, job, predictor, ahead=True)

  with contextlib.ExitStack() as stack, tqdm.tqdm(
      total=len(jobs), unit='file', desc='transcribe', disable=disable,
      dynamic_ncols=True) as files_bar:
    if pool is not None:
      stack.callback(pool.shutdown, wait=False, cancel_futures=True)
      submit(0)
    for i, job in enumerate(jobs):
      if pool is not None and i + 1 < len(jobs):
        submit(i + 1)
      files_bar.set_postfix_str(os.path.basename(job.source)[-40:])
      with tqdm.tqdm(unit='frame', desc=os.path.basename(job.source)[-30:],
                     leave=False, disable=disable,
                     dynamic_ncols=True) as frames_bar:
        r = transcribe_file(job, predictor, output_dir, formats=formats,
                            threshold=threshold,
                            min_note_seconds=min_note_seconds,
                            max_gap_seconds=max_gap_seconds,
                            skip_existing=skip_existing,
                            progress=frames_bar, timings=timings,
                            sonify_balance=sonify_balance,
                            pitch_bends=pitch_bends,
                            onset_threshold=onset_threshold,
                            min_frequency=min_frequency,
                            max_frequency=max_frequency,
                            midi_tempo=midi_tempo, adapt=adapt,
                            prepared=futures.pop(i, None))
      files_bar.update(1)
      _report(r, verbose, files_bar)
      results.append(r)
  return results


def _report(r: FileResult, verbose: bool, bar) -> None:
  lines_err, lines_out = [], []
  for w in r.warnings:
    lines_err.append(f'warning: {r.source}: {w}')
  if r.traceback and verbose:
    lines_err.append(r.traceback.rstrip())
  if r.error:
    lines_err.append(f'error: {r.error}')
  elif r.skipped:
    lines_out.append(f'{r.source}: outputs exist, skipped')
  else:
    if r.adaptation:
      lines_out.append(f'{r.source}: {r.adaptation}')
    lines_out.append(f'{r.source} ({describe(r)}) -> '
                     + ', '.join(r.outputs))
  for line in lines_out:
    bar.write(line, file=sys.stdout)
  for line in lines_err:
    bar.write(line, file=sys.stderr)


def describe(r: FileResult) -> str:
  """What was computed for one input: '5.0 s, 12 notes' when notes were
  made, else '5.0 s, 380 of 431 frames with pitches'."""
  if r.notes is not None:
    return f'{r.seconds:.1f} s, {r.notes} notes'
  return (f'{r.seconds:.1f} s, {r.frames_with_pitch} of {r.frames} frames '
          'with pitches')


def summary(results: Sequence[FileResult]) -> str:
  """The closing lines: counts, then one line per failed input."""
  failed = [r for r in results if not r.ok]
  done = len(results) - len(failed)
  lines = [f'Transcribed {done} of {len(results)} input(s)'
           + (f'; {len(failed)} failed:' if failed else '.')]
  lines += [f'  {r.error}' for r in failed]
  return '\n'.join(lines)


# -------------------------------------------------------------------- CLI ---


def _default_model() -> str:
  from mpe_jax import pretrained  # pylint: disable=g-import-not-at-top
  return pretrained.DEFAULT


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top

  fv = flags.FlagValues()
  flags.DEFINE_string('checkpoint', None, 'Checkpoint: a training workdir, '
                      'its checkpoints/ folder, one step folder, or a shipped '
                      'model (its name or folder); default: the shipped '
                      'model mpe_jax/pretrained/' + _default_model() + '.',
                      flag_values=fv)
  flags.DEFINE_enum('prefer', 'best', ['best', 'latest'], 'In a workdir, use '
                    'the best (validation) or the latest checkpoint.',
                    flag_values=fv)
  flags.DEFINE_string('output_dir', '.', 'Folder for the outputs (created).',
                      flag_values=fv)
  flags.DEFINE_list('formats', list(outputs_lib.DEFAULT_FORMATS),
                    'Outputs: any of ' + ','.join(outputs_lib.FORMATS) +
                    ' (mid: MIDI notes; notes: note events, <stem>.notes.csv; '
                    'txt: pitches per frame, mir_eval format; png: picture; '
                    'csv: one row per frame and pitch; npz: the salience; '
                    'wav: the notes synthesised over the input, '
                    '<stem>.sonified.wav).',
                    flag_values=fv)
  flags.DEFINE_float('threshold', None, 'Salience threshold on the peaks '
                     "(default: the checkpoint's config.eval.threshold).",
                     flag_values=fv)
  flags.DEFINE_float('min_note_seconds', outputs_lib.MIN_NOTE_SECONDS,
                     'Notes: shortest note kept (s).', flag_values=fv)
  flags.DEFINE_float('onset_threshold', outputs_lib.ONSET_DB, 'Notes: rise '
                     '(dB) of the energy at a sounding note\'s harmonics that '
                     'starts it again (a repeated note); higher splits less.',
                     flag_values=fv)
  flags.DEFINE_float('min_frequency', None, 'Leave out pitches below this '
                     '(Hz) from every output but the salience.',
                     flag_values=fv)
  flags.DEFINE_float('max_frequency', None, 'Leave out pitches above this '
                     '(Hz) from every output but the salience.',
                     flag_values=fv)
  flags.DEFINE_float('midi_tempo', outputs_lib.MIDI_TEMPO, 'Tempo (bpm) '
                     'written in the MIDI file (note times do not change).',
                     flag_values=fv)
  flags.DEFINE_float('max_gap_seconds', outputs_lib.MAX_GAP_SECONDS,
                     'MIDI: longest pause inside one note.', flag_values=fv)
  flags.DEFINE_bool('pitch_bends', False, 'MIDI: follow each note\'s pitch '
                    'curve with pitch-bend messages (one channel per sounding '
                    'bent note, bends reset at every note).', flag_values=fv)
  flags.DEFINE_float('chunk_seconds', 20.0, 'Audio per model call (memory '
                     'use grows with it; results do not change).',
                     flag_values=fv)
  flags.DEFINE_integer('batch_size', 1, 'Chunks of long files per model '
                       'call (1 is fastest on a CPU; more on an accelerator).',
                       flag_values=fv)
  flags.DEFINE_float('sonify_balance', 0.5, 'wav output: share of the '
                     'synthesised notes in the mix (0 = the recording only, '
                     '1 = the notes only).', lower_bound=0.0, upper_bound=1.0,
                     flag_values=fv)
  flags.DEFINE_bool('adapt', False, 'Adapt a copy of the model to each '
                    'input before transcribing it (self-supervised test-time '
                    'adaptation, docs/pretrained.md); off by default.',
                    flag_values=fv)
  flags.DEFINE_float('adapt_seconds', 60.0, 'Time budget of --adapt per '
                     'input (s).', flag_values=fv)
  flags.DEFINE_bool('skip_existing', False, 'Skip inputs whose outputs all '
                    'exist (to resume a large batch).', flag_values=fv)
  flags.DEFINE_bool('progress', None, 'Progress bars (default: when stderr '
                    'is a terminal).', flag_values=fv)
  flags.DEFINE_bool('compile_cache', True, 'Keep the compiled programs in '
                    'a cache folder of their own ($MPE_JAX_COMPILE_CACHE, '
                    'else $XDG_CACHE_HOME/mpe_jax/transcribe) so the next run '
                    'compiles nothing; --nocompile_cache turns it off.',
                    flag_values=fv)
  flags.DEFINE_bool('timings', False, 'Print where the time went (one JSON '
                    'line on stderr: start-up, imports, model load, tracing, '
                    'compilation, decoding, compute, host work).',
                    flag_values=fv)
  flags.DEFINE_bool('verbose', False, 'Tracebacks and library logs.',
                    flag_values=fv)
  return fv


def _adapt_settings(fv):
  """``adapt.AdaptSettings`` of ``--adapt`` / ``--adapt_seconds`` (None
  without ``--adapt``)."""
  if not fv.adapt:
    return None
  if not fv.adapt_seconds > 0:
    raise cli.UsageError(f'--adapt_seconds must be > 0, got '
                         f'{fv.adapt_seconds}')
  from mpe_jax import adapt as adapt_lib  # pylint: disable=g-import-not-at-top
  return adapt_lib.AdaptSettings(seconds=float(fv.adapt_seconds))


def check_inputs(inputs: Sequence[str], output_dir_given: bool) -> None:
  """Every input exists (files) or holds audio (folders), before anything
  is written.

  Raises:
    cli.UsageError: one line naming each missing input (with a hint when
      the first one looks like Basic-Pitch's output-folder argument).
  """
  bad = [job for job in expand_inputs(inputs) if job.error]
  if not bad:
    return
  text = '; '.join(job.error.rstrip('.') for job in bad)
  first = os.path.normpath(os.fspath(inputs[0]))
  if (len(inputs) > 1 and not output_dir_given
      and bad[0].source == first):
    text += (f' (to write the outputs into {inputs[0]}, give '
             f'--output_dir={inputs[0]})')
  raise cli.UsageError(text + '; nothing was written')


def check_options(fv) -> None:
  """The decoding options' values, before anything is written."""
  try:
    outputs_lib.frequency_mask(np.ones(1), fv.min_frequency,
                               fv.max_frequency)
  except ValueError as error:
    raise cli.UsageError(f'--min_frequency/--max_frequency: {error}') from None
  if not 0 < fv.midi_tempo <= 10_000:
    raise cli.UsageError(f'--midi_tempo must lie in (0, 10000] bpm, got '
                         f'{fv.midi_tempo}')
  if fv.min_note_seconds < 0:
    raise cli.UsageError(f'--min_note_seconds must be >= 0, got '
                         f'{fv.min_note_seconds}')


def run(argv: Sequence[str]) -> int:
  """The command line; returns the exit status (0, 1 or 2)."""
  fv = _define_flags()
  prog = 'mpe_jax.transcribe'

  def body() -> int:
    inputs = cli.parse(fv, argv, USAGE)
    with cli.quiet_logging(fv.verbose):
      return command(inputs)

  def command(inputs: list[str]) -> int:
    if not inputs:
      raise cli.UsageError('give at least one audio file or folder')
    unknown = sorted(set(fv.formats) - set(outputs_lib.FORMATS))
    if unknown or not fv.formats:
      raise cli.UsageError(f'unknown --formats {unknown or fv.formats}; '
                           f'choose from {",".join(outputs_lib.FORMATS)}')
    check_options(fv)
    adapt = _adapt_settings(fv)
    check_inputs(inputs, fv['output_dir'].present)
    check_output_dir(fv.output_dir)  # before the (slow) model load
    from mpe_jax import timings as timings_lib  # pylint: disable=g-import-not-at-top
    timings = timings_lib.Timings() if fv.timings else None
    if timings is not None:
      timings.add('startup', timings_lib.process_age())
    with _phase(timings, 'imports'):
      from mpe_jax import compile_cache  # pylint: disable=g-import-not-at-top
      from mpe_jax import inference  # pylint: disable=g-import-not-at-top
      cache_dir = compile_cache.enable(fv.compile_cache)
    if timings is not None:
      timings.listen()
    t0 = time.perf_counter()
    with _phase(timings, 'model_load'):
      predictor = inference.load_predictor(
          fv.checkpoint, prefer=fv.prefer, chunk_seconds=fv.chunk_seconds,
          batch_size=fv.batch_size, cache_dir=cache_dir)
    results = transcribe_files(
        inputs, predictor, output_dir=fv.output_dir, formats=fv.formats,
        threshold=fv.threshold, min_note_seconds=fv.min_note_seconds,
        max_gap_seconds=fv.max_gap_seconds, skip_existing=fv.skip_existing,
        verbose=fv.verbose, show_progress=fv.progress, timings=timings,
        sonify_balance=fv.sonify_balance, pitch_bends=fv.pitch_bends,
        onset_threshold=fv.onset_threshold, min_frequency=fv.min_frequency,
        max_frequency=fv.max_frequency, midi_tempo=fv.midi_tempo,
        adapt=adapt)
    print(summary(results), file=sys.stderr if any(
        not r.ok for r in results) else sys.stdout)
    if timings is not None:
      print('timings ' + json.dumps(timings.summary(predictor.programs)),
            file=sys.stderr)
    if fv.verbose:
      print(f'({time.perf_counter() - t0:.1f} s)', file=sys.stderr)
    return cli.OK if all(r.ok for r in results) else cli.FAILURES

  return cli.run_command(prog, body, lambda: bool(fv['verbose'].value))


def main() -> None:
  sys.exit(run(sys.argv))


if __name__ == '__main__':
  main()
