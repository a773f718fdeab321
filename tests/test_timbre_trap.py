"""Timbre-Trap: model switch/ablations, losses by hand, labels, SDR, configs."""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from configs import timbre_trap as tt_config
from mpe_jax import systems
from mpe_jax.evaluation import separation
from mpe_jax.features import cqt as cqt_lib
from mpe_jax.models import build_model, count_params
from mpe_jax.objectives import timbre_trap as tt

KEY = jax.random.key(0, impl='rbg')


def _model_cfg(arg=None, **overrides):
  cfg = tt_config.get_config(arg).model.to_dict()
  cfg.update(overrides)
  return ml_collections.ConfigDict(cfg)


def _abstract_count(cfg):
  model = nnx.eval_shape(lambda: build_model(cfg, KEY))
  return count_params(nnx.state(model, nnx.Param))


# ------------------------------------------------------------------ model


@pytest.mark.parametrize('arg,expected', [
    (None, 614_490),  # paper architecture, see docs/timbre_trap.md
    ('film', 614_490 - 64 * 31 + 2 * (2 * 128 + 128)),
    ('skip_connections', 614_490 + 5),
    ('magnitude', 614_490 - 4 * 9 - (4 * 9 + 1)),
])
def test_parameter_counts(arg, expected):
  assert _abstract_count(tt_config.get_config(arg).model) == expected


_apply = jax.jit(lambda params, x, switch, graphdef: nnx.merge(
    graphdef, params)(x, switch), static_argnums=(3,))


def _split(cfg, seed=0):
  graphdef, state = nnx.split(build_model(cfg, jax.random.key(seed,
                                                             impl='rbg')))
  return graphdef, nnx.to_pure_dict(state)


def _run(graphdef, params, x, switch):
  return np.asarray(_apply(params, x, jnp.asarray(switch, jnp.float32),
                           graphdef))


# A small bin count and three levels (46 -> 22 -> 10 bins, channels 4-8-16)
# keep these programs cheap to compile.
N_BINS = 46
SMALL = {'n_bins': N_BINS, 'channels': (4, 8, 16)}


def test_switch_and_film_change_the_output():
  x = np.random.default_rng(1).standard_normal((1, 2, N_BINS, 5)).astype(
      np.float32)
  xx = np.concatenate([x, x])
  for arg in (None, 'film'):
    graphdef, params = _split(_model_cfg(arg, **SMALL))
    out = _run(graphdef, params, xx, [0.0, 1.0])  # item 0 transcribes
    assert out.shape == (2, 2, N_BINS, 5)
    assert np.abs(out[0] - out[1]).max() > 1e-3, arg
  with pytest.raises(ValueError, match='switch'):
    _apply(params, x, None, graphdef)  # raises while tracing


def test_film_layer_by_hand():
  model = build_model(_model_cfg('film', **SMALL), KEY)
  dec = model.decoder
  z = jnp.arange(2 * 3 * 128, dtype=jnp.float32).reshape(2, 3, 1, 128)
  out = dec.condition(z, jnp.asarray([0.0, 1.0]))
  wg, bg = np.asarray(dec.film_gamma.kernel[...]), np.asarray(
      dec.film_gamma.bias[...])
  wb, bb = np.asarray(dec.film_beta.kernel[...]), np.asarray(
      dec.film_beta.bias[...])
  # Item 0 transcribes (one-hot [1, 0]), item 1 reconstructs ([0, 1]).
  for item, row in ((0, 0), (1, 1)):
    gamma, beta = wg[row] + bg, wb[row] + bb
    np.testing.assert_allclose(out[item], np.asarray(z[item]) * gamma + beta,
                               rtol=1e-5)


def test_skip_connections_with_zero_weights_equal_no_skips():
  x = np.random.default_rng(2).standard_normal((1, 2, N_BINS, 4)).astype(
      np.float32)
  # Same seed: the skip weights take no randomness, so every other
  # parameter is identical.
  plain = _run(*_split(_model_cfg(**SMALL), seed=3), x, 1.0)
  graphdef, params = _split(_model_cfg('skip_connections', **SMALL),
                            seed=3)
  ones = _run(graphdef, params, x, 1.0)
  params['decoder']['skip_weights'] = jnp.zeros(3)  # one per level
  np.testing.assert_allclose(_run(graphdef, params, x, 1.0), plain,
                             atol=1e-5)
  assert np.abs(ones - plain).max() > 1e-3


# ----------------------------------------------------------------- losses


def test_balancing_weights_formula():
  y = jnp.asarray([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]],
                   [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]])  # [2, 3, 2]
  # Batch: 4 positives, 8 negatives -> positives weighted 2.
  g = tt.balancing_weights(y, scope='batch')
  np.testing.assert_allclose(g, np.where(np.asarray(y) == 1, 2.0, 1.0))
  # Masked to item 0: 2 positives, 4 negatives -> 2 as well; item 1 only:
  # 2 positives, 4 negatives.
  g = tt.balancing_weights(y, jnp.asarray([1.0, 0.0]), scope='batch')
  np.testing.assert_allclose(g, np.where(np.asarray(y) == 1, 2.0, 1.0))
  # Frame: every frame with one positive among 3 bins -> weight 2.
  g = tt.balancing_weights(y, scope='frame')
  np.testing.assert_allclose(g, np.where(np.asarray(y) == 1, 2.0, 1.0))
  y2 = jnp.asarray([[[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
  g = np.asarray(tt.balancing_weights(y2, scope='frame'))
  np.testing.assert_allclose(g[0, :, 0], [1.0, 1.0, 1.0, 1.0])  # 2 / 2
  np.testing.assert_allclose(g[0, :, 1], [1.0, 1.0, 1.0, 1.0])  # no positive
  np.testing.assert_allclose(tt.balancing_weights(y2, scope='batch'),
                             np.where(np.asarray(y2) == 1, 3.0, 1.0))


def test_transcription_and_reconstruction_losses_by_hand():
  y = jnp.asarray([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]])  # 2 pos, 4 neg
  s = jnp.asarray([[[0.5, 0.1], [0.2, 0.0], [0.0, 0.9]]])
  # gamma = 2 on positives: frame 0: 2*0.25 + 0.04 = 0.54; frame 1:
  # 0.01 + 2*0.01 = 0.03 -> mean 0.285.
  np.testing.assert_allclose(tt.transcription_loss(s, y), 0.285, rtol=1e-6)
  out = jnp.asarray([[[[1.0, 2.0]], [[0.0, -1.0]]],
                     [[[3.0, 0.0]], [[0.0, 0.0]]]])  # [2, 2, 1, 2]
  ref = jnp.zeros_like(out)
  # Item 0: frame sums (1 + 0, 4 + 1) -> 3; item 1: (9, 0) -> 4.5.
  np.testing.assert_allclose(tt.reconstruction_loss(out, ref), 3.75)
  np.testing.assert_allclose(
      tt.reconstruction_loss(out, ref, jnp.asarray([0.0, 1.0])), 4.5)


class _ScaleModel:
  """encode = identity; decode = z * (0.5 + switch): every loss is closed form."""

  def encode(self, x):
    return x, None

  def decode(self, z, switch, skips=None):
    del skips
    return z * (0.5 + jnp.asarray(switch).reshape(-1, 1, 1, 1))

  def __call__(self, x, switch):
    z, skips = self.encode(x)
    return self.decode(z, switch, skips)


def _quick_config(**weights):
  """``:quick`` with 0.5-s slices and excerpts (128 frames, small programs)
  and every loss weight 1 unless given."""
  config = tt_config.get_config('quick')
  with config.unlocked():
    config.cqt.block_seconds = 0.5
    config.data.excerpt_seconds = 0.5
    for term in tt.TERMS:
      config.loss_weights[term] = weights.pop(term, 1.0)
  assert not weights, weights
  return config


def test_compute_losses_by_hand_with_masked_items():
  config = _quick_config()
  cqt = systems.get_system(config).make_frontend(config)
  n = cqt.block_length  # 0.5 s -> 128 CQT frames, 44 label frames
  rng = np.random.default_rng(0)
  audio = (0.3 * rng.standard_normal((3, n))).astype(np.float32)
  labels = np.zeros((3, 440, 1 + n // 256), np.uint8)
  labels[0, 100, :] = 1
  labels[1, 200, 10:30] = 1
  labels[2, 300, :] = 1  # item 2 is unlabelled: its labels must not count
  has_label = np.asarray([True, True, False])
  batch = {'audio': audio, 'labels': labels, 'has_label': has_label}
  total, parts = jax.jit(
      lambda b: tt.compute_losses(_ScaleModel(), b, None, cqt, config))(batch)

  x = np.asarray(cqt_lib.cqt_transform(cqt, audio), np.float64)  # [3,2,K,T]
  t = x.shape[-1]
  # Labels on the CQT grid: bin j -> j + 21, frame m -> round(m * hop / 256).
  frames = np.round(np.arange(t) * cqt.hop_length / 256).astype(int)
  y = np.zeros((3, 540, t))
  for i in range(3):
    y[i, 21:461] = labels[i][:, np.minimum(frames, labels.shape[2] - 1)]
  mask = np.asarray([1.0, 1.0, 0.0])
  per_item = lambda m: m.sum(axis=-2).mean(axis=-1)  # sum K, mean T
  rec = per_item(((1.5 * x - x) ** 2).sum(axis=1)).mean()
  sal = np.tanh(0.5 * np.sqrt((x ** 2).sum(axis=1)))
  pos, neg = (y * mask[:, None, None]).sum(), ((1 - y) * mask[:, None,
                                                              None]).sum()
  gamma = y * neg / pos + (1 - y)
  trn = (per_item(gamma * (y - sal) ** 2) * mask).sum() / 2
  z = 0.5 * x
  cons = (per_item((2 * (0.5 * z) ** 2).sum(axis=1)) * mask).sum() / 2
  np.testing.assert_allclose(parts['reconstruction'], rec, rtol=1e-4)
  np.testing.assert_allclose(parts['transcription'], trn, rtol=1e-4)
  np.testing.assert_allclose(parts['consistency'], cons, rtol=1e-4)
  np.testing.assert_allclose(total, rec + trn + cons, rtol=1e-4)

  # Without labels (validation audio) only the reconstruction counts.
  total, parts = tt.compute_losses(_ScaleModel(), {'audio': audio}, None, cqt,
                                   config)
  assert float(parts['transcription']) == 0.0
  assert float(parts['consistency']) == 0.0
  np.testing.assert_allclose(total, rec, rtol=1e-4)


def test_magnitude_variant_losses_by_hand():
  config = tt_config.get_config('magnitude')
  with config.unlocked():
    config.cqt.block_seconds = 0.5
  cqt = systems.get_system(config).make_frontend(config)
  audio = (0.2 * np.random.default_rng(8).standard_normal(
      (2, cqt.block_length))).astype(np.float32)
  labels = np.zeros((2, 440, 1 + cqt.block_length // 256), np.uint8)
  labels[:, 50, :] = 1
  batch = {'audio': audio, 'labels': labels,
           'has_label': np.asarray([True, True])}
  total, parts = tt.compute_losses(_ScaleModel(), batch, None, cqt, config)
  assert set(parts) == {'reconstruction', 'transcription'}
  mag = np.sqrt((np.asarray(cqt_lib.cqt_transform(cqt, audio),
                            np.float64) ** 2).sum(axis=1))
  db = 20 * np.log10(np.maximum(mag, 1e-10))
  peak = db.max(axis=(1, 2), keepdims=True)
  x = np.clip(1 + (np.maximum(db, peak - 80) - peak) / 80, 0, 1)  # [B, K, T]
  sigmoid = lambda v: 1 / (1 + np.exp(-v))
  per_item = lambda m: m.sum(axis=-2).mean(axis=-1)
  rec = per_item((sigmoid(1.5 * x) - x) ** 2).mean()
  frames = np.round(np.arange(x.shape[-1]) * cqt.hop_length / 256).astype(int)
  y = np.zeros_like(x)
  y[:, 71, frames < labels.shape[2]] = 1.0
  gamma = y * (1 - y).sum() / y.sum() + (1 - y)
  trn = per_item(gamma * (y - sigmoid(0.5 * x)) ** 2).mean()
  np.testing.assert_allclose(parts['reconstruction'], rec, rtol=1e-4)
  np.testing.assert_allclose(parts['transcription'], trn, rtol=1e-4)
  np.testing.assert_allclose(total, rec + trn, rtol=1e-4)


def test_disabled_terms_are_not_computed():
  config = _quick_config(consistency=0.0, reconstruction=0.0)
  cqt = systems.get_system(config).make_frontend(config)
  audio = np.zeros((1, cqt.block_length), np.float32)
  _, parts = tt.compute_losses(_ScaleModel(), {'audio': audio}, None, cqt,
                               config)
  assert set(parts) == {'transcription'}


def test_label_mapping():
  freqs = cqt_lib.make_cqt().bin_frequencies()
  index = tt.label_bin_index(freqs, fmin=27.5, bins_per_octave=60, n_bins=440)
  np.testing.assert_array_equal(index[21:461], np.arange(440))
  assert np.all(index[:21] == -1) and np.all(index[461:] == -1)
  # Nearest in log frequency: 27.5 Hz is 21.172 CQT bins above 21.53 Hz.
  np.testing.assert_allclose(60 * np.log2(27.5 / freqs[21]), 0.172, atol=1e-3)
  frames = tt.label_frame_index(8, 100 / 22050, 3, 256 / 22050)
  np.testing.assert_array_equal(frames, [0, 0, 1, 1, 2, 2, 2, -1])
  labels = jnp.asarray(np.arange(12).reshape(1, 4, 3))
  out = tt.labels_to_cqt(labels, np.asarray([-1, 0, 3]),
                         np.asarray([2, -1, 0]))
  np.testing.assert_allclose(out[0], [[0, 0, 0], [2, 0, 0], [11, 0, 9]])
  with pytest.raises(ValueError, match='finer'):
    tt.label_bin_index(freqs, fmin=27.5, bins_per_octave=120, n_bins=880)


def test_salience_zeroes_above_5khz_and_drops_padding():
  config = _quick_config()
  cqt = systems.get_system(config).make_frontend(config)
  n = int(0.7 * 22050)  # two 0.5-s slices, the second partly padding
  audio = np.random.default_rng(7).standard_normal((1, n)).astype(np.float32)
  sal = np.asarray(tt.salience(_ScaleModel(), audio, cqt, config))
  assert sal.shape == (1, 540, int(np.ceil(n / cqt.hop_length)))
  # tanh(|0.5 X|) below 5 kHz, 0 above.
  x = np.asarray(cqt_lib.cqt_transform(cqt, audio))[..., :sal.shape[-1]]
  expected = np.tanh(0.5 * np.sqrt((x ** 2).sum(axis=1)))
  high = cqt.bin_frequencies() > 5000
  expected[:, high] = 0.0
  np.testing.assert_allclose(sal, expected, atol=1e-5)
  assert sal[0, ~high].max() > 0


def test_resynthesis_decodes_both_modes_through_the_inverse():
  config = _quick_config()
  cqt = systems.get_system(config).make_frontend(config)
  n = cqt.block_length + 1000  # the padding of the last slice is cut off
  audio = (0.3 * np.random.default_rng(9).standard_normal((1, n))).astype(
      np.float32)
  out = jax.jit(lambda a: tt.resynthesize(_ScaleModel(), a, cqt, config))(
      audio)
  # The model scales by 1.5 (reconstruct) and 0.5 (transcribe); the inverse
  # is linear, so the outputs are scaled band-limited copies of the input.
  band = np.asarray(cqt_lib.icqt(cqt, cqt_lib.cqt_transform(cqt, audio),
                                 num_samples=n))
  assert out['reconstruction'].shape == out['timbreless'].shape == (1, n)
  np.testing.assert_allclose(out['reconstruction'], 1.5 * band, atol=1e-4)
  np.testing.assert_allclose(out['timbreless'], 0.5 * band, atol=1e-4)
  np.testing.assert_allclose(
      separation.sdr(band[0], np.asarray(out['reconstruction'])[0]),
      10 * np.log10(4), atol=1e-3)


# -------------------------------------------------------------------- SDR


def test_sdr_of_perfect_and_silent_reconstructions():
  s = np.random.default_rng(5).standard_normal(4000)
  assert separation.sdr(s, s) > 100
  assert separation.sdr(s, np.zeros_like(s)) == 0.0
  np.testing.assert_allclose(separation.sdr(s, 0.5 * s), 10 * np.log10(4))
  assert separation.sdr_filtered(s, s) > 90
  np.testing.assert_allclose(separation.sdr_filtered(s, np.zeros_like(s)),
                             0.0, atol=1e-9)
  # Gain and short filters are forgiven by the filtered SDR only.
  e = 0.3 * np.convolve(s, [1.0, -0.4, 0.1])[:4000]
  assert separation.sdr_filtered(s, e) > 40 and separation.sdr(s, e) < 5
  with pytest.raises(ValueError, match='samples'):
    separation.sdr(s, s[:10])


def test_filtered_sdr_matches_mir_eval():
  import mir_eval  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(6)
  s = rng.standard_normal(3000)
  e = np.convolve(s, [0.8, 0.3])[:3000] + 0.2 * rng.standard_normal(3000)
  with np.errstate(all='ignore'):
    import warnings  # pylint: disable=g-import-not-at-top
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')
      ref = mir_eval.separation.bss_eval_sources(s[None], e[None])[0][0]
  np.testing.assert_allclose(separation.sdr_filtered(s, e), ref, atol=1e-4)


# ---------------------------------------------------------------- configs


@pytest.mark.parametrize('arg', [None, 'quick', 'no_consistency',
                                 'transcription_only', 'magnitude',
                                 'magnitude_transcription_only',
                                 'skip_connections', 'film'])
def test_config_variants_validate(arg):
  config = tt_config.get_config(arg)
  systems.get_system(config).validate(config)
  tt.enabled_terms(config.loss_weights)


@pytest.mark.parametrize('arg,corpus', [('guitarset_audio', 'guitarset/train'),
                                        ('medleydb_audio', 'medleydb/all'),
                                        ('fma_audio', 'fma/train')])
def test_unlabelled_audio_rows_mix_eight_and_eight(arg, corpus):
  config = tt_config.get_config(arg)
  systems.get_system(config).validate(config)
  assert config.data.train_source == 'mixture'
  assert config.data.mixture.sources == ('synthetic/train', corpus)
  assert config.data.mixture.use_labels == (True, False)
  assert config.train.batch_size == sum(config.data.mixture.proportions) == 16


def test_unknown_variant_is_a_one_line_error():
  with pytest.raises(ValueError) as info:
    tt_config.get_config('nope')
  assert '\n' not in str(info.value)


def test_config_mismatches_are_one_line_errors():
  config = tt_config.get_config()
  with config.unlocked():
    config.model.in_channels = 1
  with pytest.raises(ValueError, match='in_channels'):
    systems.get_system(config).validate(config)
  config = tt_config.get_config()
  with config.unlocked():
    config.loss_weights.timbre = 1.0
  with pytest.raises(ValueError, match='unknown terms'):
    systems.get_system(config).validate(config)


def test_resynthesize_cli_missing_checkpoint_is_one_line(tmp_path, capsys):
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  from mpe_jax import resynthesize  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'tone.wav')
  sf.write(path, np.zeros(2205, np.float32), 22050)
  code = resynthesize.run(['mpe_jax.resynthesize',
                           f'--checkpoint={tmp_path / "no_such_run"}',
                           f'--output_dir={tmp_path / "out"}', path])
  out, err = capsys.readouterr()
  assert code == 2 and not out, err
  assert err.count('\n') == 1 and err.startswith(
      'mpe_jax.resynthesize: error: CheckpointError: '), err
  assert not os.path.exists(tmp_path / 'out')


def test_resynthesize_cli_names_its_required_flags(tmp_path, capsys):
  from mpe_jax import resynthesize  # pylint: disable=g-import-not-at-top
  code = resynthesize.run(['mpe_jax.resynthesize',
                           f'--checkpoint={tmp_path}', 'x.wav'])
  _, err = capsys.readouterr()
  assert code == 2
  assert err == ('mpe_jax.resynthesize: error: --checkpoint and --output_dir '
                 'are required (see --help)\n'), err


# ------------------------------------------------ training + resynthesis


@pytest.mark.slow
def test_train_then_resynthesize(tmp_path):
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  from mpe_jax import resynthesize, train  # pylint: disable=g-import-not-at-top
  # The plumbing (train -> checkpoint -> SDR in the evaluation -> audio out)
  # with a two-level model and no consistency term: small programs to
  # compile. The losses and the full model are checked elsewhere.
  config = _quick_config(consistency=0.0)
  with config.unlocked():
    config.model.channels = (4, 8)
    config.model.latent_size = 16
    # XLA's convolutions compile ~6x faster than the CPU default 'direct'
    # (test_models checks that the two compute the same function).
    config.model.conv_impl = 'xla'
    config.train.batch_size = 4
    config.train.num_steps = 2
    config.train.log_every = 1
    config.train.eval_every = 3  # no validation: the final evaluation scores
    config.train.checkpoint_every = 2
    config.data.eval_track_seconds = 1.0
    config.data.eval_num_tracks = 1
    config.eval.at_start = False
  workdir = str(tmp_path / 'run')
  result = train.train_and_evaluate(config, workdir)
  scores = result['final']['sets']['synthetic_mixtures/test']
  assert {'f1', 'sdr', 'sdr_filtered'} <= set(scores)
  assert np.isfinite(scores['sdr'])

  rs = resynthesize.Resynthesizer(workdir)
  x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 22050)).astype(
      np.float32)
  path = str(tmp_path / 'tone.wav')
  sf.write(path, x, 22050)
  out = resynthesize.resynthesize_files(rs, [path], str(tmp_path / 'out'),
                                        chunk_seconds=0.5)
  for k in ('reconstruction', 'timbreless'):
    audio, rate = sf.read(out[0][k])
    assert rate == 22050 and audio.shape == x.shape
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() == pytest.approx(
        1.0)
  # Audio longer than a chunk is processed chunk by chunk, same length out.
  chunked = rs(np.tile(x, 3), chunk_seconds=0.5)
  assert chunked['timbreless'].shape == (3 * x.size,)
