"""MedleyDB: multitrack recordings with per-stem pitch annotations; here the
MAJL paper's vocal subset (fully labelled: vocal stems and their pitch).

Layout (the ``MedleyDB`` folder of the V1 release; V2 tracks have the same
form):

  <root>/Audio/<Track>/<Track>_MIX.wav                  mixture (44.1 kHz stereo)
  <root>/Audio/<Track>/<Track>_STEMS/<Track>_STEM_NN.wav  one file per stem
  <root>/Audio/<Track>/<Track>_RAW/                      raw tracks (not read)
  <root>/Audio/<Track>/<Track>_METADATA.yaml            stems and instruments
  <root>/Annotations/Pitch_Annotations/<Track>_STEM_NN.csv   stem pitch

``<Track>`` is ``<Artist>_<Title>``, e.g. ``LizNelson_Rainfall``. The
annotations and metadata as maintained in github.com/marl/medleydb
(``medleydb/data/``) are read as well: ``<root>/Metadata/<Track>_METADATA.yaml``
(when the track folder has none) and ``<root>/Annotations/Pitch/`` (when
``Pitch_Annotations/`` lacks the file). Other annotation folders (melody,
activations, rankings, intervals) are not read.

Metadata: YAML read with a small parser of the block subset these files use
(``parse_simple_yaml``): ``stems: {S01: {filename, instrument, component,
raw}, ...}``, ``stem_dir``, ``mix_filename``; ``instrument`` is one label or
a list of labels (e.g. [male singer, vocalists]).

The vocal subset: a track is listed when a stem whose instrument label
contains 'singer' (male singer, female singer) has a pitch annotation; with
the marl/medleydb annotations these are 59 V1 tracks, 3.23 h (the paper's
clean-vocal subset is 3.21 h; counting 'vocalists'/'rapper' stems too would
give 61 tracks, 3.38 h).

Ground truth: the pitch CSVs of those singer stems, rows ``time,Hz`` (no
header; a few rows carry a third column, ignored) on the grid ``n * 256 /
44100`` s, voiced frames only (gaps = unvoiced; 0 Hz rows also unvoiced).
Every row is snapped to the nearest grid point; the ``FramePitches`` are the
union of the stems' pitches on the grid n = 0 .. last annotated point + 1
(that last point empty, so that times after the annotation are unvoiced).

Stems (``stems``): 'mixture' (the ``_MIX.wav``), 'vocals' (the sum of the
stems whose labels are in the MedleyDB taxonomy's voices group:
``VOICE_LABELS``), 'accompaniment' (the sum of the other stems), each file's
channels averaged, not normalised, cut to the shortest. The mix is the
engineers' mix, not exactly the sum of the stems.

Splits: the paper splits MedleyDB at random 80 % / 20 % without publishing
the split: the rule of ``mir1k.random_split`` over the listed tracks
(``SPLIT_SEED`` = 0); 'all' = every listed track.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np

from data_pipelines import audio as audio_lib
from data_pipelines import corpus
from data_pipelines.corpora import mir1k

GRID_HOP_S = 256 / 44100  # pitch annotation frame step
SPLIT_SEED = 0
# MedleyDB taxonomy (marl/medleydb medleydb/resources/taxonomy.yaml), voices.
VOICE_LABELS = frozenset((
    'male singer', 'female singer', 'male speaker', 'female speaker',
    'male rapper', 'female rapper', 'beatboxing', 'vocalists', 'choir',
    'crowd', 'male screamer', 'female screamer'))


class MetadataError(corpus.AnnotationError):
  """A metadata file is outside the YAML subset ``parse_simple_yaml`` reads."""


def _scalar(text: str, where: str):
  """A YAML scalar: quoted or plain string, or a flow list of scalars."""
  text = text.strip()
  if text.startswith("'"):
    if len(text) < 2 or not text.endswith("'"):
      raise MetadataError(f'{where}: unterminated quoted string {text!r}.')
    return text[1:-1].replace("''", "'")
  if text.startswith('"'):
    try:
      value = json.loads(text)
    except ValueError as error:
      raise MetadataError(f'{where}: bad double-quoted string '
                          f'{text!r}.') from error
    if not isinstance(value, str):
      raise MetadataError(f'{where}: bad double-quoted string {text!r}.')
    return value
  if text.startswith('['):
    if not text.endswith(']'):
      raise MetadataError(f'{where}: unsupported multi-line list {text!r}.')
    inner = text[1:-1].strip()
    return [_scalar(x, where) for x in inner.split(',')] if inner else []
  if text == '{}':
    return {}
  if text in ('~', 'null', 'Null', 'NULL'):
    return None
  if text[:1] in ('{', '|', '>', '&', '*', '!'):
    raise MetadataError(f'{where}: unsupported YAML value {text!r}.')
  return text


def parse_simple_yaml(text: str, path: str = '<string>'):
  """The block-YAML subset of MedleyDB metadata as dicts, lists and strings.

  Supported: nested ``key: value`` / ``key:`` mappings by indentation,
  ``- value`` lists (also at the indentation of their key), quoted and
  plain scalars (returned as strings; ``null``/``~`` as None), ``[]``/
  ``[a, b]``, ``{}``, full-
  line ``#`` comments and a leading ``---``.

  Raises:
    MetadataError: anything else (names ``path`` and the line).
  """
  lines = []
  for number, raw in enumerate(text.splitlines(), start=1):
    if '\t' in raw[:len(raw) - len(raw.lstrip())]:
      raise MetadataError(f'MedleyDB metadata {path!r} line {number}: tab '
                          'indentation.')
    content = raw.strip()
    if not content or content.startswith('#') or content == '---':
      continue
    lines.append((number, len(raw) - len(raw.lstrip(' ')), content))

  def where(number):
    return f'MedleyDB metadata {path!r} line {number}'

  def block(start: int, indent: int):
    """Parses the block at ``lines[start]`` (indentation ``indent``)."""
    if lines[start][2].startswith('- ') or lines[start][2] == '-':
      items, i = [], start
      while (i < len(lines) and lines[i][1] == indent
             and (lines[i][2].startswith('- ') or lines[i][2] == '-')):
        number, _, content = lines[i]
        value = content[1:].strip()
        if re.match(r'^[^\'"\[{][^:]*:(\s|$)', value):
          raise MetadataError(f'{where(number)}: lists of mappings are not '
                              'supported.')
        items.append(_scalar(value, where(number)) if value else '')
        i += 1
      return items, i
    mapping, i = {}, start
    while i < len(lines) and lines[i][1] == indent:
      number, _, content = lines[i]
      if content.startswith('-'):
        raise MetadataError(f'{where(number)}: list item inside a mapping.')
      key, sep, rest = content.partition(':')
      if not sep or (rest and not rest[0].isspace()) or not key.strip():
        raise MetadataError(f'{where(number)}: expected "key: value", got '
                            f'{content!r}.')
      key = key.strip()
      if key[:1] in ("'", '"'):
        key = _scalar(key, where(number))
      rest = rest.strip()
      i += 1
      if rest:
        mapping[key] = _scalar(rest, where(number))
      elif i < len(lines) and (lines[i][1] > indent or (
          lines[i][1] == indent and lines[i][2].startswith('-'))):
        mapping[key], i = block(i, lines[i][1])
      else:
        mapping[key] = None
    if i < len(lines) and lines[i][1] > indent:
      raise MetadataError(f'{where(lines[i][0])}: unexpected indentation.')
    return mapping, i

  if not lines:
    return {}
  value, end = block(0, lines[0][1])
  if end != len(lines):
    raise MetadataError(f'{where(lines[end][0])}: unexpected indentation.')
  return value


@dataclasses.dataclass(frozen=True)
class Stem:
  """One stem of a multitrack (from its metadata)."""
  index: int  # NN of S<NN>
  filename: str
  instruments: tuple[str, ...]

  @property
  def is_voice(self) -> bool:
    return any(label in VOICE_LABELS for label in self.instruments)

  @property
  def is_singer(self) -> bool:
    return any('singer' in label for label in self.instruments)


def snap(times: np.ndarray) -> np.ndarray:
  """Nearest point n of the annotation grid ``n * GRID_HOP_S``."""
  return np.rint(np.asarray(times, np.float64) / GRID_HOP_S).astype(np.int64)


def read_pitch_csv(path: str) -> np.ndarray:
  """[rows, 2] (time s, Hz) of a MedleyDB pitch CSV (extra columns ignored).

  Raises:
    corpus.AnnotationError: missing file, fewer than 2 columns, non-numeric
      or negative entry (names the file and line).
  """
  if not os.path.isfile(path):
    raise corpus.AnnotationError(f'MedleyDB pitch annotation not found: '
                                 f'{path!r}.')
  rows = []
  with open(path, encoding='utf-8', errors='replace') as f:
    for number, line in enumerate(f, start=1):
      if not line.strip():
        continue
      fields = line.split(',')
      try:
        time, hz = float(fields[0]), float(fields[1])
      except (IndexError, ValueError) as error:
        raise corpus.AnnotationError(
            f'MedleyDB pitch annotation {path!r} line {number} is not '
            f'"time,Hz": {line.strip()!r}.') from error
      if not (np.isfinite(time) and np.isfinite(hz)) or time < 0 or hz < 0:
        raise corpus.AnnotationError(
            f'MedleyDB pitch annotation {path!r} line {number} has a '
            f'negative or non-finite value: {line.strip()!r}.')
      rows.append((time, hz))
  return np.asarray(rows, dtype=np.float64).reshape(-1, 2)


class MedleyDB(corpus.FileCorpus):
  """MedleyDB mixtures with the pitch of their singer stems (vocal subset)."""

  name = 'medleydb'
  title = 'MedleyDB'
  splits = ('train', 'test', 'all')
  annotated = True
  url = 'https://medleydb.weebly.com (audio: https://zenodo.org/record/1649325)'
  stem_names = ('mixture', 'vocals', 'accompaniment')

  def __init__(self, root):
    super().__init__(root)
    self._listed: list[str] | None = None
    self._metadata: dict[str, dict] = {}

  # ------------------------------------------------------------ layout
  def _audio_dir(self) -> str:
    return self._require(os.path.join(self.root, 'Audio'), 'Audio folder')

  def _folders(self) -> list[str]:
    audio_dir = self._audio_dir()
    return sorted(d for d in os.listdir(audio_dir) if not d.startswith('.')
                  and os.path.isdir(os.path.join(audio_dir, d)))

  def metadata_path(self, track_id: str) -> str | None:
    """The track's ``_METADATA.yaml`` (track folder, else ``Metadata/``)."""
    for path in (os.path.join(self.root, 'Audio', track_id,
                              f'{track_id}_METADATA.yaml'),
                 os.path.join(self.root, 'Metadata',
                              f'{track_id}_METADATA.yaml')):
      if os.path.isfile(path):
        return path
    return None

  def pitch_path(self, track_id: str, stem: int) -> str | None:
    """A stem's pitch CSV (``Pitch_Annotations/``, else ``Pitch/``)."""
    name = f'{track_id}_STEM_{stem:02d}.csv'
    for folder in ('Pitch_Annotations', 'Pitch'):
      path = os.path.join(self.root, 'Annotations', folder, name)
      if os.path.isfile(path):
        return path
    return None

  def metadata(self, track_id: str) -> dict:
    """The parsed metadata of a track (cached).

    Raises:
      corpus.AnnotationError: missing or unreadable file (names it).
    """
    if track_id not in self._metadata:
      path = self.metadata_path(track_id)
      if path is None:
        raise corpus.AnnotationError(
            f'MedleyDB track {track_id!r} has no {track_id}_METADATA.yaml in '
            f'{os.path.join(self.root, "Audio", track_id)!r} or '
            f'{os.path.join(self.root, "Metadata")!r}.')
      with open(path, encoding='utf-8', errors='replace') as f:
        meta = parse_simple_yaml(f.read(), path)
      if not isinstance(meta, dict) or not isinstance(meta.get('stems'),
                                                      dict):
        raise corpus.AnnotationError(
            f'MedleyDB metadata {path!r} has no "stems" mapping.')
      self._metadata[track_id] = meta
    return self._metadata[track_id]

  def stem_list(self, track_id: str) -> list[Stem]:
    """The stems of a track, in stem order."""
    meta = self.metadata(track_id)
    path = self.metadata_path(track_id)
    out = []
    for key, info in meta['stems'].items():
      match = re.fullmatch(r'S(\d+)', str(key))
      if not match or not isinstance(info, dict):
        raise corpus.AnnotationError(
            f'MedleyDB metadata {path!r}: stem entry {key!r} is not '
            'S<NN>: {filename, instrument, ...}.')
      index = int(match.group(1))
      labels = info.get('instrument') or []
      labels = labels if isinstance(labels, list) else [labels]
      filename = info.get('filename') or f'{track_id}_STEM_{index:02d}.wav'
      out.append(Stem(index, str(filename),
                      tuple(str(x).strip() for x in labels)))
    return sorted(out, key=lambda s: s.index)

  def _annotated_singers(self, track_id: str) -> list[tuple[Stem, str]]:
    return [(s, p) for s in self.stem_list(track_id) if s.is_singer
            for p in [self.pitch_path(track_id, s.index)] if p]

  def _listed_tracks(self) -> list[str]:
    if self._listed is None:
      folders = self._folders()
      with_meta = [t for t in folders if self.metadata_path(t)]
      if folders and not with_meta:
        raise corpus.DatasetNotFoundError(
            f'MedleyDB (medleydb) under {self.root!r} has no '
            '<Track>_METADATA.yaml files (in Audio/<Track>/ or Metadata/); '
            'copy medleydb/data/Metadata from github.com/marl/medleydb.')
      self._listed = [t for t in with_meta if self._annotated_singers(t)]
    return self._listed

  def _track_ids(self, split: str) -> list[str]:
    tracks = self._listed_tracks()
    if split == 'all':
      return tracks
    train, test = mir1k.random_split(tracks, SPLIT_SEED)
    return train if split == 'train' else test

  def audio_path(self, track_id: str) -> str:
    mix = f'{track_id}_MIX.wav'
    if self.metadata_path(track_id):
      mix = self.metadata(track_id).get('mix_filename') or mix
    return os.path.join(self.root, 'Audio', track_id, mix)

  def stem_path(self, track_id: str, stem: Stem) -> str:
    stem_dir = self.metadata(track_id).get('stem_dir') or f'{track_id}_STEMS'
    return os.path.join(self.root, 'Audio', track_id, stem_dir, stem.filename)

  # ------------------------------------------------------- ground truth
  def _annotation(self, track_id, audio, sample_rate) -> corpus.FramePitches:
    del audio, sample_rate
    pairs = self._annotated_singers(track_id)
    if not pairs:
      raise corpus.AnnotationError(
          f'MedleyDB track {track_id!r} has no singer stem with a pitch '
          f'annotation under {os.path.join(self.root, "Annotations")!r}.')
    tables = [read_pitch_csv(path) for _, path in pairs]
    points = [snap(t[:, 0]) for t in tables]
    last = max([int(p.max()) for p in points if p.size] + [0])
    freqs: list[list[float]] = [[] for _ in range(last + 2)]
    for table, point in zip(tables, points):
      for n, hz in zip(point, table[:, 1]):
        if hz > 0:
          freqs[n].append(float(hz))
    return corpus.FramePitches(GRID_HOP_S * np.arange(last + 2),
                               [np.asarray(f, np.float64) for f in freqs])

  def pitch_annotation(self, track_id: str) -> corpus.FramePitches:
    """The vocal pitch of a track at the annotation's own times (Hz)."""
    return self._annotation(track_id, None, 0)

  def stems(self, track_id: str,
            sample_rate: int = corpus.SAMPLE_RATE) -> dict[str, np.ndarray]:
    """'mixture', 'vocals', 'accompaniment': [N] float32 at ``sample_rate``
    (channels averaged, not normalised, cut to the shortest file).

    Raises:
      audio.AudioError: a missing or corrupt audio file (names it).
      corpus.AnnotationError: missing or unreadable metadata.
    """
    mixture = audio_lib.load_audio(self.audio_path(track_id), sample_rate)
    parts = {'vocals': [], 'accompaniment': []}
    for stem in self.stem_list(track_id):
      audio = audio_lib.load_audio(self.stem_path(track_id, stem),
                                   sample_rate)
      parts['vocals' if stem.is_voice else 'accompaniment'].append(audio)
    n = min([len(mixture)] + [len(a) for p in parts.values() for a in p])
    out = {'mixture': mixture[:n]}
    for key, audios in parts.items():
      total = np.zeros(n, np.float32)
      for audio in audios:
        total += audio[:n]
      out[key] = total
    return out
