"""Peak picking with temporal hysteresis (``evaluation.peaks.PeakDecoder``):
its decisions, and the same decisions block by block as whole."""

import numpy as np
import pytest

from mpe_jax import outputs
from mpe_jax.evaluation import peaks


def _track(k_bins, t_frames, values, shape=(40, 30)):
  """A salience-gram with one peak track: ``values[i]`` at bin
  ``k_bins[i]`` of frame ``t_frames[i]`` (neighbours at half)."""
  s = np.zeros(shape, np.float32)
  for k, t, v in zip(k_bins, t_frames, values):
    s[k, t] = max(s[k, t], v)
    s[k - 1, t] = max(s[k - 1, t], v / 2)
    s[k + 1, t] = max(s[k + 1, t], v / 2)
  return s


def test_a_track_reaching_the_threshold_continues_down_to_low():
  # A fading note: 0.8 at the start, down to 0.25 (gliding one bin).
  values = np.linspace(0.8, 0.25, 12)
  bins = [10] * 6 + [11] * 6
  s = _track(bins, range(2, 14), values)
  plain = peaks.decode(s, 0.5)
  hyst = peaks.decode(s, 0.5, 0.2)
  assert plain.sum() == int((values >= 0.5).sum())
  assert hyst.sum() == 12  # the whole note
  assert hyst[bins, range(2, 14)].all()


def test_a_track_below_the_threshold_is_dropped():
  s = _track([20] * 10, range(5, 15), [0.4] * 10)
  assert not peaks.decode(s, 0.5, 0.2).any()
  assert peaks.decode(s, 0.35).sum() == 10  # a lower threshold keeps it


@pytest.mark.parametrize('block', [1, 3, 7, 30])
def test_blocks_decide_as_the_whole(block):
  rng = np.random.default_rng(0)
  s = rng.uniform(0.0, 0.7, (40, 300)).astype(np.float32)
  whole = peaks.decode(s, 0.6, 0.3)
  decoder = peaks.PeakDecoder(0.6, 0.3)
  parts = []
  for i in range(0, s.shape[1], block):
    parts += decoder.push(s[:, i:i + block])
  parts += decoder.finish()
  np.testing.assert_array_equal(np.concatenate([p for p, _ in parts], -1), s)
  np.testing.assert_array_equal(np.concatenate([m for _, m in parts], -1),
                                whole)


def test_frames_wait_only_while_a_track_is_undecided():
  decoder = peaks.PeakDecoder(0.5, 0.2)
  low = _track([10] * 5, range(0, 5), [0.3] * 5, shape=(40, 5))
  assert decoder.push(low) == []  # still rising? not decided
  high = _track([10] * 5, range(0, 5), [0.6] * 5, shape=(40, 5))
  (block, active), = decoder.push(high)  # it reached 0.5: all decided
  assert block.shape[-1] == 10 and active[10].all()
  capped = peaks.PeakDecoder(0.5, 0.2, max_pending=4)
  capped.push(low)
  (_, active), = capped.push(low)  # waited over 4 frames: dropped
  assert not active.any()


def test_bad_continuation_threshold_raises():
  with pytest.raises(ValueError, match=r'must lie in \(0, threshold=0.5\)'):
    peaks.PeakDecoder(0.5, 0.6)


def test_writers_with_hysteresis_write_every_frame(tmp_path):
  rng = np.random.default_rng(1)
  s = rng.uniform(0.0, 0.7, (40, 50)).astype(np.float32)
  freqs = 110.0 * 2.0 ** (np.arange(40) / 12)
  writers = outputs.Writers(str(tmp_path / 'x'), ('txt',), freqs, 0.01, 50,
                            threshold=0.6, continue_threshold=0.3)
  for i in range(0, 50, 8):
    writers.add(i, s[:, i:i + 8])
  writers.commit()
  lines = (tmp_path / 'x.multipitch.txt').read_text().splitlines()
  whole = peaks.decode(s, 0.6, 0.3)
  assert len(lines) == 50
  assert [len(line.split('\t')) - 1 for line in lines] == list(
      whole.sum(axis=0))
