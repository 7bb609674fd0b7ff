import numpy as np
import pytest

from spikebridge.decoders.subset import SubsetDecoder
from spikebridge.exceptions import DataFormatError
from tests.experiments.toy import toy_decoder


def test_subset_reads_only_its_neurons():
    inner = toy_decoder()
    wrapped = SubsetDecoder(inner, [2], n_generated=4)
    rng = np.random.default_rng(0)
    spikes = (rng.random((50, 4)) < 0.5).astype(np.uint8)
    np.testing.assert_array_equal(wrapped.predict(spikes), inner.predict(spikes[:, [2]]))
    assert (wrapped.n_neurons, wrapped.history_bins, wrapped.n_classes) == (4, inner.history_bins, inner.n_classes)


@pytest.mark.parametrize("indices, n", [([0, 1], 4), ([5], 4), ([-1], 4)])
def test_subset_validates(indices, n):
    with pytest.raises(DataFormatError):
        SubsetDecoder(toy_decoder(), indices, n)
