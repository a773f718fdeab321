"""Which recorded instruments may be heard in training and which only in
the test split.

Per family at least one real instrument is held out, and one piano
library, so that ``realsamples_test`` measures timbres no train or valid
track has:

* strings: ``viola`` (a bowed string between the violin and the cello that
  stay in: the same playing, an unheard body) and ``banjo`` (a plucked
  string; guitar and mandolin stay in);
* woodwind: ``oboe`` (a double reed; cor anglais, bassoon and contrabassoon
  stay in) and ``bass clarinet`` (clarinet stays in);
* brass: ``french horn`` (trumpet, trombone and tuba stay in);
* keyboard: the ``salamander`` grand piano (the SFZ pianos stay in).

Train and valid draw from every other instrument; the valid split keeps
apart by its pieces (no train track plays them), not by its instruments.
"""

from __future__ import annotations

from typing import Iterable

from data_pipelines.real_samples import library

HELD_OUT_INSTRUMENTS = {
    'philharmonia': ('viola', 'banjo', 'oboe', 'bass clarinet',
                     'french horn'),
}
HELD_OUT_LIBRARIES = ('salamander',)


def held_out(sample: library.Sample) -> bool:
  """The sample belongs to the test split only."""
  return (sample.library in HELD_OUT_LIBRARIES or sample.instrument in
          HELD_OUT_INSTRUMENTS.get(sample.library, ()))


def split_samples(samples: Iterable[library.Sample]
                  ) -> dict[str, list[library.Sample]]:
  """``{'train_valid': [...], 'test': [...]}`` by ``held_out``."""
  out: dict[str, list[library.Sample]] = {'train_valid': [], 'test': []}
  for sample in samples:
    out['test' if held_out(sample) else 'train_valid'].append(sample)
  return out
