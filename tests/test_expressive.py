"""Expressive renders: labels that follow bent pitch, loudness curves, STK
physical models, drum kits, recording chains, and the held-out sides of
every source.

Rendering needs FluidSynth with the soundfonts, STK (``stk-demo``) and the
AVL drum kits (``.ci/run`` installs them); without them those tests skip
with the apt command as the reason.
"""

import numpy as np
import pytest

from data_pipelines import corpus
from data_pipelines import labels
from data_pipelines.generated import drum_kits
from data_pipelines.generated import expression
from data_pipelines.generated import fluidsynth_render as fs
from data_pipelines.generated import gm_renders
from data_pipelines.generated import pieces
from data_pipelines.generated import recording_chain
from data_pipelines.generated import stk_render

RATE = 22050
BLOCK_S = fs.BLOCK / RATE


def _needs_stk():
  try:
    stk_render.find_stk()
  except stk_render.STKError as error:
    pytest.skip(f'needs STK: {error}')


def _needs_renders():
  try:
    fs.find_fluidsynth()
    for name in gm_renders.SOUNDFONTS:
      gm_renders.soundfont_path(name)
    for kit in drum_kits.KITS:
      drum_kits.kit_path(kit)
  except (fs.FluidSynthError, gm_renders.GMRendersError,
          drum_kits.DrumKitError) as error:
    pytest.skip(f'needs FluidSynth, the soundfonts and the drum kits: {error}')
  _needs_stk()


_VIBRATO_PLAYER = expression.Player(
    sustained=True, intonation_sd=5.0, vibrato=True, vibrato_rate=5.5,
    vibrato_depth=50.0, glides=False, phrase_db=3.0, phrase_period=6.0,
    phrase_phase=0.0)


def _bent_note(pitch, seed):
  onset, offset = 10 * BLOCK_S, 400 * BLOCK_S
  curves = expression.draw_curves(
      np.random.default_rng(seed), np.array([pitch]), np.array([onset]),
      np.array([offset]), np.array([0]), [_VIBRATO_PLAYER],
      tuning_cents=30.0, step=2 * BLOCK_S)
  return onset, offset, curves


def _h1_peaks_vs_labels(audio, annotation):
  """Per voiced frame: HCQT h=1 peak bin (+-15 bins of the label) minus the
  label's nearest bin."""
  from mpe_jax.features import hcqt  # pylint: disable=g-import-not-at-top
  config = hcqt.HCQTConfig()
  magnitude = np.asarray(hcqt.hcqt_magnitude(
      hcqt.make_filterbank(config), audio[None]))[0, list(
          config.harmonics).index(1.0)]
  errors = []
  for k, freqs in enumerate(annotation.freqs):
    if not len(freqs):
      continue
    label = int(np.round(labels.hz_to_bins(freqs)[0]))
    lo = label - 15
    errors.append(lo + int(np.argmax(magnitude[lo:label + 16, k])) - label)
  return np.array(errors)


@pytest.mark.parametrize('program,pitch,seed', [(40, 69, 0), (73, 72, 1)])
def test_bent_vibrato_note_label_follows_the_sound(fluidsynth, program,
                                                   pitch, seed):
  """A violin / flute note 30 cents sharp with vibrato and drift: the label's
  bin and the HCQT peak agree within one bin in every voiced frame."""
  del fluidsynth
  onset, offset, curves = _bent_note(pitch, seed)
  assert np.ptp(curves.cents[0]) > 20  # it is really bent
  n = int(1.3 * RATE)
  audio = fs.render_notes([fs.Note(pitch, onset, offset, program, 100)], n,
                          curves=curves)
  annotation = expression.annotation(
      np.array([pitch]), np.array([onset]), np.array([offset]), curves,
      n_samples=n)
  voiced = [f for f in annotation.freqs if len(f)]
  assert len(voiced) > 90
  # Continuous Hz, not the equal-tempered grid.
  assert not np.allclose(voiced[40][0], corpus.midi_to_hz(pitch))
  errors = _h1_peaks_vs_labels(audio, annotation)
  assert np.all(np.abs(errors) <= 1), errors


def test_labels_follow_glides_and_tuning():
  player = expression.Player(True, 0.0, False, 5.0, 0.0, True, 0.0, 6.0, 0.0)
  onsets, offsets = np.array([0.0, 0.5]), np.array([0.5, 1.0])
  curves = expression.draw_curves(
      np.random.default_rng(0), np.array([60, 64]), onsets, offsets,
      np.array([0, 0]), [player], tuning_cents=-20.0, step=2 * BLOCK_S)
  # The second note starts at the first one's pitch and glides to its own.
  assert curves.cents[1][0] < -350
  assert abs(curves.cents[1][-1] - (-20.0)) < 15
  annotation = expression.annotation(np.array([60, 64]), onsets, offsets,
                                     curves, n_samples=RATE)
  cents = [1200 * np.log2(f[0] / corpus.midi_to_hz(60)) for f in
           annotation.freqs[2:20]]
  assert all(abs(c + 20) < 15 for c in cents)


def test_player_curves_stay_in_their_ranges():
  rng = np.random.default_rng(5)
  for _ in range(30):
    player = expression.draw_player(rng, bool(rng.random() < 0.5))
    onsets = np.sort(rng.uniform(0, 8, 12))
    offsets = onsets + rng.uniform(0.05, 2.0, 12)
    tuning = expression.draw_tuning(rng)
    assert -40 < tuning < 39
    curves = expression.draw_curves(
        rng, rng.integers(40, 90, 12), onsets, offsets, np.zeros(12, int),
        [player], tuning_cents=tuning, step=2 * BLOCK_S)
    for cents, level in zip(curves.cents, curves.level_db):
      assert np.all(np.isfinite(cents))
      # tuning + intonation (25) + vibrato (39) + drift (12 + 3)
      assert np.all(np.abs(cents - tuning) < 80)
      assert np.all(level <= 0) and np.all(level >= expression.MIN_LEVEL_DB)


def test_expression_curve_shapes_the_loudness(fluidsynth):
  """CC 11 follows the level curve: a fade of 15 dB over the note lowers
  the second half's level against the first's."""
  del fluidsynth
  onset, offset = 4 * BLOCK_S, 344 * BLOCK_S
  k = int(np.ceil((offset - onset) / (2 * BLOCK_S)))
  notes = [fs.Note(72, onset, offset, 52, 100)]  # choir aahs, sustained
  flat = expression.Curves(2 * BLOCK_S, [np.zeros(k)], [np.zeros(k)])
  fade = expression.Curves(2 * BLOCK_S, [np.zeros(k)],
                           [np.linspace(0, -15, k)])
  n = int(1.1 * RATE)
  a = fs.render_notes(notes, n, curves=flat)
  b = fs.render_notes(notes, n, curves=fade)

  def rms(x, t0, t1):
    return np.sqrt(np.mean(x[int(t0 * RATE):int(t1 * RATE)] ** 2))
  drop_flat = rms(a, 0.75, 0.95) / rms(a, 0.15, 0.35)
  drop_fade = rms(b, 0.75, 0.95) / rms(b, 0.15, 0.35)
  assert 20 * np.log10(drop_flat / drop_fade) > 5


def test_one_channel_per_sounding_note():
  notes = [fs.Note(60 + k, 0.1 * k, 2.0, 0, 80) for k in range(6)]
  channels = fs._allocate_channels(notes)  # pylint: disable=protected-access
  assert len(set(channels)) == 6 and fs.DRUM_CHANNEL not in channels
  crowded = [fs.Note(40 + k, 0.0, 1.0, 0, 80) for k in range(16)]
  with pytest.raises(fs.FluidSynthError, match='simultaneous'):
    fs._allocate_channels(crowded)  # pylint: disable=protected-access


@pytest.mark.parametrize('name', ['Bowed', 'Clarinet', 'Flute', 'Plucked',
                                  'Saxofony', 'Rhodey'])
def test_stk_model_plays_the_labelled_pitch(name):
  """A bent STK note (+17 cents) sounds at its labelled f0 (tuning error
  corrected) within 13 cents, mid-range and near the top of its range."""
  _needs_stk()
  spec = stk_render.INSTRUMENTS[name]
  for pitch in ((spec.low + spec.high) // 2 + 1, spec.high - 1):
    audio = stk_render.render_part(
        name, np.array([pitch]), np.array([0.0]), np.array([1.0]),
        np.array([100.0]), RATE, cents=[np.full(100, 17.0)], step=0.01)
    assert np.abs(audio).max() > 1e-3
    cents = stk_render.estimate_cents(audio[int(0.3 * RATE):int(0.9 * RATE)],
                                      pitch)
    assert abs(cents - 17.0) < 13, (name, pitch, cents)


def test_stk_errors_are_one_line(monkeypatch):
  with pytest.raises(ValueError, match='Unknown STK instrument'):
    stk_render.check_instrument('Theremin')
  crowded = np.zeros(17)
  with pytest.raises(stk_render.STKError, match='17|16 simultaneous'):
    stk_render.skini_score('Bowed', np.full(17, 60.0), crowded,
                           crowded + 1.0, np.full(17, 90.0), None, 0.01)
  monkeypatch.setattr(stk_render.shutil, 'which', lambda _: None)
  with pytest.raises(stk_render.STKError) as info:
    stk_render.render_part('Bowed', np.array([60]), np.array([0.0]),
                           np.array([1.0]), np.array([90.0]), 100)
  assert '\n' not in str(info.value) and 'apt-get install -y stk' in str(
      info.value)


def test_drum_kit_errors_are_one_line(monkeypatch):
  with pytest.raises(ValueError, match='Unknown drum kit'):
    drum_kits.kit_path('cardboard_box')
  monkeypatch.setitem(drum_kits.KITS, 'black_pearl', '/nonexistent/kit.sf2')
  with pytest.raises(drum_kits.DrumKitError) as info:
    drum_kits.kit_path('black_pearl')
  assert '\n' not in str(info.value) and 'avldrums' in str(info.value)


def test_drum_grooves_are_unpitched_hits_in_time():
  hits = drum_kits.groove(np.random.default_rng(2), 120.0, 8.0)
  assert len(hits) > 40
  assert all(0 <= t < 8.0 for t, _, _ in hits)
  keys = {k for _, k, _ in hits}
  assert drum_kits.KICK in keys and drum_kits.SNARE in keys


def test_recording_chain_keeps_length_and_is_finite():
  rng = np.random.default_rng(0)
  x = np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)
  for _ in range(12):
    chain = recording_chain.draw_chain(rng, RATE)
    y = recording_chain.master(
        recording_chain.place(x, chain, float(rng.uniform(0.2, 1)), RATE),
        chain, rng, RATE)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert np.sqrt(np.mean(y ** 2)) > 0.05
  silent = np.zeros(RATE)
  assert not np.any(recording_chain.place(silent, chain, 0.5, RATE))


def test_room_decays_faster_at_high_frequencies():
  ir = recording_chain.room_impulse(np.random.default_rng(1), RATE, rt60=1.5)
  from scipy import signal  # pylint: disable=g-import-not-at-top
  low = signal.sosfilt(signal.butter(4, 300, 'low', fs=RATE, output='sos'),
                       ir)
  high = signal.sosfilt(signal.butter(4, 5000, 'high', fs=RATE,
                                      output='sos'), ir)

  def late_share(x):
    e = np.cumsum(x[::-1] ** 2)[::-1]
    return e[int(0.5 * RATE)] / e[0]
  assert late_share(high) < late_share(low)


def _fast_pieces(monkeypatch):
  """music21 excerpts replaced by generated pieces (same roles logic, no
  parsing), so that every track can be planned in seconds."""
  def fake(rng, works, beats):
    del works
    return 'fake.krn', pieces.generated_piece(rng, beats)[1]
  monkeypatch.setattr(pieces, 'music21_excerpt', fake)
  monkeypatch.setattr(gm_renders.GMRenders, '_works_of',
                      lambda self, split: ['fake.krn'])


def test_no_held_out_source_reaches_a_train_or_valid_track(monkeypatch,
                                                           fluidsynth):
  """Plans (no rendering) every default train, valid, expressive_train and
  expressive_valid track: no held-out program, soundfont, STK model or drum
  kit; and the held-out sets use only held-out ones."""
  del fluidsynth
  _fast_pieces(monkeypatch)
  reader = gm_renders.GMRenders()
  held = set(gm_renders.HELD_OUT_PROGRAMS)
  for split in ('train', 'valid', 'expressive_train', 'expressive_valid',
                'test', 'expressive_test'):
    outside = 'test' not in split
    for track in reader.track_ids(split):
      plan = reader.plan(track)
      engines = plan.engines or ('gm',)
      gm_parts = {j for j, e in enumerate(engines) if e == 'gm'}
      programs = {n.program for n in plan.notes
                  if not plan.engines or n.part in gm_parts}
      models = {e for e in engines if e != 'gm'}
      if outside:
        assert not programs & held, (track, programs & held)
        assert plan.soundfont in gm_renders.TRAIN_SOUNDFONTS, track
        assert not models & set(stk_render.HELD_OUT), track
        assert plan.drum_kit in ('',) + drum_kits.TRAIN_KITS, track
      else:
        assert programs <= held, track
        assert plan.soundfont == gm_renders.TEST_SOUNDFONT
        assert models <= set(stk_render.HELD_OUT), track
        assert plan.drum_kit in ('',) + drum_kits.TEST_KITS, track


def test_expressive_track_renders_with_labels_on_its_frames():
  _needs_renders()
  reader = gm_renders.GMRenders(music21_share=0.0,
                                n_tracks={'expressive_valid': 2})
  record = reader.load('expressive_valid/00000')
  assert record.audio.shape == (10 * RATE,)
  assert np.all(np.isfinite(record.audio)) and np.abs(record.audio).max() > 0.5
  times, freqs = record.reference()
  assert len(times) == 1 + 10 * RATE // 256
  hz = np.concatenate([f for f in freqs if len(f)])
  # Bent: most labelled frames are off the equal-tempered grid.
  deviation = np.abs(((12 * np.log2(hz / 440.0)) * 100 + 50) % 100 - 50)
  assert np.mean(deviation > 2) > 0.8
  grid = record.label_grid()
  n_labels = sum(len(f) for f in freqs)
  assert grid.shape == (440, len(times))
  # Two notes can share a 20-cent bin (unisons, a glide crossing a voice).
  assert 0.9 * n_labels <= grid.sum() <= n_labels
  # Deterministic.
  again = reader.load('expressive_valid/00000')
  np.testing.assert_array_equal(record.audio, again.audio)


def test_prepared_expressive_train_is_a_training_source(tmp_path):
  _needs_renders()
  from data_pipelines import prepare  # pylint: disable=g-import-not-at-top
  reader = gm_renders.GMRenders(music21_share=0.0,
                                n_tracks={'expressive_train': 2},
                                seconds={'expressive_train': 2.0})
  prepare.prepare_split(reader, 'expressive_train', str(tmp_path))
  source = gm_renders.open_source(
      str(tmp_path), seed=0, use_labels=True, sample_rate=RATE,
      hop_length=256, fmin=27.5, bins_per_octave=60, n_bins=440,
      split='expressive_train')
  assert source.name == 'gm_renders/expressive_train'
  audio, grid = source.item(0, RATE)
  assert audio.shape == (RATE,) and grid.shape == (440, 1 + RATE // 256)


def test_prepared_drum_kits_are_a_drum_source(tmp_path):
  _needs_renders()
  from data_pipelines import prepare  # pylint: disable=g-import-not-at-top
  with pytest.raises(corpus.DatasetNotFoundError) as info:
    drum_kits.open_source(str(tmp_path), seed=0, sample_rate=RATE,
                          hop_length=256, fmin=27.5, bins_per_octave=60,
                          n_bins=440)
  assert '--dataset=drum_kits' in str(info.value)
  assert '\n' not in str(info.value)
  reader = drum_kits.DrumKits(n_tracks={'train': 2}, seconds=2.0)
  record = reader.load('train/00001')
  assert record.annotation is None and np.abs(record.audio).max() > 0.9
  prepare.prepare_split(reader, 'train', str(tmp_path))
  source = drum_kits.open_source(str(tmp_path), seed=0, sample_rate=RATE,
                                 hop_length=256, fmin=27.5,
                                 bins_per_octave=60, n_bins=440)
  audio, grid = source.item(0, RATE)
  assert grid is None and audio.shape == (RATE,) and np.any(audio)


def test_stk_renders_are_a_function_of_the_score():
  _needs_stk()
  if not stk_render.is_deterministic():
    pytest.skip(f'needs libfaketime: `{stk_render.FAKETIME_INSTALL}`')
  args = (np.array([72]), np.array([0.0]), np.array([0.5]), np.array([90.0]),
          RATE // 2)
  first = stk_render.render_part('Flute', *args)  # breath noise
  again = stk_render.render_part('Flute', *args)
  np.testing.assert_array_equal(first, again)
  other = stk_render.render_part('Flute', np.array([74]), *args[1:])
  assert not np.array_equal(first, other)
