"""Singing-voice data for MAJL's original setting: mixtures, vocal stems and
vocal pitch, from corpora, synthetic songs and Stage-I pseudo-labels.

Every track becomes a ``VocalRecord``: the mixture and (where the corpus has
it) the vocal stem at the label rate (16 kHz), both scaled by the same gain
(the mixture's peak is 1), and (where annotated) the vocal f0 on the label
frames ``t * hop / sr`` (``config.hcqt``: 20-ms frames), in Hz, 0 = unvoiced
(the lowest pitch where an annotation has two). Per-frame confidences of the
stem (``confi_mss``) and of the pitch (``confi_pe``) are 1 for ground truth
and MAJL Eq. 4 for pseudo-labels.

Vocal corpora (``VOCAL_CORPORA``; names as in ``config.data.mixture.sources``
'<name>/<split>'):

* 'mir1k', 'medleydb' (fully labelled), 'musdb18' (stems only),
  'mir_st500' (pitch only): the readers of ``data_pipelines/<name>.py`` at
  ``config.data.dataset_dirs.<name>``, or their prepared folders under
  ``<data_dir>/vocal/<name>/<split>`` (``python -m data_pipelines.prepare
  --dataset=<name> --vocal``; read instead of the raw corpus when present).
* 'synth_full', 'synth_mss', 'synth_pe': synthetic songs made here, with
  exact stems and f0 (``synth_song``): fully labelled, stems only (like
  MUSDB18) and pitch only (like MIR-ST500), each its own tracks.
  ``config.data.vocal.synthetic_tracks`` tracks per split ('train',
  'test') of ``config.data.vocal.synthetic_seconds`` seconds.
* 'pseudo/<name>/<split>' (e.g. 'pseudo/musdb18/train'): the Stage-I
  pseudo-labels of that set under ``config.data.pseudo_label_dir``
  (``python -m mpe_jax.vocal_pseudo_label``): the set's own labels plus the
  missing ones, with their confidences.

A prepared or pseudo-labelled folder holds ``manifest.json`` (corpus, split,
sample_rate, hop_length, tracks, has_stems, has_pitch, and for pseudo-labels
the checkpoint) and per track ``<i>.npz`` with ``mixture`` [N], ``vocals``
[N] (if any), ``f0`` [T] (if any), ``confi_mss`` [T], ``confi_pe`` [T].

Training (``train_batches``, ``config.data.train_source='vocal'``) draws one
hop-aligned random excerpt per track per epoch from every source of
``config.data.mixture`` (per-epoch track permutations as the corpus sources
of ``sources.py``) and yields ``mixture``, ``vocals`` [b, N] float32,
``labels`` [b, K, T] uint8, ``has_stems``, ``has_pitch`` [b] bool,
``confi_mss``, ``confi_pe`` [b, T] float32. ``use_labels`` / ``use_stems``
per source switch its pitch / stems off; ``config.data.vocal.fractions``
keeps the first share of a seeded track order (the paper's "Half").

Evaluation sets ('vocal/<name>/<split>', ``register_eval_sets``) are
``VocalTrack``s: the whole mixture, its vocal stem (or None) and the f0
reference at the annotation's own times.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any, Callable

import ml_collections
import numpy as np

from data_pipelines import audio as audio_lib
from data_pipelines import batching
from data_pipelines import corpus as corpus_lib
from data_pipelines import labels as labels_lib
from data_pipelines import npz
from data_pipelines import sources as sources_lib
from data_pipelines import tracks

PREPARED_SUBDIR = 'vocal'
MANIFEST = 'manifest.json'
PSEUDO_PREFIX = 'pseudo/'
SYNTHETIC = {'synth_full': (True, True), 'synth_mss': (True, False),
             'synth_pe': (False, True)}  # name -> (has_stems, has_pitch)
SYNTHETIC_SPLITS = ('train', 'test')
FRACTION_SEED = 0  # the track order that 'fractions' cut (recorded)
_EXCERPT, _SYNTH = 41, 42  # seed sub-domains


class VocalDataError(ValueError):
  """A vocal source or folder that does not fit (one line)."""


@dataclasses.dataclass
class VocalRecord:
  """One track at the label rate.

  Attributes:
    name: unique within its set.
    mixture: [N] float32, peak 1.
    vocals: [N] float32 at the mixture's gain, or None.
    f0: [T] float32 Hz on the label frames (0 = unvoiced), or None.
    confi_mss: [T] float32 confidence of the stem per frame.
    confi_pe: [T] float32 confidence of the f0 per frame.
    ref: the reference at the annotation's own times (times [M] s, M arrays
      of Hz), or None (evaluation only).
  """
  name: str
  mixture: np.ndarray
  vocals: np.ndarray | None
  f0: np.ndarray | None
  confi_mss: np.ndarray
  confi_pe: np.ndarray
  ref: tuple[np.ndarray, list[np.ndarray]] | None = None


@dataclasses.dataclass
class VocalTrack(tracks.Track):
  """An evaluation track: ``audio`` is the mixture; ``vocals`` its stem (or
  None); ``has_pitch`` whether ``ref_times`` / ``ref_freqs`` hold the vocal
  pitch (else they are empty)."""
  vocals: np.ndarray | None = None
  has_pitch: bool = True


def n_frames(n_samples: int, hop_length: int) -> int:
  return 1 + int(n_samples) // int(hop_length)


def lowest_pitch(freqs: list[np.ndarray]) -> np.ndarray:
  """[T] Hz: the lowest positive pitch of each frame (0 if none)."""
  out = np.zeros(len(freqs), np.float32)
  for i, f in enumerate(freqs):
    f = np.asarray(f, np.float64)
    f = f[f > 0]
    if f.size:
      out[i] = f.min()
  return out


def f0_grid(f0: np.ndarray, grid: dict) -> np.ndarray:
  """[T] Hz -> [n_bins, T] uint8 one-hot label grid (nearest bin)."""
  freqs = [np.asarray([f]) if f > 0 else np.zeros(0) for f in f0]
  return labels_lib.frequencies_to_grid(
      freqs, fmin=grid['fmin'], bins_per_octave=grid['bins_per_octave'],
      n_bins=grid['n_bins'])


# ------------------------------------------------------------ synthetic songs

_VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240),
           (530, 1840, 2480), (570, 840, 2410))  # F1-F3 (Hz) of a i u e o


def _voice(rng: np.random.Generator, n: int, sr: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """A sung line: audio [n], f0 [n] Hz and amplitude envelope [n] >= 0.

  Phrases of 2-6 notes (0.15-0.6 s) around a register drawn in MIDI 48-72,
  40-80 ms glides between notes, vibrato (5-7 Hz, 15-50 cents, fading in),
  0.1-0.5 s rests between phrases; harmonics shaped by the three formants of
  one vowel per phrase and a -6 dB/octave tilt.
  """
  midi = np.zeros(n)
  env = np.zeros(n)
  vowel = np.zeros((n, 3))
  base = rng.uniform(48, 72)
  pos = int(rng.uniform(0.0, 0.3) * sr)
  while pos < n:
    notes = base + rng.integers(-5, 6, size=int(rng.integers(2, 7)))
    formants = np.asarray(_VOWELS[int(rng.integers(len(_VOWELS)))], float)
    start = pos
    prev = notes[0]
    for m in notes:
      length = int(rng.uniform(0.15, 0.6) * sr)
      seg = slice(pos, min(pos + length, n))
      k = seg.stop - seg.start
      if k <= 0:
        break
      glide = min(int(rng.uniform(0.04, 0.08) * sr), k)
      contour = np.full(k, float(m))
      contour[:glide] = np.linspace(prev, m, glide)
      midi[seg] = contour
      prev = m
      pos += length
    stop = min(pos, n)
    k = stop - start
    if k > 0:
      ramp = min(int(0.03 * sr), k // 2)
      e = np.ones(k)
      e[:ramp] = np.linspace(0, 1, ramp)
      e[k - ramp:] = np.linspace(1, 0, ramp)
      env[start:stop] = e * rng.uniform(0.6, 1.0)
      vowel[start:stop] = formants * rng.uniform(0.9, 1.1)
      t = np.arange(k) / sr
      rate, depth = rng.uniform(5, 7), rng.uniform(0.15, 0.5)
      midi[start:stop] += depth * np.minimum(t / 0.3, 1.0) * np.sin(
          2 * np.pi * rate * t)
    pos = stop + int(rng.uniform(0.1, 0.5) * sr)
  f0 = np.where(env > 0, 440.0 * 2.0 ** ((midi - 69.0) / 12.0), 0.0)
  phase = 2 * np.pi * np.cumsum(f0) / sr
  audio = np.zeros(n)
  for h in range(1, 31):
    fh = h * f0
    gain = 0.05 + sum(np.exp(-0.5 * ((fh - vowel[:, i]) / (80 + 40 * i)) ** 2)
                      for i in range(3))
    audio += np.where(fh < 0.45 * sr, gain / h, 0.0) * np.sin(h * phase)
  audio *= env
  return audio, f0, env


@functools.lru_cache(maxsize=256)
def synth_song(seed: int, kind: str, split: str, index: int, *,
               seconds: float, sample_rate: int, hop_length: int
               ) -> VocalRecord:
  """Synthetic song ``index`` of corpus ``kind`` ('synth_full' ...): a sung
  line (``_voice``) over a synthetic polyphonic accompaniment
  (``synthetic.synth_mixture``, 1-3 voices) and drums at 0.3, the voice at a
  vocal-to-accompaniment ratio of -6..3 dB (RMS). The f0 label of a frame
  is the voice's f0 where its envelope is >= 0.1 of its peak. Cached: the
  same arguments return the same (read-only) record."""
  from data_pipelines.generated import synthetic, synthetic_drums  # pylint: disable=g-import-not-at-top
  kinds = tuple(SYNTHETIC)
  rng = np.random.default_rng(np.random.SeedSequence(
      [int(seed), _SYNTH, kinds.index(kind), SYNTHETIC_SPLITS.index(split),
       int(index)]))
  n = int(round(seconds * sample_rate))
  voice, f0, env = _voice(rng, n, sample_rate)
  acc_index = 3 * int(index) + kinds.index(kind)
  acc = synthetic.synth_mixture(seed, acc_index, split=split,
                                sample_rate=sample_rate, seconds=seconds,
                                max_voices=3, hop_length=hop_length).audio
  acc = np.pad(acc, (0, max(0, n - len(acc))))[:n]
  acc = acc + 0.3 * synthetic_drums.synth_drums(seed, acc_index, n,
                                                sample_rate=sample_rate)
  ratio_db = rng.uniform(-6.0, 3.0)
  rms = lambda x: np.sqrt(np.mean(x ** 2) + 1e-12)  # pylint: disable=unnecessary-lambda-assignment
  voice = voice * rms(acc) / rms(voice) * 10 ** (ratio_db / 20)
  mixture = voice + acc
  gain = 1.0 / max(np.max(np.abs(mixture)), 1e-9)
  times = np.arange(n_frames(n, hop_length)) * hop_length
  voiced = env[np.minimum(times, n - 1)] >= 0.1 * env.max()
  frame_f0 = np.where(voiced, f0[np.minimum(times, n - 1)], 0.0)
  has_stems, has_pitch = SYNTHETIC[kind]
  ones = np.ones(len(times), np.float32)
  frame_times = times / sample_rate
  return VocalRecord(
      name=f'{kind}_{split}_{index:04d}',
      mixture=(mixture * gain).astype(np.float32),
      vocals=(voice * gain).astype(np.float32) if has_stems else None,
      f0=frame_f0.astype(np.float32) if has_pitch else None,
      confi_mss=ones, confi_pe=ones.copy(),
      ref=((frame_times, [np.asarray([f]) if f > 0 else np.zeros(0)
                          for f in frame_f0]) if has_pitch else None))


class SyntheticVocalCorpus:
  """'synth_full' / 'synth_mss' / 'synth_pe': ``n_tracks`` songs per split."""

  def __init__(self, kind: str, *, seed: int, n_tracks: int, seconds: float):
    self.name, self.title = kind, f'synthetic songs ({kind})'
    self.has_stems, self.has_pitch = SYNTHETIC[kind]
    self.splits = SYNTHETIC_SPLITS
    self.seed, self.n_tracks, self.seconds = seed, int(n_tracks), seconds

  def track_ids(self, split: str) -> list[str]:
    if split not in self.splits:
      raise VocalDataError(f'{self.title} has no split {split!r}; splits: '
                           f'{", ".join(self.splits)}.')
    return [f'{split}/{i}' for i in range(self.n_tracks)]

  def load_vocal(self, track_id: str, *, sample_rate: int,
                 hop_length: int) -> VocalRecord:
    split, index = track_id.split('/')
    return synth_song(self.seed, self.name, split, int(index),
                      seconds=self.seconds, sample_rate=sample_rate,
                      hop_length=hop_length)


# ---------------------------------------------------------------- corpora


def corpus_has(reader: corpus_lib.Corpus) -> tuple[bool, bool]:
  """(has stems, has pitch) of a corpus reader."""
  return getattr(reader, 'stem_names', None) is not None, reader.annotated


def load_corpus_vocal(reader: corpus_lib.Corpus, track_id: str, *,
                      sample_rate: int, hop_length: int) -> VocalRecord:
  """A reader's track as a ``VocalRecord`` (one decode of each file).

  Raises:
    audio.AudioError, corpus.AnnotationError: missing or corrupt files.
  """
  has_stems, has_pitch = corpus_has(reader)
  if has_stems:
    stems = reader.stems(track_id, sample_rate)
    mixture, vocals = stems['mixture'], stems['vocals']
  else:
    mixture = audio_lib.load_audio(reader.audio_path(track_id), sample_rate)
    vocals = None
  gain = 1.0 / max(float(np.max(np.abs(mixture))), 1e-9)
  mixture = (mixture * gain).astype(np.float32)
  vocals = None if vocals is None else (vocals * gain).astype(np.float32)
  t = n_frames(len(mixture), hop_length)
  f0 = ref = None
  if has_pitch:
    annotation = reader.pitch_annotation(track_id)
    times = labels_lib.frame_times(t, hop_length, sample_rate)
    f0 = lowest_pitch(annotation.sample(times))
    if isinstance(annotation, corpus_lib.FramePitches):
      ref = (np.asarray(annotation.times, np.float64),
             [np.asarray(f, np.float64) for f in annotation.freqs])
    else:
      ref = (times, annotation.sample(times))
  ones = np.ones(t, np.float32)
  return VocalRecord(track_id, mixture, vocals, f0, ones, ones.copy(), ref)


class CorpusVocal:
  """A corpus reader seen as a vocal corpus."""

  def __init__(self, reader: corpus_lib.Corpus):
    self.reader = reader
    self.name, self.title, self.splits = reader.name, reader.title, (
        reader.splits)
    self.has_stems, self.has_pitch = corpus_has(reader)

  def track_ids(self, split: str) -> list[str]:
    return self.reader.track_ids(split)

  def load_vocal(self, track_id: str, *, sample_rate: int,
                 hop_length: int) -> VocalRecord:
    return load_corpus_vocal(self.reader, track_id, sample_rate=sample_rate,
                             hop_length=hop_length)


VOCAL_CORPORA = ('mir1k', 'medleydb', 'musdb18', 'mir_st500') + tuple(
    SYNTHETIC)


def open_vocal_corpus(config: ml_collections.ConfigDict, name: str):
  """The vocal corpus ``name`` (``VOCAL_CORPORA``) as the config locates it.

  Raises:
    VocalDataError: an unknown name.
    corpus.DatasetNotFoundError: a corpus directory unset or missing.
  """
  if name in SYNTHETIC:
    v = config.data.vocal
    return SyntheticVocalCorpus(name, seed=config.seed,
                                n_tracks=v.synthetic_tracks,
                                seconds=v.synthetic_seconds)
  if name not in VOCAL_CORPORA:
    raise VocalDataError(f'Unknown vocal corpus {name!r}; choose from '
                         f'{", ".join(VOCAL_CORPORA)}.')
  from data_pipelines import catalog  # pylint: disable=g-import-not-at-top
  return CorpusVocal(catalog.open_corpus(config, name))


# ----------------------------------------------------------------- folders


def write_folder(directory: str, records, *, corpus: str, split: str,
                 sample_rate: int, hop_length: int, has_stems: bool,
                 has_pitch: bool, extra: dict | None = None) -> str:
  """Writes ``records`` (an iterable of ``VocalRecord``) and the manifest
  (last, so a folder with a manifest is complete); returns ``directory``."""
  os.makedirs(directory, exist_ok=True)
  names = []
  for i, r in enumerate(records):
    arrays = {'mixture': r.mixture, 'confi_mss': r.confi_mss,
              'confi_pe': r.confi_pe}
    if r.vocals is not None:
      arrays['vocals'] = r.vocals
    if r.f0 is not None:
      arrays['f0'] = r.f0
    tmp = os.path.join(directory, f'.{i:05d}.npz')
    with open(tmp, 'wb') as f:
      np.savez(f, **{k: np.asarray(v, np.float32) for k, v in arrays.items()})
    os.replace(tmp, os.path.join(directory, f'{i:05d}.npz'))
    names.append(r.name)
  manifest = {'corpus': corpus, 'split': split, 'sample_rate': sample_rate,
              'hop_length': hop_length, 'has_stems': has_stems,
              'has_pitch': has_pitch, 'tracks': names}
  manifest.update(extra or {})
  tmp = os.path.join(directory, '.' + MANIFEST)
  with open(tmp, 'w', encoding='utf-8') as f:
    json.dump(manifest, f, indent=2)
  os.replace(tmp, os.path.join(directory, MANIFEST))
  return directory


class VocalFolder:
  """A prepared or pseudo-labelled folder as a vocal corpus of one split."""

  def __init__(self, directory: str, *, sample_rate: int, hop_length: int,
               what: str):
    path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(path):
      raise corpus_lib.DatasetNotFoundError(
          f'{what}: {directory!r} holds no {MANIFEST}.')
    with open(path, encoding='utf-8') as f:
      self.manifest = json.load(f)
    m = self.manifest
    if (int(m['sample_rate']), int(m['hop_length'])) != (sample_rate,
                                                          hop_length):
      raise VocalDataError(
          f'{what}: {directory!r} was written at {m["sample_rate"]} Hz, hop '
          f'{m["hop_length"]}, but config.hcqt asks for {sample_rate} Hz, hop '
          f'{hop_length}; write it again with this config.')
    self.directory = directory
    self.name, self.title = m['corpus'], what
    self.has_stems, self.has_pitch = bool(m['has_stems']), bool(
        m['has_pitch'])
    self.names = list(m['tracks'])

  def __len__(self) -> int:
    return len(self.names)

  def load_index(self, i: int) -> VocalRecord:
    z = npz.read_arrays(os.path.join(self.directory, f'{i:05d}.npz'))
    get = lambda k: np.asarray(z[k], np.float32) if k in z else None  # pylint: disable=unnecessary-lambda-assignment
    return VocalRecord(self.names[i], get('mixture'), get('vocals'),
                       get('f0'), get('confi_mss'), get('confi_pe'))


def prepared_dir(data_dir: str, corpus: str, split: str) -> str:
  return os.path.join(data_dir, PREPARED_SUBDIR, corpus, split)


def prepare_split(reader: corpus_lib.Corpus, split: str, data_dir: str, *,
                  sample_rate: int = 16000, hop_length: int = 320) -> str:
  """Writes ``<data_dir>/vocal/<corpus>/<split>/`` (mixture, stem, f0 at
  ``sample_rate``); returns the folder."""
  vocal = CorpusVocal(reader)
  records = (vocal.load_vocal(t, sample_rate=sample_rate,
                              hop_length=hop_length)
             for t in vocal.track_ids(split))
  return write_folder(prepared_dir(data_dir, reader.name, split), records,
                      corpus=reader.name, split=split,
                      sample_rate=sample_rate, hop_length=hop_length,
                      has_stems=vocal.has_stems, has_pitch=vocal.has_pitch)


# ----------------------------------------------------------------- sources


class _ListStore:
  """Tracks of a vocal corpus split, decoded (or made) on every read."""

  def __init__(self, vocal, split: str, *, sample_rate: int,
               hop_length: int):
    self.vocal, self.names = vocal, vocal.track_ids(split)
    self.kw = dict(sample_rate=sample_rate, hop_length=hop_length)
    self.has_stems, self.has_pitch = vocal.has_stems, vocal.has_pitch

  def __len__(self) -> int:
    return len(self.names)

  def load_index(self, i: int) -> VocalRecord:
    return self.vocal.load_vocal(self.names[i], **self.kw)


def fraction_order(n: int, fraction: float) -> np.ndarray:
  """The stored tracks a source keeps: the first ``ceil(fraction * n)`` of
  a permutation drawn with ``FRACTION_SEED`` (sorted)."""
  if not 0.0 < fraction <= 1.0:
    raise VocalDataError(f'config.data.vocal.fractions entries must lie in '
                         f'(0, 1], got {fraction}.')
  order = np.random.default_rng(FRACTION_SEED).permutation(n)
  return np.sort(order[:max(1, int(np.ceil(fraction * n)))])


class VocalSource(sources_lib.EpochOrder):
  """One hop-aligned random excerpt per kept track per epoch."""

  def __init__(self, name: str, store, *, seed: int, use_stems: bool,
               use_pitch: bool, fraction: float, grid: dict):
    if len(store) == 0:
      raise VocalDataError(f'Training source {name!r} has no tracks.')
    if use_stems and not store.has_stems:
      raise VocalDataError(
          f'Training source {name!r} has no vocal stems; set its '
          'config.data.mixture.use_stems entry to False (or pseudo-label it '
          'with python -m mpe_jax.vocal_pseudo_label).')
    if use_pitch and not store.has_pitch:
      raise VocalDataError(
          f'Training source {name!r} has no pitch labels; set its '
          'config.data.mixture.use_labels entry to False (or pseudo-label it '
          'with python -m mpe_jax.vocal_pseudo_label).')
    self.name, self.full_store, self.seed = name, store, seed
    self.use_stems, self.use_pitch, self.grid = use_stems, use_pitch, grid
    self.kept = fraction_order(len(store), fraction)
    self.store = self.kept  # EpochOrder permutes len(self.store) items
    self._init_order(name)

  def item(self, index: int, n_samples: int) -> dict[str, Any]:
    epoch, position = self.locate(index)
    track = int(self.kept[position])
    r = self.full_store.load_index(track)
    hop = self.grid['hop_length']
    rng = np.random.default_rng(np.random.SeedSequence(
        [self.seed, _EXCERPT, self._key, epoch, track]))
    start = audio_lib.excerpt_start(len(r.mixture), n_samples, rng,
                                    align=hop)
    t = n_frames(n_samples, hop)
    first = start // hop

    def frames(x, fill):
      inside = audio_lib.take_excerpt(np.ones(len(x), bool), first, t)
      return np.where(inside, audio_lib.take_excerpt(x, first, t),
                      np.float32(fill)).astype(np.float32)

    zeros = np.zeros(n_samples, np.float32)
    stems = self.use_stems and r.vocals is not None
    pitch = self.use_pitch and r.f0 is not None
    return {
        'mixture': audio_lib.take_excerpt(r.mixture, start, n_samples),
        'vocals': (audio_lib.take_excerpt(r.vocals, start, n_samples)
                   if stems else zeros),
        'labels': (f0_grid(frames(r.f0, 0.0), self.grid) if pitch else
                   np.zeros((self.grid['n_bins'], t), np.uint8)),
        'has_stems': np.bool_(stems), 'has_pitch': np.bool_(pitch),
        'confi_mss': frames(r.confi_mss, 1.0),
        'confi_pe': frames(r.confi_pe, 1.0)}

  def describe(self) -> str:
    what = [w for w, on in (('stems', self.use_stems),
                            ('pitch', self.use_pitch)) if on]
    return (f'{self.name} ({len(self.kept)} of {len(self.full_store)} '
            f'tracks, {" + ".join(what) or "audio only"})')


def _grid(config: ml_collections.ConfigDict) -> dict:
  h = config.hcqt
  return dict(sample_rate=int(h.sample_rate), hop_length=int(h.hop_length),
              fmin=float(h.fmin), bins_per_octave=int(h.bins_per_octave),
              n_bins=int(h.n_bins))


def open_store(config: ml_collections.ConfigDict, name: str):
  """The tracks of source ``name`` ('<corpus>/<split>' or
  'pseudo/<corpus>/<split>'): a pseudo-label folder, a prepared folder, or
  the corpus itself.

  Raises:
    VocalDataError, corpus.DatasetNotFoundError: one line naming the fix.
  """
  g = _grid(config)
  kw = dict(sample_rate=g['sample_rate'], hop_length=g['hop_length'])
  if name.startswith(PSEUDO_PREFIX):
    base = config.data.pseudo_label_dir
    hint = ('make them with `python -m mpe_jax.vocal_pseudo_label '
            '--checkpoint=STAGE1_WORKDIR --sets=...` and pass '
            '--config.data.pseudo_label_dir=DIR')
    if not base:
      raise corpus_lib.DatasetNotFoundError(
          f'Training source {name!r} needs config.data.pseudo_label_dir (it '
          f'is empty): {hint}.')
    directory = os.path.join(base, name[len(PSEUDO_PREFIX):])
    if not os.path.isfile(os.path.join(directory, MANIFEST)):
      raise corpus_lib.DatasetNotFoundError(
          f'Training source {name!r}: no pseudo-labels at {directory!r}; '
          f'{hint}.')
    return VocalFolder(directory, what=f'pseudo-labels {name}', **kw)
  corpus, _, split = name.partition('/')
  if corpus not in VOCAL_CORPORA:
    raise VocalDataError(f'Unknown vocal training source {name!r}; sources '
                         f"are '<corpus>/<split>' and "
                         f"'pseudo/<corpus>/<split>' with corpus in "
                         f'{", ".join(VOCAL_CORPORA)}.')
  folder = prepared_dir(config.data.data_dir, corpus, split)
  if config.data.data_dir and os.path.isfile(os.path.join(folder, MANIFEST)):
    return VocalFolder(folder, what=f'prepared {name}', **kw)
  vocal = open_vocal_corpus(config, corpus)
  if split not in vocal.splits:
    raise VocalDataError(f'{vocal.title} has no split {split!r} (in '
                         f'{name!r}); splits: {", ".join(vocal.splits)}.')
  return _ListStore(vocal, split, **kw)


def open_sources(config: ml_collections.ConfigDict, local_batch: int
                 ) -> list[tuple[VocalSource, int]]:
  """(source, items per host batch) of ``config.data.mixture``."""
  mix = config.data.mixture
  counts = batching.mixture_counts(config, local_batch)
  stems = tuple(bool(u) for u in mix.use_stems)
  fractions = tuple(float(f) for f in config.data.vocal.fractions)
  if not len(stems) == len(fractions) == len(counts):
    raise VocalDataError(
        'config.data.mixture.use_stems and config.data.vocal.fractions need '
        f'one entry per source ({len(counts)}), got {len(stems)} and '
        f'{len(fractions)}.')
  grid = _grid(config)
  return [(VocalSource(name, open_store(config, name), seed=config.seed,
                       use_stems=s, use_pitch=use, fraction=f, grid=grid),
           count)
          for (name, count, use), s, f in zip(counts, stems, fractions)]


ITEM_KEYS = ('mixture', 'vocals', 'labels', 'has_stems', 'has_pitch',
             'confi_mss', 'confi_pe')


def train_batches(config: ml_collections.ConfigDict, *, start_step: int,
                  process_index: int, process_count: int,
                  local_batch: int):
  """Infinite iterator of this host's vocal batches (module docstring);
  slot j of source s at step t reads the source's item ``(t * P + p) *
  c_s + j``, as ``pipeline``'s mixtures do."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  layout = open_sources(config, local_batch)
  for source, count in layout:
    logging.info('Vocal source x%d per host batch: %s.', count,
                 source.describe())
  n = int(round(config.data.excerpt_seconds * config.hcqt.sample_rate))
  t, k = n_frames(n, config.hcqt.hop_length), int(config.hcqt.n_bins)
  slots = [(s, j) for s, (_, c) in enumerate(layout) for j in range(c)]

  def make_item(i: np.ndarray):
    step, slot = divmod(int(i), local_batch)
    s, j = slots[slot]
    source, count = layout[s]
    item = source.item((step * process_count + process_index) * count + j, n)
    return tuple(item[key] for key in ITEM_KEYS)

  types = (tf.float32, tf.float32, tf.uint8, tf.bool, tf.bool, tf.float32,
           tf.float32)
  shapes = ([n], [n], [k, t], [], [], [t], [t])

  def to_item(i):
    values = tf.numpy_function(make_item, [i], types, stateful=False)
    for v, shape in zip(values, shapes):
      v.set_shape(shape)
    return dict(zip(ITEM_KEYS, values))

  ds = tf.data.Dataset.range(start_step * local_batch, np.iinfo(np.int64).max)
  ds = ds.map(to_item, num_parallel_calls=(
      tf.data.AUTOTUNE if config.data.num_parallel_calls < 0
      else config.data.num_parallel_calls), deterministic=True)
  ds = ds.batch(local_batch, drop_remainder=True)
  return batching.BatchIterator(
      ds.prefetch(config.data.prefetch).as_numpy_iterator())


def validation_batches(tracks: list, n_samples: int, chunk: int,
                       config: ml_collections.ConfigDict
                       ) -> list[dict[str, np.ndarray]]:
  """The first ``n_samples`` of every ``VocalTrack`` (zero-padded) as
  batches of the training layout (``ITEM_KEYS``) of at most ``chunk`` items
  (ground truth, confidence 1): MAJL's vocal validation losses."""
  g = config.hcqt
  grid = dict(fmin=float(g.fmin), bins_per_octave=int(g.bins_per_octave),
              n_bins=int(g.n_bins))
  t = n_frames(n_samples, int(g.hop_length))
  times = np.arange(t) * int(g.hop_length) / int(g.sample_rate)
  out = []
  for c0 in range(0, len(tracks), chunk):
    part = tracks[c0:c0 + chunk]
    b = {'mixture': np.zeros((len(part), n_samples), np.float32),
         'vocals': np.zeros((len(part), n_samples), np.float32),
         'labels': np.zeros((len(part), grid['n_bins'], t), np.uint8),
         'has_stems': np.zeros(len(part), bool),
         'has_pitch': np.zeros(len(part), bool),
         'confi_mss': np.ones((len(part), t), np.float32),
         'confi_pe': np.ones((len(part), t), np.float32)}
    for i, track in enumerate(part):
      x = track.audio[:n_samples]
      b['mixture'][i, :len(x)] = x
      if track.vocals is not None:
        b['vocals'][i, :len(x)] = track.vocals[:n_samples]
        b['has_stems'][i] = True
      if track.has_pitch and len(track.ref_times):
        f0 = lowest_pitch(labels_lib.resample_multipitch(
            track.ref_times, track.ref_freqs, times))
        b['labels'][i] = f0_grid(f0, grid)
        b['has_pitch'][i] = True
    out.append(b)
  return out


# -------------------------------------------------------------- evaluation


def eval_tracks(config: ml_collections.ConfigDict, corpus: str,
                split: str) -> list[VocalTrack]:
  """The whole tracks of a vocal corpus split as ``VocalTrack``s."""
  g = _grid(config)
  vocal = open_vocal_corpus(config, corpus)
  out = []
  for name in vocal.track_ids(split):
    r = vocal.load_vocal(name, sample_rate=g['sample_rate'],
                         hop_length=g['hop_length'])
    times, freqs = r.ref if r.ref is not None else (np.zeros(0), [])
    out.append(VocalTrack(r.name, r.mixture, np.asarray(times, np.float64),
                          [np.asarray(f, np.float64) for f in freqs],
                          vocals=r.vocals, has_pitch=r.ref is not None))
  return out


def eval_set_names() -> list[str]:
  """'vocal/<corpus>/<split>' of every vocal corpus and split."""
  from data_pipelines import catalog  # pylint: disable=g-import-not-at-top
  names = []
  for corpus in VOCAL_CORPORA:
    splits = (SYNTHETIC_SPLITS if corpus in SYNTHETIC
              else catalog.CORPORA[corpus].splits)
    names += [f'vocal/{corpus}/{s}' for s in splits]
  return names


def eval_loaders() -> dict[str, Callable[[ml_collections.ConfigDict],
                                         list[VocalTrack]]]:
  """name -> loader(config) of every vocal evaluation set."""
  def loader(corpus, split):
    return lambda config: eval_tracks(config, corpus, split)
  return {name: loader(*name.split('/')[1:]) for name in eval_set_names()}
