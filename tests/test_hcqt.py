"""HCQT against an independent numpy/librosa construction of the reference."""

import functools

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest

from mpe_jax.features import hcqt as H

SR = 22050


@functools.lru_cache(maxsize=None)
def _librosa_filters(h: float, gamma, norm):
  freqs = 27.5 * h * 2.0 ** (np.arange(440) / 60)
  f, _ = librosa.filters.wavelet(freqs=freqs, sr=SR, window='hann',
                                 filter_scale=1, pad_fft=False, norm=norm,
                                 gamma=gamma)
  return f


def reference_magnitude(x: np.ndarray, gamma=None, norm=None) -> np.ndarray:
  """lhvqt semantics: pad (ks//2, ks - ks//2), stride-256 correlation, |.|."""
  outs = []
  for h in (0.5, 1, 2, 3, 4, 5):
    f = _librosa_filters(h, gamma, norm)
    ks = f.shape[-1]
    xp = np.pad(x, (ks // 2, ks - ks // 2))
    n_frames = 1 + len(x) // 256
    idx = np.arange(n_frames)[:, None] * 256 + np.arange(ks)[None]
    outs.append(np.abs(xp[idx] @ f.T).T)
  return np.stack(outs)  # [H, K, T]


def reference_scaled_db(mag: np.ndarray) -> np.ndarray:
  power = mag.astype(np.float64) ** 2
  ref = power.max()
  db = 10 * np.log10(np.maximum(power, 1e-10)) - 10 * np.log10(max(ref, 1e-10))
  db = np.maximum(db, -80.0)
  if ref == 0:
    db[:] = -80.0
  return 1 + db / 80


@jax.jit
def _db(fb, x):
  return H.to_decibels(H.hcqt_magnitude(fb, x))


@pytest.fixture(scope='module')
def fb():
  return H.make_filterbank(H.HCQTConfig())


def _signals():
  t = np.arange(SR) / SR
  rng = np.random.default_rng(0)
  return {
      'tone_440': np.sin(2 * np.pi * 440 * t),
      'two_tones': 0.3 * np.sin(2 * np.pi * 55 * t)
                   + np.sin(2 * np.pi * 1234.5 * t),
      'high_tone': np.sin(2 * np.pi * 3951.1 * t),
      'noise': rng.standard_normal(SR),
  }


@pytest.mark.parametrize('name', ['tone_440', 'two_tones', 'high_tone', 'noise'])
def test_matches_reference_definition(fb, name):
  x = _signals()[name]
  ours = np.asarray(_db(fb, x[None]))[0]
  ref = reference_scaled_db(reference_magnitude(x))
  assert ours.shape == ref.shape == (6, 440, 1 + SR // 256)
  assert np.max(np.abs(ours - ref)) <= 1e-3


def test_batch_items_use_their_own_reference(fb):
  sig = _signals()
  batch = np.stack([sig['tone_440'], 0.01 * sig['noise']])
  ours = np.asarray(_db(fb, batch))
  for i in range(2):
    ref = reference_scaled_db(reference_magnitude(batch[i]))
    assert np.max(np.abs(ours[i] - ref)) <= 1e-3
    assert ours[i].max() == pytest.approx(1.0)


def test_tone_lands_in_the_right_bin_of_every_channel(fb):
  cfg = fb.config
  f0 = 440.0
  x = np.sin(2 * np.pi * f0 * np.arange(SR) / SR)
  mag = np.asarray(H.hcqt_magnitude(fb, x[None]))[0]  # [H, K, T]
  mid = mag.shape[-1] // 2
  for c, h in enumerate(cfg.harmonics):
    expected = 60 * np.log2(f0 / (27.5 * h))
    assert int(np.argmax(mag[c, :, mid])) == int(np.round(expected)), h


def test_filters_shared_across_harmonics_are_evaluated_once(fb):
  # h = 0.5 bins 60.. are h = 1 bins 0.., h = 1 bins 60.. are h = 2 bins 0..;
  # h = 4 is centred one sample off h = 2, so it keeps its own filters. That
  # every channel, shared outputs included, still equals the direct definition
  # is test_matches_reference_definition's check (same filterbank).
  order = np.asarray(fb.order).reshape(6, 440)
  assert len(np.unique(order)) == 6 * 440 - 2 * 380
  np.testing.assert_array_equal(order[0, 60:], order[1, :380])
  np.testing.assert_array_equal(order[1, 60:], order[2, :380])
  assert not np.intersect1d(order[4], order[:4]).size


def test_sharing_equals_each_channel_built_alone():
  # Channel h of an HCQT is the h = 1 channel of a CQT starting at h * fmin;
  # building each alone shares nothing, so both must agree to rounding.
  cfg = H.HCQTConfig(harmonics=(0.5, 1, 2, 4), bins_per_octave=36, n_bins=264)
  fb = H.make_filterbank(cfg)
  assert len(np.unique(np.asarray(fb.order))) < 4 * 264
  x = jnp.asarray(_signals()['noise'][None, :11025])
  shared = np.asarray(H.hcqt_power(fb, x))
  alone = np.concatenate([
      np.asarray(H.hcqt_power(H.make_filterbank(H.HCQTConfig(
          harmonics=(1,), bins_per_octave=36, n_bins=264, fmin=h * cfg.fmin)),
                              x)) for h in cfg.harmonics], axis=1)
  np.testing.assert_allclose(shared, alone, rtol=0, atol=1e-5 * alone.max())


@pytest.mark.parametrize('n', [1, 100, 256, 257, 5000, 22050])
def test_frame_count(fb, n):
  x = jax.ShapeDtypeStruct((2, n), jnp.float32)
  shape = jax.eval_shape(lambda a: H.hcqt_magnitude(fb, a), x).shape
  assert shape == (2, 6, 440, 1 + n // 256)


def test_silence_is_floor_and_finite(fb):
  out = jax.jit(H.hcqt_features)(fb, jnp.zeros((1, 8192)))
  for key in ('db', 'db_1', 'db_h'):
    assert np.all(np.asarray(out[key]) == 0.0), key


def test_jit_vmap_grad(fb):
  x = jnp.asarray(_signals()['two_tones'][None, :8192], jnp.float32)
  f = jax.jit(lambda a: H.to_decibels(H.hcqt_magnitude(fb, a)))
  batch = jnp.concatenate([x, 0.5 * x])
  per_item = jax.jit(jax.vmap(lambda a: f(a[None])[0]))(batch)
  np.testing.assert_allclose(per_item, f(batch), atol=1e-5)
  g = jax.jit(jax.grad(lambda a: jnp.sum(H.hcqt_power(fb, a))))(x)
  assert g.shape == x.shape and bool(jnp.all(jnp.isfinite(g)))
  assert float(jnp.max(jnp.abs(g))) > 0


def test_zero_above_nyquist_variant():
  gamma = 24.7 * (2 ** (1 / 60) - 1) / 0.108
  cfg = H.HCQTConfig(gamma=gamma, zero_above_nyquist=True)
  fb = H.make_filterbank(cfg)
  x = np.random.default_rng(1).standard_normal((1, 8192))
  db = np.asarray(_db(fb, x))[0]
  zero_rows = [(db[c].max(axis=-1) == 0).sum() for c in range(6)]
  # lhvqt 0.5.3: h3 bins >= 423, h4 >= 399, h5 >= 379 are all-zero filters.
  assert zero_rows == [0, 0, 0, 17, 41, 61]
  ref = reference_scaled_db(np.where(
      np.arange(440)[None, :, None] >= np.array(
          [440, 440, 440, 423, 399, 379])[:, None, None], 0.0,
      reference_magnitude(x[0], gamma=gamma)))
  assert np.max(np.abs(db - ref)) <= 1e-3


def test_normalized_filter_variant():
  fb = H.make_filterbank(H.HCQTConfig(normalize_filters=True))
  x = _signals()['two_tones'][:8192]
  ours = np.asarray(_db(fb, x[None]))[0]
  ref = reference_scaled_db(reference_magnitude(x, norm=1))
  assert np.max(np.abs(ours - ref)) <= 1e-3


def test_harmonic_weights_match_reference():
  np.testing.assert_allclose(
      H.harmonic_weights((0.5, 1, 2, 3, 4, 5)),
      [0, 0.6832, 0.1708, 0.0759, 0.0427, 0.0273], atol=1e-4)


def test_derived_targets(fb):
  x = _signals()['two_tones'][:8192][None]
  feats = jax.jit(H.hcqt_features)(fb, x)
  db = np.asarray(feats['db'], np.float64)[0]
  np.testing.assert_array_equal(np.asarray(feats['db_1'])[0], db[1])
  am = np.where(db <= 0, 0.0, 10 ** ((db - 1) * 80 / 20))
  w = H.harmonic_weights(fb.config.harmonics)[:, None, None]
  pw_h = np.sum((am * w) ** 2, axis=0)
  db_h = 10 * np.log10(np.maximum(pw_h, 1e-10) / max(pw_h.max(), 1e-10))
  np.testing.assert_allclose(np.asarray(feats['db_h'])[0],
                             1 + np.maximum(db_h, -80) / 80, atol=1e-4)


def test_bin_grid_and_config_errors():
  cfg = H.HCQTConfig()
  assert cfg.bin_midi(1.0)[0] == pytest.approx(21.0)
  assert cfg.bin_midi(1.0)[-1] == pytest.approx(21 + 439 / 5)
  assert cfg.bin_midi(0.5)[0] == pytest.approx(9.0)
  np.testing.assert_allclose(cfg.frame_times(3), [0, 256 / SR, 512 / SR])
  with pytest.raises(ValueError, match='unknown config.hcqt keys'):
    H.HCQTConfig.from_config({'sample_rate': 22050, 'hop': 256})
  with pytest.raises(ValueError, match='must contain 1'):
    H.HCQTConfig(harmonics=(2, 3))
  for bad in ({'fold_min_fft': -1}, {'fold_chunk_size': 0}, {'chunk_size': 0}):
    with pytest.raises(ValueError, match='config.hcqt.fold_min_fft'):
      H.HCQTConfig(**bad)


@pytest.mark.parametrize('n,hop', [(SR, 256), (3000, 256), (2 * SR + 77, 256),
                                   (SR, 300)])
def test_block_folding_equals_frame_evaluation(n, hop):
  """Folded long filters give the per-frame FFT result (both are exact)."""
  x = jnp.asarray(np.random.default_rng(n).standard_normal((2, n)),
                  jnp.float32)
  framed = H.make_filterbank(H.HCQTConfig(hop_length=hop, fold_min_fft=0))
  folded = H.make_filterbank(H.HCQTConfig(hop_length=hop, fold_min_fft=512,
                                          fold_chunk_size=7))
  # The default: one chunk (one product per residue) per fold group.
  whole = H.make_filterbank(H.HCQTConfig(hop_length=hop, fold_min_fft=512))
  assert not framed.folds and folded.folds
  assert all(len(g.chunks) > 1 for g in folded.folds)
  assert all(len(g.chunks) == 1 for g in whole.folds)
  a = np.asarray(H.hcqt_power(framed, x))
  assert a.shape == (2, 6, 440, 1 + n // hop)
  for fb in (folded, whole):
    b = np.asarray(H.hcqt_power(fb, x))
    assert b.shape == a.shape
    np.testing.assert_allclose(b, a, rtol=2e-3, atol=1e-6 * a.max())


def test_fold_chunk_spanning_the_whole_block_spectrum_is_exact():
  """A chunk whose band leaves a gap narrower than one period, at a bin that
  is not a multiple of the period, must not read any bin twice."""
  cfg = H.HCQTConfig(kernel_tolerance=3e-3)
  n_fft, hop = 1024, 256
  # |1 - exp(i(theta - 2 pi k / P))| dips below the tolerance only within a
  # few bins of k = 968 (P = 4096, period 16): the band is the rest.
  frame = np.zeros(n_fft, complex)
  frame[0], frame[1] = 1.0, -np.exp(2j * np.pi * 968 / (4 * n_fft))
  t = np.arange(n_fft)
  tone = np.hanning(n_fft) * np.exp(2j * np.pi * 0.05 * t)
  items = [(0, frame.real, frame.imag), (1, tone.real, tone.imag)]
  order = []
  group = H._fold_group(items, n_fft, cfg, order)
  period = group.chunks[0].kernel.shape[0]
  assert group.chunks[0].kernel.shape[1] // 2 * period <= group.size
  x = np.random.default_rng(0).standard_normal((1, 20000)).astype(np.float32)
  n_frames = cfg.num_frames(x.shape[1])
  out = np.asarray(H._folded_power(group, jnp.asarray(x), hop, n_frames))[0]
  padded = np.pad(x[0].astype(np.float64), (n_fft // 2, n_fft))
  for flat, re, im in items:
    direct = np.abs(np.stack([padded[i * hop:i * hop + n_fft]
                              for i in range(n_frames)]) @ (re + 1j * im)) ** 2
    np.testing.assert_allclose(out[order.index(flat)], direct,
                               rtol=0, atol=2e-6 * direct.max())


@pytest.mark.parametrize('bins_per_octave,harmonic,gamma,normalize', [
    (60, 0.5, None, False), (60, 5, None, False), (60, 1, 0.0, True),
    (36, 2, 7.5, False), (12, 3, None, True)])
def test_wavelets_equal_librosa_tap_for_tap(bins_per_octave, harmonic, gamma,
                                            normalize):
  """Our numpy filters are librosa.filters.wavelet's, bit for bit."""
  from mpe_jax.features import wavelets  # pylint: disable=g-import-not-at-top
  cfg = H.HCQTConfig(bins_per_octave=bins_per_octave,
                     n_bins=4 * bins_per_octave)
  freqs = cfg.bin_frequencies(harmonic)
  alpha = H._relative_bandwidth(cfg)
  ours = wavelets.hann_wavelets(freqs, SR, alpha, gamma,
                                l1_normalize=normalize)
  theirs, lengths = librosa.filters.wavelet(
      freqs=freqs, sr=SR, window='hann', filter_scale=1, pad_fft=False,
      norm=1 if normalize else None, gamma=gamma, alpha=alpha,
      dtype=np.complex128)
  np.testing.assert_array_equal(ours, theirs)
  np.testing.assert_allclose(
      wavelets.filter_lengths(freqs, SR, alpha, gamma), lengths, rtol=1e-15)
  assert wavelets.HANN_BANDWIDTH == librosa.filters.window_bandwidth('hann')
  with pytest.raises(ValueError, match='gamma'):
    wavelets.filter_lengths(freqs, SR, alpha, -1.0)
  with pytest.raises(ValueError, match='> 0 Hz'):
    wavelets.filter_lengths(np.array([0.0, 1.0]), SR, alpha, None)


def test_model_path_does_not_import_librosa():
  """Training and inference import neither librosa nor numba (so an
  accelerator image needs neither); data loaders import them when used."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  code = ('import sys, mpe_jax.main, mpe_jax.train, mpe_jax.inference; '
          'print(sorted(m for m in ("librosa", "numba") if m in sys.modules))')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                       text=True, check=True, timeout=300)
  assert out.stdout.strip().splitlines()[-1] == '[]', out.stdout
