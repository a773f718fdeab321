"""MAJL's vocal system: STFT front end, modules, losses, metrics, configs and
short runs of Stage I, pseudo-labelling and Stage II on synthetic songs."""

import json
import os
import sys

import jax
import jax.numpy as jnp
import librosa
import mir_eval
import ml_collections
import numpy as np
import pytest
from flax import nnx

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from configs import majl_vocal as vocal_config  # pylint: disable=g-import-not-at-top,wrong-import-position
from data_pipelines import vocal  # pylint: disable=wrong-import-position
from mpe_jax import evaluation_loop, schedules, systems, train, vocal_pseudo_label  # pylint: disable=wrong-import-position
from mpe_jax.features import stft as stft_lib  # pylint: disable=wrong-import-position
from mpe_jax.models import build_model, param_groups  # pylint: disable=wrong-import-position
from mpe_jax.objectives import majl_vocal  # pylint: disable=wrong-import-position

SR = 16000


# Test excerpts: the shortest the STFT takes (a multiple of the hop longer
# than n_fft / 2 = 1024 samples): 1280 samples, 5 frames.
SEG = 1280


def tiny_config(arg='quick', **changes) -> ml_collections.ConfigDict:
  """The quick config at test size: 0.08-s excerpts, 2 songs of 1.28 s."""
  config = vocal_config.get_config(arg)
  with config.unlocked():
    config.data.excerpt_seconds = SEG / SR
    config.data.vocal.synthetic_tracks = 2
    config.data.vocal.synthetic_seconds = 1.28
    config.model.mss.channels = (2, 4)
    config.model.mss.n_bins = 256
    config.model.pe.channels = (4, 4)
    config.model.pe.dilations = (1, 12)
    config.model.dwm.n_frames = 1 + SEG // 320
    config.train.batch_size = 4
    config.train.num_steps = 2
    config.train.log_every = 1
    config.train.checkpoint_every = 2
    config.train.cpu_devices = 0
    config.eval.at_start = False
    config.eval.batch_segments = 4
    if len(config.data.mixture.proportions) == 3:
      config.data.mixture.proportions = (2, 1, 1)
    for k, v in changes.items():
      node = config
      *path, last = k.split('.')
      for p in path:
        node = node[p]
      node[last] = v
  return config


# -------------------------------------------------------------- front end


def test_stft_matches_librosa_and_istft_inverts():
  cfg = stft_lib.STFTConfig()
  x = np.random.default_rng(0).standard_normal((2, 5000)).astype(np.float32)

  @jax.jit  # one program for the round trip (cheaper than op by op)
  def round_trip(a):
    spec = stft_lib.stft(cfg, a)
    return spec, stft_lib.istft(cfg, spec, a.shape[-1])

  spec, back = (np.asarray(v) for v in round_trip(jnp.asarray(x)))
  want = librosa.stft(x, n_fft=2048, hop_length=320, window='hann',
                      center=True, pad_mode='reflect')
  assert spec.shape == want.shape == (2, 1025, 1 + 5000 // 320)
  np.testing.assert_allclose(spec, want, atol=2e-3, rtol=1e-3)
  np.testing.assert_allclose(back, x, atol=1e-4)
  np.testing.assert_allclose(cfg.frame_times(3), [0, 0.02, 0.04])


# ------------------------------------------------------- modules, losses


@pytest.mark.parametrize('mss,pe', [('unet', 'harmof0'), ('resunet', 'crepe')])
def test_module_groups_and_the_pitch_prior(mss, pe):
  config = tiny_config(f'quick,{mss},{pe}')
  model = build_model(config.model, jax.random.key(0))
  assert set(nnx.to_pure_dict(nnx.state(model, nnx.Param))) == set(
      param_groups(config.model)) == {'mss', 'pe', 'dwm'}
  # Every pitch bin starts at the prior log-odds of 1 in 360.
  out = model.pe.out if pe == 'harmof0' else model.pe.dense
  np.testing.assert_allclose(out.bias.value, -np.log(359), rtol=1e-6)


def test_cascade_shapes_and_mask():
  # 'resunet' + 'crepe' here; 'unet' + 'harmof0' in the track evaluator test.
  config = tiny_config('quick,resunet,crepe')
  gd, params = nnx.split(build_model(config.model, jax.random.key(0)))
  fe = majl_vocal.make_frontend(config)

  @jax.jit
  def forward(p, x):
    m = nnx.merge(gd, p)
    mask = m.mss(stft_lib.magnitude(stft_lib.stft(fe.stft, x)))
    return majl_vocal.cascade(m, x, fe.stft), mask

  x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 3200)),
                  jnp.float32)
  (sep, sep_mag, logits), mask = forward(params, x)
  assert sep.shape == (2, 3200) and sep_mag.shape == (2, 1025, 11)
  assert logits.shape == (2, 360, 11)
  assert float(mask.min()) >= 0 and float(mask.max()) <= 1
  assert float(jnp.abs(mask[:, 256:]).max()) == 0.0  # above mss.n_bins


def _batch(config, rng, **flags):
  n = int(round(config.data.excerpt_seconds * SR))
  t = 1 + n // 320
  b = {'mixture': rng.standard_normal((4, n)).astype(np.float32) * 0.1,
       'vocals': rng.standard_normal((4, n)).astype(np.float32) * 0.05,
       'labels': np.zeros((4, 360, t), np.uint8),
       'has_stems': np.ones(4, bool), 'has_pitch': np.ones(4, bool),
       'confi_mss': np.ones((4, t), np.float32),
       'confi_pe': np.ones((4, t), np.float32)}
  b['labels'][:, 150, :] = 1
  b.update(flags)
  return {k: jnp.asarray(v) for k, v in b.items()}


def test_losses_follow_labels_confidences_and_the_cascade():
  config = tiny_config('quick,naive_joint')
  model = build_model(config.model, jax.random.key(0))
  gd, params = nnx.split(model)
  fe = majl_vocal.make_frontend(config)

  def compiled(cfg):
    """``(params, batch) -> (total, parts, |d parts['pe'] / d mss|_1)``."""
    def pe_loss(p, b):
      total, parts = majl_vocal.compute_losses(nnx.merge(gd, p), b, None,
                                               fe, cfg)
      return parts['pe'], (total, parts)

    def run(p, b):
      (_, (total, parts)), grad = jax.value_and_grad(pe_loss, has_aux=True)(
          p, b)
      return total, parts, sum(jnp.sum(jnp.abs(g))
                               for g in jax.tree.leaves(grad['mss']))
    return jax.jit(run)

  joint = compiled(config)
  base = _batch(config, np.random.default_rng(0))
  total, parts, pe_to_mss = joint(params, base)
  assert float(parts['mss']) > 0 and float(parts['pe']) > 0
  assert float(total) == pytest.approx(float(parts['mss'] + parts['pe']),
                                       rel=1e-5)  # Eq. 3, all weights 1
  # The cascade: the PE loss reaches the MSS module through the separation.
  assert float(pe_to_mss) > 0
  # Confidences below th (0.7) remove a frame from its task (Eqs. 8, 15).
  low = dict(base, confi_mss=jnp.full_like(base['confi_mss'], 0.6),
             confi_pe=jnp.full_like(base['confi_pe'], 0.69))
  _, parts, _ = joint(params, low)
  assert float(parts['mss']) == 0.0 and float(parts['pe']) == 0.0
  # No stems / no pitch: no task-1 / task-2 loss.
  _, parts, _ = joint(params, dict(base, has_stems=jnp.zeros(4, bool)))
  assert float(parts['mss']) == 0.0 and float(parts['pe']) > 0
  _, parts, _ = joint(params, dict(base, has_pitch=jnp.zeros(4, bool)))
  assert float(parts['mss']) > 0 and float(parts['pe']) == 0.0
  # The pipeline: a PE loss on the true vocals, none of it in the MSS.
  _, parts, pe_to_mss = compiled(tiny_config('quick,pipeline'))(params, base)
  assert float(parts['pe']) > 0 and float(pe_to_mss) == 0.0


def test_step_decay_schedule():
  sched = schedules.make_schedule(1e-3, ml_collections.ConfigDict(dict(
      schedule='step_decay', decay_rate=0.98, decay_steps=10)))
  np.testing.assert_allclose([sched(0), sched(9), sched(10), sched(25)],
                             [1e-3, 1e-3, 0.98e-3, 0.98 ** 2 * 1e-3],
                             rtol=1e-6)


# ---------------------------------------------------------------- metrics


def test_melody_and_separation_scores_against_mir_eval_and_by_hand():
  config = tiny_config()
  fe = majl_vocal.make_frontend(config)
  freqs = fe.bin_frequencies()
  assert freqs[0] == pytest.approx(32.70, abs=0.01) and freqs[60] == (
      pytest.approx(65.41, abs=0.01))
  # A salience whose argmax gives: 6 right, 2 an octave up, 2 a fifth up.
  ref_bin = 180  # 261.6 Hz
  est_bins = [ref_bin] * 6 + [ref_bin + 60] * 2 + [ref_bin + 35] * 2
  sal = np.full((360, 10), 0.01)
  sal[est_bins, np.arange(10)] = 0.9
  times = fe.frame_times(10)
  ref = np.full(10, freqs[ref_bin])
  from mpe_jax.evaluation import melody, separation  # pylint: disable=g-import-not-at-top
  ours = melody.evaluate_salience(sal, freqs, times, times, ref)
  theirs = mir_eval.melody.evaluate(times, ref, times, freqs[est_bins])
  assert ours['rpa'] == pytest.approx(0.6) == pytest.approx(
      theirs['Raw Pitch Accuracy'])
  assert ours['rca'] == pytest.approx(0.8) == pytest.approx(
      theirs['Raw Chroma Accuracy'])
  # SDR (Eq. 16), NSDR (Eq. 18) and GNSDR (Eq. 17) by hand.
  s = np.array([1.0, -1.0, 1.0, -1.0])
  assert separation.sdr(s, 0.9 * s) == pytest.approx(20.0, abs=1e-6)
  assert separation.sdr(s, 0.5 * s) == pytest.approx(10 * np.log10(4))
  scores = [{'nsdr': 3.0}, {'nsdr': 6.0}, {'rpa': 0.5}]
  tracks = [vocal.VocalTrack('a', np.zeros(100), np.zeros(0), []),
            vocal.VocalTrack('b', np.zeros(300), np.zeros(0), []),
            vocal.VocalTrack('c', np.zeros(500), np.zeros(0), [])]
  assert majl_vocal.set_metrics(scores, tracks)['gnsdr'] == pytest.approx(
      (3 * 100 + 6 * 300) / 400)
  assert majl_vocal.set_metrics([{'rpa': 1.0}], tracks[:1]) == {}


def test_track_evaluator_scores_what_the_segments_compute():
  config = tiny_config()
  model = build_model(config.model, jax.random.key(0))
  gd, params = nnx.split(model)
  fe = majl_vocal.make_frontend(config)
  rec = vocal.synth_song(0, 'synth_full', 'test', 0, seconds=1.5,
                         sample_rate=SR, hop_length=320)
  track = vocal.VocalTrack(rec.name, rec.mixture, *rec.ref,
                           vocals=rec.vocals)
  runner = majl_vocal.make_segment_runner(gd, fe, config)
  sep, sal = runner(params, rec.mixture)
  assert sep.shape == rec.mixture.shape and sal.shape == (360, 1 + 24000 //
                                                          320)
  # The first segment is the cascade of its samples.
  direct = majl_vocal.cascade(model, jnp.asarray(rec.mixture[None, :SEG]),
                              fe.stft)
  np.testing.assert_allclose(sep[:SEG], np.asarray(direct[0])[0], atol=1e-5)
  np.testing.assert_allclose(sal[:, :SEG // 320],
                             jax.nn.sigmoid(direct[2])[0, :, :SEG // 320],
                             atol=1e-5)
  # The separated magnitude is the mixture's times a mask in [0, 1], 0 above
  # mss.n_bins.
  mag = np.asarray(stft_lib.magnitude(stft_lib.stft(
      fe.stft, jnp.asarray(rec.mixture[None, :SEG]))))
  sep_mag = np.asarray(direct[1])
  assert np.all(sep_mag >= 0) and np.all(sep_mag <= mag * (1 + 1e-6))
  assert sep_mag[:, 256:].max() == 0.0 and sep_mag[:, :256].max() > 0
  scores = majl_vocal.track_evaluator(gd, fe, config)(params, track)
  from mpe_jax.evaluation import separation  # pylint: disable=g-import-not-at-top
  assert scores['sdr'] == pytest.approx(separation.sdr(rec.vocals, sep))
  est = np.where(sal.max(0) >= 0.5, 1, -1) * fe.bin_frequencies()[
      sal.argmax(0)]
  ref_f0 = np.asarray([f[0] if len(f) else 0.0 for f in track.ref_freqs])
  want = mir_eval.melody.evaluate(track.ref_times, ref_f0,
                                  fe.frame_times(sal.shape[-1]), est)
  assert scores['rpa'] == pytest.approx(want['Raw Pitch Accuracy'])
  assert scores['rca'] == pytest.approx(want['Raw Chroma Accuracy'])


def test_validation_batches_and_their_item_weighted_losses():
  config = tiny_config()
  tracks = (vocal.eval_tracks(config, 'synth_full', 'test')
            + vocal.eval_tracks(config, 'synth_pe', 'test')[:1])
  batches = vocal.validation_batches(tracks, SEG, 2, config)
  assert [len(b['mixture']) for b in batches] == [2, 1]
  first, last = batches
  np.testing.assert_array_equal(first['mixture'][1], tracks[1].audio[:SEG])
  np.testing.assert_array_equal(first['vocals'][1], tracks[1].vocals[:SEG])
  rec = vocal.synth_song(0, 'synth_full', 'test', 1, seconds=1.28,
                         sample_rate=SR, hop_length=320)
  grid = dict(fmin=config.hcqt.fmin, bins_per_octave=60, n_bins=360)
  np.testing.assert_array_equal(first['labels'][1],
                                vocal.f0_grid(rec.f0[:1 + SEG // 320], grid))
  np.testing.assert_array_equal(first['has_stems'], [True, True])
  np.testing.assert_array_equal(last['has_stems'], [False])
  assert last['has_pitch'][0] and not last['vocals'].any()
  assert all(np.all(b[k] == 1) for b in batches
             for k in ('confi_mss', 'confi_pe'))  # ground truth (Eq. 5)
  # Each chunk's losses count once per item: (2 x 1 + 1 x 0) / 3.
  means = evaluation_loop.validation_losses(
      lambda params, b, key: {'stems': jnp.mean(b['has_stems'] * 1.0)},
      None, tracks, SEG, 2, None, config)
  assert means['stems'] == pytest.approx(2 / 3)


def test_pseudo_records_follow_eqs_4_6_7():
  freqs = majl_vocal.make_frontend(tiny_config()).bin_frequencies()
  sal = np.full((360, 4), 0.01, np.float32)
  sal[180, 0], sal[100, 1], sal[200, 2], sal[50, 3] = 0.9, 0.3, 0.5, 0.05
  # Eq. 4: max if voiced (>= 0.5), else 1 - max; f0 of the strongest bin.
  conf = [0.9, 0.7, 0.5, 0.95]
  f0 = [freqs[180], 0.0, freqs[200], 0.0]
  ones = np.ones(4, np.float32)
  mixture, sep = np.ones(1280, np.float32), np.full(1280, 0.5, np.float32)
  stems_only = vocal.VocalRecord('m', mixture, mixture * 0.3, None, ones,
                                 ones)
  out = vocal_pseudo_label.pseudo_record(stems_only, sep, sal, freqs, 0.5)
  np.testing.assert_allclose(out.f0, f0, rtol=1e-6)
  np.testing.assert_allclose(out.confi_pe, conf, rtol=1e-6)  # Eq. 6
  np.testing.assert_array_equal(out.confi_mss, 1.0)
  np.testing.assert_array_equal(out.vocals, stems_only.vocals)
  f0_true = np.full(4, 220.0, np.float32)
  pitch_only = vocal.VocalRecord('p', mixture, None, f0_true, ones, ones)
  out = vocal_pseudo_label.pseudo_record(pitch_only, sep, sal, freqs, 0.5)
  np.testing.assert_array_equal(out.vocals, sep)  # the separated vocals
  np.testing.assert_allclose(out.confi_mss, conf, rtol=1e-6)  # Eq. 7
  np.testing.assert_array_equal(out.confi_pe, 1.0)
  np.testing.assert_array_equal(out.f0, f0_true)
  with pytest.raises(ValueError, match='both'):
    vocal_pseudo_label.pseudo_record(
        vocal.VocalRecord('b', mixture, sep, f0_true, ones, ones), sep, sal,
        freqs, 0.5)


# ---------------------------------------------------------------- configs


def test_every_table_row_builds_validates_and_quotes_the_paper():
  doc = vocal_config.__doc__
  for row in vocal_config.ROWS:
    config = vocal_config.get_config(row)
    systems.get_system(config).validate(config)
    assert row in doc, row
  assert len(vocal_config.ROWS) == 48
  line = next(l for l in doc.splitlines() if l.startswith('  t2_mir1k_both '))
  assert '12.98 9.99 94.11 94.38' in line
  c = vocal_config.get_config('t2_mir1k_both')
  assert c.data.mixture.sources == ('mir1k/train', 'pseudo/musdb18/train',
                                    'pseudo/mir_st500/train')
  assert sum(c.data.mixture.proportions) == 16 == c.train.batch_size
  assert vocal_config.get_config('t2_mir1k_musdb_half'
                                 ).data.vocal.fractions == (1.0, 0.5)
  t8 = vocal_config.get_config('t8_naive_u5_n02')
  assert (t8.dwhs.method, t8.dwhs.upper_bound, t8.dwhs.omega_noise) == (
      'naive', 5.0, 0.2)
  assert c.optim.schedule == 'step_decay' and c.optim.decay_rate == 0.98
  assert (c.optim.mss_lr, c.optim.weight_decay) == (1e-3, 0.0)
  assert c.stft.n_fft == 2048 and c.stft.hop_length == 320


def test_bad_variants_and_config_keys_are_one_line():
  messages = []
  for arg in ('t2_nothing', 'unet,resunet', 'pipeline,stage2_both',
              'naive,pipeline'):
    with pytest.raises(ValueError) as info:
      vocal_config.get_config(arg)
    messages.append(str(info.value))
  for key, value, match in (
      ('stft.hop_length', 256, 'share the rate and the hop'),
      ('objectives.pe_input', 'mixture', 'pe_input'),
      ('data.excerpt_seconds', 0.01, 'multiple of the hop'),
      ('eval.evaluation_sets', ('urmp/test',), 'vocal sets'),
      ('dwhs.method', 'naive', 'needs config.model.dwm.enabled=False')):
    config = tiny_config(**{key: value})
    with pytest.raises(ValueError, match=match) as info:
      train.validate_config(config)
    messages.append(str(info.value))
  config = tiny_config()
  with config.unlocked():
    config.loss_weights.extra = 1.0
  with pytest.raises(ValueError, match='exactly') as info:
    train.validate_config(config)
  messages.append(str(info.value))
  assert all('\n' not in m for m in messages)


def test_a_row_and_its_own_blocks_apply_once():
  row = vocal_config.get_config('t5_u_c_majl')
  assert vocal_config.get_config('crepe,t5_u_c_majl,unet').to_dict() == (
      row.to_dict())
  assert row.model.mss.module == 'unet' and row.model.pe.module == 'crepe'
  assert len(row.data.mixture.sources) == 3  # labelled + two pseudo sets


# ------------------------------------------------------------ short runs


def test_stage1_pseudo_labels_stage2(tmp_path, capsys):
  stage1 = tmp_path / 'stage1'
  out = train.train_and_evaluate(tiny_config(), str(stage1))
  scores = out['final']['sets']['vocal/synth_full/test']
  assert {'sdr', 'nsdr', 'gnsdr', 'rpa', 'rca'} <= set(scores)
  text = capsys.readouterr().out
  assert 'SDR' in text and 'GNSDR' in text and 'RPA' in text
  assert json.loads((stage1 / 'eval.json').read_text())['final']
  # Stage II without pseudo-labels: one line naming the command.
  stage2_config = tiny_config('quick,stage2_both')
  with pytest.raises(FileNotFoundError, match='vocal_pseudo_label') as info:
    vocal.open_sources(stage2_config, 4)  # what the trainer opens
  assert '\n' not in str(info.value)
  pseudo = tmp_path / 'pseudo'
  status = vocal_pseudo_label.run([
      'vocal_pseudo_label', f'--checkpoint={stage1}',
      '--sets=synth_mss/train,synth_pe/train', f'--output_dir={pseudo}'])
  assert status == 0
  assert capsys.readouterr().out.count('frames voiced, mean confidence') == 2
  for corpus, key in (('synth_mss', 'confi_pe'), ('synth_pe', 'confi_mss')):
    folder = vocal.VocalFolder(str(pseudo / corpus / 'train'),
                               sample_rate=SR, hop_length=320, what='t')
    assert folder.has_stems and folder.has_pitch and len(folder) == 2
    rec = folder.load_index(0)
    conf = getattr(rec, key)
    assert conf.min() >= 0.5 and conf.max() <= 1.0  # Eq. 4
    assert rec.vocals is not None and rec.f0 is not None
    other = 'confi_mss' if key == 'confi_pe' else 'confi_pe'
    np.testing.assert_array_equal(getattr(rec, other), 1.0)  # Eqs. 6, 7
  # Stage II reads them: half the batch from the pseudo-labelled sets.
  with stage2_config.unlocked():
    stage2_config.data.pseudo_label_dir = str(pseudo)
  layout = vocal.open_sources(stage2_config, 4)
  assert [s.name for s, _ in layout] == [
      'synth_full/train', 'pseudo/synth_mss/train', 'pseudo/synth_pe/train']
  assert isinstance(layout[1][0].full_store, vocal.VocalFolder)
  out2 = train.train_and_evaluate(stage2_config, str(tmp_path / 'stage2'))
  assert out2['checkpoint'] == 'last step 2'
  # A second command with a bad set is one line.
  status = vocal_pseudo_label.run([
      'vocal_pseudo_label', f'--checkpoint={stage1}',
      '--sets=synth_full/train', f'--output_dir={pseudo}'])
  assert status == 2
  assert 'fully labelled' in capsys.readouterr().err
