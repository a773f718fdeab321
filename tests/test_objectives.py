"""Each loss against hand-computed values on tiny inputs."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mpe_jax.objectives import combine, consistency, energy, reductions
from mpe_jax.objectives import salience

# One item, K = 2 bins, T = 2 frames.
LOGITS = jnp.asarray([[[0.0, 2.0], [-1.0, 0.5]]])
Y = 1 / (1 + np.exp(-np.asarray(LOGITS, np.float64)))  # sigmoid


def _reduce(m):  # sum over K, mean over T and B
  return float(np.mean(np.sum(m, axis=-2)))


def test_bce_matches_formula():
  t = jnp.asarray([[[0.5, 1.0], [0.0, 0.25]]])
  got = np.asarray(reductions.bce_with_logits(LOGITS, t))
  want = -(np.asarray(t) * np.log(Y) + (1 - np.asarray(t)) * np.log(1 - Y))
  np.testing.assert_allclose(got, want, rtol=1e-6)
  assert float(reductions.bce_with_logits(jnp.zeros(()), 0.5)) == (
      pytest.approx(math.log(2)))


def test_support_harmonic_sparsity_energy_by_hand():
  db1 = np.asarray([[[0.2, 1.0], [0.6, 0.0]]])
  dbh = np.asarray([[[0.9, 0.1], [0.0, 0.5]]])
  assert float(energy.support_loss(LOGITS, jnp.asarray(db1))) == pytest.approx(
      _reduce(-(1 - db1) * np.log(1 - Y)), rel=1e-6)
  assert float(energy.harmonic_loss(LOGITS, jnp.asarray(dbh))) == (
      pytest.approx(_reduce(-dbh * np.log(Y)), rel=1e-6))
  assert float(energy.sparsity_loss(LOGITS)) == pytest.approx(_reduce(Y),
                                                              rel=1e-6)
  assert float(energy.energy_loss(LOGITS, jnp.asarray(dbh))) == pytest.approx(
      _reduce(-(dbh * np.log(Y) + (1 - dbh) * np.log(1 - Y))), rel=1e-6)
  # Concretely: sparsity = mean over frames of (s(0) + s(-1), s(2) + s(.5)).
  s = lambda v: 1 / (1 + math.exp(-v))
  assert float(energy.sparsity_loss(LOGITS)) == pytest.approx(
      (s(0) + s(-1) + s(2) + s(0.5)) / 2, rel=1e-6)


def test_consistency_loss_and_stop_gradient():
  other = jnp.asarray([[[1.0, -2.0], [0.0, 3.0]]])
  target = consistency.target_salience(LOGITS, stop_gradient=False)
  want = _reduce(-(Y * np.log(1 / (1 + np.exp(-np.asarray(other))))
                   + (1 - Y) * np.log(1 - 1 / (1 + np.exp(-np.asarray(other))))))
  assert float(consistency.consistency_loss(other, target)) == pytest.approx(
      want, rel=1e-6)

  def loss(logits, stop):
    t = consistency.target_salience(logits, stop_gradient=stop)
    return consistency.consistency_loss(other, t)

  assert float(jnp.abs(jax.grad(loss)(LOGITS, False)).sum()) > 0
  assert float(jnp.abs(jax.grad(loss)(LOGITS, True)).sum()) == 0


def test_item_mask_selects_items_exactly():
  m = jnp.asarray(np.random.default_rng(0).random((3, 4, 5)), jnp.float32)
  per_item = np.asarray(m).sum(axis=1).mean(axis=1)
  mask = jnp.asarray([1, 0, 1])
  assert float(reductions.reduce_map(m, mask)) == pytest.approx(
      (per_item[0] + per_item[2]) / 2, rel=1e-6)
  assert float(reductions.reduce_map(m, jnp.zeros(3))) == 0.0
  # Changing a masked-out item changes nothing.
  m2 = m.at[1].set(100.0)
  assert float(reductions.reduce_map(m2, mask)) == float(
      reductions.reduce_map(m, mask))


def test_combine_applies_weights():
  parts = {'a': jnp.asarray(2.0), 'b': jnp.asarray(3.0), 'c': jnp.asarray(7.0)}
  total, out = combine.combine(parts, {'a': 1.0, 'b': 0.5, 'c': 0.0})
  assert float(total) == pytest.approx(3.5)
  assert set(out) == {'a', 'b', 'c'}


def test_unknown_or_missing_loss_term_is_a_clear_error():
  weights = {t: 0.0 for t in salience.TERMS}
  with pytest.raises(ValueError, match=r"unknown terms \['harmonc'\]"):
    salience.enabled_terms({**weights, 'harmonc': 1.0})
  with pytest.raises(ValueError, match=r"missing \['timbre'\]"):
    salience.enabled_terms({k: v for k, v in weights.items() if k != 'timbre'})
  assert salience.enabled_terms({**weights, 'harmonic': 1.0}) == ('harmonic',)
