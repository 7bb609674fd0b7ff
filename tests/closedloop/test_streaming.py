"""StreamingGenerator against the offline StagedPointProcess: features, probabilities and spikes."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikebridge.closedloop import StreamingGenerator
from spikebridge.exceptions import DataFormatError, NotFittedError
from spikebridge.features.history import last_spikes_exponential
from spikebridge.models.generator import BernoulliGLM, NumpyNetwork, StagedPointProcess
from spikebridge.models.network import PointProcessNetwork
from spikebridge.models.numpy_network import _exact_round32
from spikebridge.simulate import simulate_lever_task

# only for comparisons with torch, which accumulates in float32 and has its own exp; the streamed and
# offline probabilities are compared with np.array_equal
RTOL, ATOL = 1e-5, 1e-7


@pytest.fixture(scope="module")
def lever_upstream():
    subject = simulate_lever_task(n_trials=12, n_upstream=17, n_downstream=4, seed=3)
    return subject.recording.upstream_spikes


def stream_bins(stream, upstream):
    spikes, probabilities, features = [], [], []
    for row in upstream:
        spikes.append(stream.step(row))
        probabilities.append(stream.last_probabilities)
        features.append(stream.current_features)
    return np.array(spikes), np.array(probabilities), np.array(features)


@pytest.mark.parametrize("n_outputs, n_hidden", [(2, 64), (15, 64), (3, 0)])
def test_step_matches_offline_on_simulated_lever(lever_upstream, n_outputs, n_hidden):
    model_cls = BernoulliGLM if n_hidden == 0 else StagedPointProcess
    kwargs = {} if n_hidden == 0 else {"n_hidden": n_hidden}
    model = model_cls(n_outputs=n_outputs, random_state=1, **kwargs).initialize(17, 0.01)
    stream = StreamingGenerator.from_model(model, rng=np.random.default_rng(11))
    spikes, p, features = stream_bins(stream, lever_upstream)
    assert np.array_equal(features, model.features(lever_upstream))  # incremental ages: bit-identical
    assert stream._table32[-1] == 0  # every older age (and a spike that has not happened) reads 0
    assert np.array_equal(p, model.predict_proba(lever_upstream))  # the same bits
    assert np.array_equal(spikes, model.sample(lever_upstream, np.random.default_rng(11)))
    assert spikes.dtype == np.uint8 and stream.n_bins_seen == len(lever_upstream)


def test_run_equals_step_for_any_chunking(lever_upstream):
    model = StagedPointProcess(n_outputs=4, n_hidden=16, random_state=2).initialize(17, 0.01)
    stepped = StreamingGenerator.from_model(model, rng=np.random.default_rng(5))
    spikes, p, _ = stream_bins(stepped, lever_upstream)
    chunked = StreamingGenerator.from_model(model, rng=np.random.default_rng(5))
    n = len(lever_upstream)
    cuts = [0, 1, 2, 37, 38, 500, n // 2, n - 1, n]
    assert n > 1000
    out, probs = zip(*(chunked.run(lever_upstream[a:b], return_probabilities=True)
                       for a, b in zip(cuts, cuts[1:])))
    assert np.array_equal(np.concatenate(out), spikes)
    assert np.array_equal(np.concatenate(probs), p)  # exact pre-activations: independent of the chunking
    assert np.array_equal(chunked.current_features, stepped.current_features)
    assert np.array_equal(chunked.last_probabilities, stepped.last_probabilities)


@settings(max_examples=40, deadline=None)
@given(
    upstream=arrays(np.uint8, st.tuples(st.integers(1, 60), st.just(3)), elements=st.integers(0, 2)),
    n_spikes=st.integers(1, 4),
    time_constant=st.sampled_from([1.0, 3.7, 150.0]),
    cut=st.integers(0, 60),
)
def test_incremental_features_equal_offline(upstream, n_spikes, time_constant, cut):
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(3 * n_spikes, 5)), rng.normal(size=5)
    w2, b2 = rng.normal(size=(5, 2)), rng.normal(size=2)
    stream = StreamingGenerator(w1, b1, w2, b2, n_spikes=n_spikes, time_constant=time_constant,
                                rng=np.random.default_rng(1))
    expected = last_spikes_exponential(upstream, n_spikes=n_spikes, time_constant=time_constant)
    cut = min(cut, len(upstream))
    got = []
    for row in upstream[:cut]:
        stream.step(row)
        got.append(stream.current_features)
    if cut < len(upstream):
        stream.run(upstream[cut:])
    assert np.array_equal(stream.current_features, expected[-1])
    if got:
        assert np.array_equal(np.array(got), expected[:cut])


@pytest.mark.skipif(not hasattr(PointProcessNetwork, "standardize_inputs"),
                    reason="this PointProcessNetwork does not standardise its inputs")
def test_stream_applies_the_networks_input_standardisation(lever_upstream):
    model = StagedPointProcess(n_outputs=3, n_hidden=16, random_state=4).initialize(17, 0.01)
    model.network_.standardize_inputs(torch.from_numpy(model.features(lever_upstream[:2000])))
    stream = StreamingGenerator.from_model(model, rng=np.random.default_rng(8))
    spikes, p, _ = stream_bins(stream, lever_upstream)
    assert stream.network.input_mean is not None  # the standardisation is really applied
    assert np.array_equal(p, model.predict_proba(lever_upstream))
    assert np.array_equal(spikes, model.sample(lever_upstream, np.random.default_rng(8)))


def test_raw_standardisation_matches_a_torch_reference(lever_upstream):
    rng = np.random.default_rng(3)
    w1, b1 = rng.normal(size=(85, 8)).astype(np.float32), rng.normal(size=8).astype(np.float32)
    w2, b2 = rng.normal(size=(8, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    mean, scale = rng.random(85).astype(np.float32), (0.5 + rng.random(85)).astype(np.float32)
    stream = StreamingGenerator(w1, b1, w2, b2, rng=np.random.default_rng(0), input_mean=mean,
                                input_scale=scale)
    _, p = stream.run(lever_upstream, return_probabilities=True)
    features = torch.from_numpy(last_spikes_exponential(lever_upstream))
    x = (features - torch.from_numpy(mean)) / torch.from_numpy(scale)
    h = torch.sigmoid(x @ torch.from_numpy(w1) + torch.from_numpy(b1))
    expected = torch.sigmoid(h @ torch.from_numpy(w2) + torch.from_numpy(b2)).double().numpy()
    np.testing.assert_allclose(p, expected, rtol=RTOL, atol=ATOL)  # float32 rounding of torch's network
    offline = NumpyNetwork(w1, b1, w2, b2, input_mean=mean, input_scale=scale)
    assert np.array_equal(p, offline.probabilities(last_spikes_exponential(lever_upstream)))
    with pytest.raises(ValueError, match="non-zero"):
        StreamingGenerator(w1, b1, w2, b2, rng=np.random.default_rng(0), input_scale=np.zeros(85))


def test_reset_forgets_history_but_not_the_rng(lever_upstream):
    model = StagedPointProcess(n_outputs=2, n_hidden=8, random_state=0).initialize(17, 0.01)
    stream = StreamingGenerator.from_model(model, rng=np.random.default_rng(0))
    stream.run(lever_upstream[:300])
    stream.reset()
    assert stream.n_bins_seen == 0 and stream.last_probabilities is None
    assert not stream.current_features.any()
    _, p = stream.run(lever_upstream[:50], return_probabilities=True)
    assert np.array_equal(p, model.predict_proba(lever_upstream[:50]))


def test_raw_weights_constructor_accepts_replica_axis():
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(1, 10, 4)), rng.normal(size=(1, 1, 4))
    w2, b2 = rng.normal(size=(1, 4, 2)), np.zeros((1, 1, 2))
    stream = StreamingGenerator(w1, b1, w2, b2, n_spikes=5, rng=np.random.default_rng(0), bin_size=0.01)
    assert (stream.n_upstream, stream.n_hidden, stream.n_outputs, stream.bin_size) == (2, 4, 2, 0.01)
    assert stream.step(np.array([True, False])).shape == (2,)


def test_saturated_logits_give_probability_zero_without_warnings():
    w2, b2 = np.zeros((5, 2)), np.array([-200.0, 200.0])
    stream = StreamingGenerator(None, None, w2, b2, n_spikes=5, rng=np.random.default_rng(0))
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        assert stream.step(np.array([1])).tolist() == [0, 1]
        assert stream.run(np.ones((3, 1))).tolist() == [[0, 1]] * 3
    assert stream.last_probabilities.tolist() == [0.0, 1.0]


@pytest.mark.parametrize("bad, error, match", [
    (np.array([1, 0]), DataFormatError, r"shape \(3,\)"),
    (np.array([[1, 0, 0]]), DataFormatError, "Use `run`"),
    (np.array([1, -1, 0]), DataFormatError, ">= 0"),
    (np.array([0.5, 0, 0]), DataFormatError, "whole spike counts"),
    (np.array([np.nan, 0, 0]), DataFormatError, "whole spike counts"),
    (np.array(["1", "0", "0"]), TypeError, "numeric"),
])
def test_step_validates_one_bin(bad, error, match):
    model = StagedPointProcess(n_outputs=2, n_hidden=4, random_state=0).initialize(3, 0.01)
    stream = StreamingGenerator.from_model(model, rng=np.random.default_rng(0))
    with pytest.raises(error, match=match):
        stream.step(bad)
    with pytest.raises(DataFormatError, match="3 upstream neurons"):
        stream.run(np.zeros((4, 2)))
    assert stream.n_bins_seen == 0


def test_constructor_errors():
    with pytest.raises(TypeError, match="numpy Generator"):
        StreamingGenerator(None, None, np.zeros((5, 1)), np.zeros(1), rng=0)
    with pytest.raises(NotFittedError, match="initialize"):
        StreamingGenerator.from_model(StagedPointProcess(), rng=np.random.default_rng(0))
    with pytest.raises(DataFormatError, match="multiple of n_spikes=5"):
        StreamingGenerator(None, None, np.zeros((7, 1)), np.zeros(1), rng=np.random.default_rng(0))
    with pytest.raises(DataFormatError, match="one row per hidden unit"):
        StreamingGenerator(np.zeros((5, 3)), np.zeros(3), np.zeros((4, 1)), np.zeros(1),
                           rng=np.random.default_rng(0))
    with pytest.raises(DataFormatError, match="must hold 1 values"):
        StreamingGenerator(None, None, np.zeros((5, 1)), np.zeros(2), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="both `w1` and `b1`"):
        StreamingGenerator(np.zeros((5, 3)), None, np.zeros((3, 1)), np.zeros(1),
                           rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="finite"):
        StreamingGenerator(None, None, np.full((5, 1), np.nan), np.zeros(1), rng=np.random.default_rng(0))


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("n_outputs", [2, 15])
def test_rat01_stream_matches_offline(rlpp_dir, n_outputs):
    from spikebridge.data import load_rlpp_mat

    upstream = load_rlpp_mat(rlpp_dir / "rat01.mat").upstream_spikes
    assert upstream.shape[1] == 17
    model = StagedPointProcess(n_outputs=n_outputs, random_state=0).initialize(17, 0.01)
    p_offline = model.predict_proba(upstream)
    features_offline = model.features(upstream)
    stream = StreamingGenerator.from_model(model, rng=np.random.default_rng(21))
    n_step = 3000  # bin by bin for the start, then the rest as one chunk, continuing the state
    spikes, p, features = stream_bins(stream, upstream[:n_step])
    rest, p_rest = stream.run(upstream[n_step:], return_probabilities=True)
    assert np.array_equal(features, features_offline[:n_step])
    assert np.array_equal(stream.current_features, features_offline[-1])
    assert np.array_equal(np.concatenate([p, p_rest]), p_offline)
    assert np.array_equal(np.concatenate([spikes, rest]), model.sample(upstream, np.random.default_rng(21)))


# ---------------------------------------------------------------------- the shared exact forward pass
def random_network(rng, n_features=20, n_hidden=6, n_outputs=3, scale=1.0):
    w1 = (rng.normal(size=(n_features, n_hidden)) * scale).astype(np.float32)
    b1 = rng.normal(size=n_hidden).astype(np.float32)
    w2 = rng.normal(size=(n_hidden, n_outputs)).astype(np.float32)
    return NumpyNetwork(w1, b1, w2, rng.normal(size=n_outputs).astype(np.float32))


def test_numpy_network_rows_do_not_depend_on_the_batch():
    rng = np.random.default_rng(0)
    network = random_network(rng)
    features = rng.random((300, 20)).astype(np.float32)
    p = network.probabilities(features)
    one_by_one = np.concatenate([network.probabilities(row[None]) for row in features])
    assert np.array_equal(p, one_by_one)
    order = rng.permutation(300)
    assert np.array_equal(network.probabilities(features[order]), p[order])
    columns = rng.permutation(20)
    assert np.array_equal(network.reorder_inputs(columns).probabilities(features[:, columns]), p)


def test_exact_settling_gives_the_same_bits_as_the_certified_rounding():
    rng = np.random.default_rng(1)
    network = random_network(rng, scale=3.0)
    features = rng.random((200, 20)).astype(np.float32)
    p = network.probabilities(features)
    unbounded = NumpyNetwork.__new__(NumpyNetwork)
    unbounded.__dict__.update(network.__dict__)  # the same weights, but nothing passes the certificate
    brackets = [layer.bracket.copy() for layer in network.layers]
    for bracket in brackets:  # z - inf and z + inf: the certificate never holds
        n_units = bracket.shape[1] // 2
        bracket[-1, :n_units], bracket[-1, n_units:] = -np.inf, np.inf
    unbounded.layers = tuple(layer._replace(bracket=b) for layer, b in zip(network.layers, brackets))
    unbounded.n_exact = 0
    assert np.array_equal(unbounded.probabilities(features), p)
    assert unbounded.n_exact == 200 * (6 + 3)


def test_exact_round32_settles_float32_ties_with_the_exact_sum():
    ones = np.ones(3)
    # 1 + 2**-24 is halfway between float32 1 and 1 + 2**-23; the 2**-70 left out by float64 decides
    assert _exact_round32(ones, np.array([1.0, 2.0**-24, 2.0**-70]), 0.0) == np.float32(1 + 2.0**-23)
    assert _exact_round32(ones, np.array([1.0, 2.0**-24, -(2.0**-70)]), 0.0) == np.float32(1.0)
    assert _exact_round32(ones, -np.array([1.0, 2.0**-24, 2.0**-70]), 0.0) == np.float32(-1 - 2.0**-23)
    assert _exact_round32(ones, np.array([1.0, 2.0**-24, 0.0]), 0.0) == np.float32(1.0)  # a true tie: even


@settings(max_examples=200, deadline=None)
@given(inputs=arrays(np.float32, 6, elements=st.floats(0, 1, width=32)),
       weights=arrays(np.float32, 6, elements=st.floats(-1e3, 1e3, width=32)),
       bias=st.floats(-1e3, 1e3, width=32))
def test_exact_round32_is_the_nearest_float32(inputs, weights, bias):
    from fractions import Fraction

    got = _exact_round32(inputs.astype(np.float64), weights.astype(np.float64), bias)
    exact = sum((Fraction(float(x)) * Fraction(float(w)) for x, w in zip(inputs, weights)), Fraction(bias))
    below, above = np.nextafter(got, np.float32(-np.inf)), np.nextafter(got, np.float32(np.inf))
    error = abs(Fraction(float(got)) - exact)
    assert error <= abs(Fraction(float(below)) - exact) and error <= abs(Fraction(float(above)) - exact)


def test_numpy_network_validates_features():
    network = random_network(np.random.default_rng(0))
    with pytest.raises(DataFormatError, match=r"float32 matrix of shape \(n_rows, 20\)"):
        network.probabilities(np.zeros((3, 19), np.float32))
    with pytest.raises(DataFormatError, match="float32"):
        network.probabilities(np.zeros((3, 20)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        network.probabilities(np.full((3, 20), 2.0, np.float32))


def test_long_time_constant_streams_without_a_table(lever_upstream):
    model = BernoulliGLM(n_outputs=2, time_constant=30_000.0, random_state=0).initialize(17, 0.01)
    stream = StreamingGenerator.from_model(model, rng=np.random.default_rng(3))
    assert stream._table32 is None  # exp per bin instead of a 3-million-bin table
    spikes, p, features = stream_bins(stream, lever_upstream[:400])
    assert np.array_equal(features, model.features(lever_upstream[:400]))
    assert np.array_equal(p, model.predict_proba(lever_upstream[:400]))
    assert np.array_equal(spikes, model.sample(lever_upstream[:400], np.random.default_rng(3)))
