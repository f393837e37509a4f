"""The floor every model must beat: rank tags by their training frequency, the same for every text.

This is the TagFinder study's "random" model (per-tag Bernoulli with the training frequency) used
as a ranking: its scores do not depend on the text. Equal frequencies are ranked by lower tag index.
"""

from __future__ import annotations

import numpy as np

from ._base import BaseTagger, saved_array


class FrequencyTagger(BaseTagger):
    """Scores every text with the training frequency of each tag (``frequencies_``)."""

    def __init__(self):
        pass

    def uses_validation(self) -> bool:
        return False  # the frequencies are counted on the training rows only

    def _fit(self, texts, Y, texts_val, Y_val):
        self.frequencies_ = Y.mean(axis=0).astype(float)

    def _predict(self, texts):
        return np.tile(self.frequencies_, (len(texts), 1))

    def _get_state(self):
        return {}, {"frequencies": self.frequencies_}

    def _set_state(self, state, arrays, where):
        self.frequencies_ = saved_array(arrays, "frequencies", (self.n_labels_,), where).astype(float)
