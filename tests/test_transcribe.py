"""Chunked inference, output writers and the in-memory transcription API."""

import csv
import os

import hypothesis
import jax
import jax.numpy as jnp
import mido
import numpy as np
import pytest
from flax import nnx
from hypothesis import strategies as st

from configs import ssmpe
from data_pipelines.generated import synthetic
from mpe_jax import inference, outputs, transcribe
from mpe_jax.evaluation import multipitch
from mpe_jax.models import build_model


# ------------------------------------------------------- receptive field ---


def _abstract_model(model_config):
  return nnx.eval_shape(
      lambda: build_model(model_config, jax.random.key(0, impl='rbg')))


def test_receptive_field_of_ssmpe_and_ismir25_is_50_frames():
  # conv_in 3x3 (1) + 4 encoder blocks of residual convs with dilations
  # 1, 2, 3 (6 each) + strided/latent/transposed convs of width 1 in time (0)
  # + 4 decoder blocks (6 each) + conv_out 3x3 (1).
  expected = 1 + 4 * (1 + 2 + 3) + 4 * (1 + 2 + 3) + 1
  assert expected == 50
  config = ssmpe.get_config()
  assert inference.time_receptive_field(_abstract_model(config.model)) == 50
  with config.unlocked():  # ISMIR 2025: doubled filters, LN before the ELU
    config.model.channels = (8, 16, 32, 64, 128)
    config.model.norm = 'pre_activation'
  assert inference.time_receptive_field(_abstract_model(config.model)) == 50


def test_receptive_field_matches_the_model_response():
  """The output's derivative w.r.t. input frame 30 is non-zero exactly within
  +-R frames (a forward-mode derivative: distant effects are far below
  float32 resolution in a plain difference, but not in the tangent)."""
  config = ssmpe.get_config()
  with config.unlocked():  # two blocks per side, small widths: cheap to build
    # jax.jvp: remat blocks and the 'direct' convolutions are reverse-mode
    # only (custom VJPs); 'gemm' computes the same function.
    config.model.remat = 'none'
    config.model.conv_impl = 'gemm'
    config.model.channels = (2, 2, 2)
    config.model.latent_size = 4
    config.model.n_bins = 40
  model = build_model(config.model, jax.random.key(1, impl='rbg'))
  rf = inference.time_receptive_field(model)
  assert rf == 1 + 2 * (1 + 2 + 3) + 2 * (1 + 2 + 3) + 1
  graphdef, params = nnx.split(model)
  x = jax.random.uniform(jax.random.key(2, impl='rbg'), (1, 6, 40, 61))
  tangent = jnp.zeros_like(x).at[:, :, :, 30].set(1.0)
  jvp = jax.jit(lambda p, x, v: jax.jvp(
      lambda x: nnx.merge(graphdef, p)(x), (x,), (v,))[1])
  response = np.asarray(jvp(params, x, tangent))  # [1, K, T]
  changed = np.nonzero(np.any(response != 0, axis=(0, 1)))[0]
  assert len(changed) == 2 * rf + 1
  assert changed.min() == 30 - rf and changed.max() == 30 + rf


# ------------------------------------------------------------ chunk plan ---


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(n_frames=st.integers(1, 3000),
                  chunk=st.integers(3, 400), margin=st.integers(0, 120))
def test_chunk_plan_tiles_the_file_with_one_shape(n_frames, chunk, margin):
  if n_frames > chunk and chunk <= 2 * margin:
    with pytest.raises(ValueError, match='keep nothing'):
      inference.plan_chunks(n_frames, chunk, margin)
    return
  plan = inference.plan_chunks(n_frames, chunk, margin)
  if n_frames <= chunk:
    assert plan == [inference.Chunk(0, n_frames, 0, n_frames)]
    return
  assert {c.length for c in plan} == {chunk}
  assert plan[0].start == 0 and plan[-1].start + chunk == n_frames
  assert plan[0].lo == 0 and plan[-1].hi == n_frames
  for prev, nxt in zip(plan, plan[1:]):
    assert prev.hi == nxt.lo  # kept ranges tile [0, n_frames)
  for c in plan:
    assert c.start <= c.lo < c.hi <= c.start + chunk
    # Frames near a cut edge (not a file edge) are never kept.
    assert c.start == 0 or c.lo >= c.start + margin
    assert c.start + chunk == n_frames or c.hi <= c.start + chunk - margin


def test_chunk_plan_example():
  plan = inference.plan_chunks(100, 40, 10)
  assert [(c.start, c.lo, c.hi) for c in plan] == [
      (0, 0, 30), (20, 30, 50), (40, 50, 70), (60, 70, 100)]


# ----------------------------------------------- chunked == whole file ---


def _music(seconds):
  """A synthetic polyphonic mixture, loudest near its end."""
  track = synthetic.SyntheticSource(3, 'test').mixture(0, seconds=seconds,
                                                       max_voices=4)
  x = np.asarray(track.audio, np.float32).copy()
  x[-2 * 22050:] *= 4.0  # the file-wide dB reference lies in the last chunk
  return x


def test_chunked_salience_equals_whole_file(tiny_predictor):
  p = tiny_predictor
  x = _music(6.0)
  plan = p.chunks(len(x))
  # 2048-point HCQT frames (1,024 samples of context: 4 hops), and the
  # model's receptive field of 14 frames.
  assert p.margin == 4 + 14
  assert len(plan) >= 4 and {c.length for c in plan} == {p.chunk_frames}
  whole = p.whole_file(x)
  chunked = p.salience(x)
  assert chunked.shape == whole.shape == (p.config.hcqt.n_bins,
                                          1 + len(x) // 256)
  np.testing.assert_allclose(chunked, whole, atol=1e-5, rtol=0)
  # The normaliser is the file's maximum, which only a late chunk sees.
  stat = np.asarray(p._statistic(p.frontend, jnp.asarray(x)[None]))[0]
  assert int(np.argmax(stat)) >= plan[1].lo
  assert p.reference(x) == pytest.approx(float(stat.max()), rel=1e-5)


# ------------------------------------------------------- length buckets ---


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(n_frames=st.integers(1, 60000), minimum=st.integers(1, 400))
def test_bucket_ladder_holds_the_track_with_bounded_padding(n_frames,
                                                            minimum):
  size = inference.bucket_frames(n_frames, minimum)
  assert size >= n_frames and size % inference.BUCKET_MULTIPLE == 0
  floor = inference.BUCKET_MULTIPLE * -(-minimum // inference.BUCKET_MULTIPLE)
  # At most one ladder step (x 2^(1/3)) plus rounding above the track.
  assert size <= max(floor, 2 ** (1 / 3) * n_frames
                     + inference.BUCKET_MULTIPLE)
  assert inference.bucket_frames(size, minimum) == size  # a fixed point


def test_bucket_ladder_has_three_lengths_per_octave():
  sizes = {inference.bucket_frames(n, 128) for n in range(1, 128 * 64 + 1)}
  assert 16 <= len(sizes) <= 20  # 6 octaves above the minimum: 18 steps + 1
  assert len({inference.bucket_frames(n, 128, per_octave=1)
              for n in range(1, 128 * 64 + 1)}) == 7
  with pytest.raises(ValueError, match='positive'):
    inference.bucket_frames(10, 10, per_octave=0)


def test_bucketed_salience_equals_one_whole_file_call():
  """Every path (too short: whole; shorter than the end window: left zeros;
  a bucket's own length: head only; head + end window) against one call at
  the file's own length, with a click in the last samples that only the
  padding frames of a bucket would otherwise see at its loudest."""
  import tiny_config  # pylint: disable=g-import-not-at-top
  from mpe_jax import train  # pylint: disable=g-import-not-at-top
  config = tiny_config.get_config('scaling')
  tx, _ = train.build_optimizer(config)
  _, state = train.init_train_state(config, tx)
  b = inference.BucketedSalience(config)
  r, w, hop = b.receptive_field, b.tail_frames, b.hop_length
  assert r == 14 and w > 2 * r
  own = inference.bucket_frames(3 * w, w)  # a bucket length, hit exactly
  lengths = [2 * r - 1, w - 3, own, own + 1, own + 5, 3 * own]
  rng = np.random.default_rng(0)
  for frames in lengths:
    n = (frames - 1) * hop + int(rng.integers(0, hop))  # 1 + n // hop frames
    x = 0.05 * rng.standard_normal((1, n)).astype(np.float32)
    x[0, -3:] = 1.0
    got, want = b(state.params, x), b.whole(state.params, x)
    assert got.shape == want.shape == (1, 36, frames)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0, err_msg=frames)
  assert b.bucket(2 * r - 1) == 0 and b.bucket(own) == own
  # own + 1 and own + 5 share one bucket: four head programs for the five
  # files that used one (the shortest ran whole), one end-window program.
  assert len({b.bucket(f) for f in lengths[1:]}) == 4
  assert b._head._cache_size() == 4  # pylint: disable=protected-access
  assert b.given._cache_size() == 1
  off = inference.BucketedSalience(config, per_octave=0)
  assert off.bucket(own + 1) == 0
  with pytest.raises(ValueError, match='>= 0'):
    inference.BucketedSalience(config, per_octave=-1)


def test_transcribe_audio_api(tiny_predictor):
  p = tiny_predictor
  sr = 22050
  t = np.arange(sr) / sr
  mono = (0.3 * np.sin(2 * np.pi * 220 * t)
          + 0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
  result = transcribe.transcribe_audio(np.stack([mono, mono], axis=1), sr, p)
  expected = p.salience(mono / np.max(np.abs(mono)))
  np.testing.assert_allclose(result.salience, expected, atol=1e-6)
  assert result.times.shape == (87,) and result.times[1] == 256 / sr
  est = multipitch.salience_to_multipitch(expected, p.bin_frequencies,
                                          p.config.eval.threshold)
  assert len(result.multipitch) == 87
  for a, b in zip(result.multipitch, est):
    np.testing.assert_array_equal(a, b)
  silent = transcribe.transcribe_audio(np.zeros(sr, np.float32), sr, p)
  assert all(len(f) == 0 for f in silent.multipitch) and not silent.notes
  with pytest.raises(ValueError, match='NaN or Inf'):
    transcribe.transcribe_audio(np.full(100, np.nan, np.float32), sr, p)


# ----------------------------------------------------------- the writers ---


def _toy_salience():
  freqs = np.array([100.0, 200.0, 300.0, 400.0, 500.0])
  sal = np.array([[0.9, 0.4, 0.0],
                  [0.1, 0.4, 0.7],
                  [0.0, 0.4, 0.7],
                  [0.6, 0.4, 0.0],
                  [0.2, 0.4, 0.8]], np.float32)
  return freqs, sal


def test_text_csv_npz_png_outputs(tmp_path):
  freqs, sal = _toy_salience()
  stem = str(tmp_path / 'sub' / 'toy')
  formats = ('txt', 'csv', 'mid', 'notes', 'png', 'npz')
  writers = outputs.Writers(stem, formats, freqs, 0.01, 3,
                            threshold=0.5, min_note_seconds=0.01)
  writers.add(0, sal[:, :2])
  writers.add(2, sal[:, 2:])
  paths = writers.commit()
  assert paths == [stem + s for s in ('.multipitch.txt', '.csv', '.mid',
                                      '.notes.csv', '.png', '.npz')]
  # The note events: one row per note (each peak here lasts one frame).
  with open(stem + '.notes.csv') as f:
    notes = list(csv.DictReader(f))
  assert [(r['start_time_s'], r['end_time_s']) for r in notes] == [
      ('0.0000', '0.0100')] * 2 + [('0.0200', '0.0300')]
  assert all(outputs.note_name(int(r['pitch_midi'])) == r['note']
             for r in notes)
  assert writers.frames_with_pitch == 2
  # Peaks >= 0.5: frame 0 -> bins 0 and 3; frame 1 -> none (0.4, plateau);
  # frame 2 -> bin 4 only (bins 1-2 are a plateau).
  times, est = outputs.read_multipitch(stem + '.multipitch.txt')
  np.testing.assert_allclose(times, [0.0, 0.01, 0.02])
  assert [list(f) for f in est] == [[100.0, 400.0], [], [500.0]]
  with open(stem + '.csv') as f:
    rows = list(csv.DictReader(f))
  assert [(r['time_s'], r['frequency_hz'], r['note'], r['salience'])
          for r in rows] == [('0.000000', '100.000', 'G2', '0.9000'),
                             ('0.000000', '400.000', 'G4', '0.6000'),
                             ('0.020000', '500.000', 'B4', '0.8000')]
  assert float(rows[1]['midi']) == pytest.approx(
      69 + 12 * np.log2(400 / 440), abs=0.005)
  with np.load(stem + '.npz') as z:  # written block by block
    assert sorted(z.files) == ['frequencies', 'salience', 'times']
    np.testing.assert_array_equal(z['salience'], sal)
    np.testing.assert_allclose(z['times'], [0.0, 0.01, 0.02])
    np.testing.assert_array_equal(z['frequencies'], freqs)
  with open(stem + '.png', 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  assert not [n for n in os.listdir(tmp_path / 'sub') if n.endswith('.part')]


def test_failed_output_keeps_the_previous_one(tmp_path):
  freqs, sal = _toy_salience()
  stem = str(tmp_path / 'toy')
  with open(stem + '.multipitch.txt', 'w') as f:
    f.write('previous result\n')
  writers = outputs.Writers(stem, ('txt', 'csv'), freqs, 0.01, 3,
                            threshold=0.5)
  writers.add(0, sal[:, :2])
  with pytest.raises(ValueError, match='2 of 3 frames'):
    writers.commit()  # a file cut short is never committed
  assert open(stem + '.multipitch.txt').read() == 'previous result\n'
  assert sorted(os.listdir(tmp_path)) == ['toy.multipitch.txt']


def test_note_tracker_merges_gaps_and_drops_short_notes():
  dt = 0.01  # min note 0.05 s = 5 frames, max gap 0.02 s = 2 frames
  tracker = outputs.NoteTracker(dt, min_note_seconds=0.05,
                                max_gap_seconds=0.02)
  a4, c4, e4 = 440.0, 261.63, 329.63
  frames = [[] for _ in range(14)]
  for n in [0, 1, 2, 3, 4, 5, 8, 9]:  # gap of 2 frames: one note
    frames[n].append((a4, 0.8))
  frames[1].append((a4 * 2 ** (0.3 / 12), 0.9))  # same semitone: merged
  for n in [2, 3, 4]:  # 3 frames: too short
    frames[n].append((c4, 0.9))
  for n in [0, 1, 2, 3, 4] + list(range(8, 14)):  # gap of 3: two notes
    frames[n].append((e4, 0.6))
  freqs = [np.array([f for f, _ in fr]) for fr in frames]
  values = [np.array([v for _, v in fr]) for fr in frames]
  tracker.update(0, freqs[:7], values[:7])  # two blocks
  tracker.update(7, freqs[7:], values[7:])
  notes = tracker.finish()
  mean_a4 = (0.9 + 7 * 0.8) / 8
  assert [(n.start, n.end, n.pitch, n.velocity) for n in notes] == [
      (0.0, 0.05, 64, round(127 * 0.6)),
      (0.0, 0.10, 69, round(127 * mean_a4)),
      (0.08, 0.14, 64, round(127 * 0.6))]
  # The pitch curve: one value per frame; the louder estimate of frame 1
  # (30 cents sharp) wins; paused frames 6-7 hold the last value.
  np.testing.assert_allclose(notes[1].curve, [69, 69.3] + [69] * 8,
                             atol=1e-3)
  np.testing.assert_allclose(notes[2].curve, [64] * 6, atol=1e-3)


def test_midi_file_round_trip(tmp_path):
  notes = [outputs.Note(0.0, 0.5, 60, 100), outputs.Note(0.25, 1.0, 64, 80),
           outputs.Note(0.5, 0.75, 60, 90)]
  path = outputs.write_midi(str(tmp_path / 'x.mid'), notes)
  midi = mido.MidiFile(path)
  now, active, got = 0.0, {}, []
  for msg in midi:  # iterating a MidiFile yields times in seconds
    now += msg.time
    if msg.type == 'note_on' and msg.velocity > 0:
      active[msg.note] = (now, msg.velocity)
    elif msg.type in ('note_on', 'note_off'):
      start, vel = active.pop(msg.note)
      got.append((round(start, 3), round(now, 3), msg.note, vel))
  assert sorted(got) == [(0.0, 0.5, 60, 100), (0.25, 1.0, 64, 80),
                         (0.5, 0.75, 60, 90)]


def test_long_salience_is_pooled_for_the_picture():
  sal = np.random.default_rng(0).random((3, 10)).astype(np.float32)
  expected = np.stack([sal[:, i:i + 3].max(axis=1) for i in (0, 3, 6, 9)], 1)
  pooled, factor = outputs._pooled(sal, max_columns=4)
  assert factor == 3 and pooled.shape == (3, 4)
  np.testing.assert_array_equal(pooled, expected)
  streamed = outputs.PooledSalience(3, 10, max_columns=4)
  for lo, hi in ((0, 2), (2, 7), (7, 10)):  # blocks across group edges
    streamed.add(lo, sal[:, lo:hi])
  np.testing.assert_array_equal(streamed.data, expected)


def test_expand_inputs_folders_stems_and_duplicates(tmp_path):
  (tmp_path / 'a' / 'sub').mkdir(parents=True)
  for name in ('a/x.wav', 'a/sub/y.flac', 'a/notes.txt', 'b.wav'):
    (tmp_path / name).write_bytes(b'')
  (tmp_path / 'empty').mkdir()
  jobs = transcribe.expand_inputs([str(tmp_path / 'a'), str(tmp_path / 'b.wav'),
                                   str(tmp_path / 'a' / 'x.wav'),
                                   str(tmp_path / 'empty'),
                                   str(tmp_path / 'nope.wav')])
  assert [(os.path.relpath(j.source, tmp_path), j.stem) for j in jobs
          if not j.error] == [('a/x.wav', 'x'), ('a/sub/y.flac', 'sub/y'),
                              ('b.wav', 'b'), ('a/x.wav', 'x_2')]
  errors = [j.error for j in jobs if j.error]
  assert 'folder contains no audio files' in errors[0]
  assert errors[1].endswith('nope.wav: file not found.')


def test_the_line_per_input_says_what_was_computed():
  """'0 notes' only when notes were made; frames otherwise."""
  with_notes = transcribe.FileResult('a.wav', seconds=5.0, notes=12,
                                     frames=431, frames_with_pitch=400)
  frames_only = transcribe.FileResult('a.wav', seconds=5.0, frames=431,
                                      frames_with_pitch=380)
  assert transcribe.describe(with_notes) == '5.0 s, 12 notes'
  assert transcribe.describe(frames_only) == (
      '5.0 s, 380 of 431 frames with pitches')
