"""Save, load and build decoders: one ``.npz`` per decoder, and one string spec for the CLI and configs."""

from __future__ import annotations

import json
import numbers
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from spikebridge._io import atomic_save_npz
from spikebridge._validation import check_positive_int
from spikebridge.decoders.base import SpikeDecoder
from spikebridge.decoders.continuous import ContinuousDecoder, KalmanDecoder, WienerDecoder
from spikebridge.decoders.fitted import WindowClassifierDecoder
from spikebridge.decoders.manual import HandDesignedDecoder
from spikebridge.decoders.patternnet import WindowMLPDecoder, load_patternnet_decoder
from spikebridge.decoders.ranking import rank_neurons_by_information
from spikebridge.exceptions import DataFormatError, NotFittedError

if TYPE_CHECKING:
    from spikebridge.data.recording import Recording

__all__ = ["save_decoder", "load_decoder", "decoder_from_spec", "DECODER_SPECS"]

Decoder = Union[SpikeDecoder, ContinuousDecoder]

_FORMAT = "spikebridge-decoder"
_VERSION = 1
DECODER_SPECS = ("<file>.mat", "<file>.npz", "manual", "fit:mlp", "fit:logistic", "fit:wiener", "fit:kalman",
                 "fit:KIND:history=SECONDS[,hidden=UNITS]")
"""The forms :func:`decoder_from_spec` accepts."""

# kind -> (class, constructor arguments, fitted scalars, fitted arrays); WindowMLPDecoder is special.
_FIELDS: dict[str, tuple[type, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "window_classifier": (
        WindowClassifierDecoder,
        ("kind", "n_hidden", "history_seconds", "l2_strength", "max_iterations", "random_state"),
        ("history_bins_", "n_neurons_", "n_classes_", "n_iterations_", "loss_"), (),
    ),
    "hand_designed": (
        HandDesignedDecoder,
        ("window_seconds", "bin_size", "window_bins", "rest_score", "pairs", "n_neurons"),
        (), (),
    ),
    "wiener": (
        WienerDecoder, ("history_seconds", "l2_strength"), ("history_bins_", "n_neurons_", "n_outputs_"),
        ("coef_", "intercept_"),
    ),
    "kalman": (
        KalmanDecoder, ("step_seconds", "impulse_tolerance", "max_history_seconds"),
        ("step_bins_", "history_bins_", "n_neurons_", "n_outputs_"),
        ("coef_", "intercept_", "transition_", "transition_noise_", "observation_", "observation_offset_",
         "observation_noise_", "gain_"),
    ),
}


def _kind_of(decoder: object) -> str:
    # Exact types: a subclass may add state this format does not know about.
    if type(decoder) is WindowMLPDecoder:
        return "window_mlp"
    for kind, (cls, *_rest) in _FIELDS.items():
        if type(decoder) is cls:
            return kind
    known = ", ".join(["WindowMLPDecoder"] + [fields[0].__name__ for fields in _FIELDS.values()])
    raise TypeError(f"save_decoder can save {known}; got an object of type {type(decoder).__name__}.")


def save_decoder(
    decoder: Decoder, path: str | os.PathLike[str], *, neurons_read: Sequence[int] | None = None
) -> Path:
    """Save a decoder to one ``.npz`` file (arrays plus a JSON metadata string), atomically.

    Parameters
    ----------
    decoder :
        A :class:`WindowMLPDecoder`, fitted :class:`WindowClassifierDecoder`, :class:`HandDesignedDecoder`,
        fitted :class:`WienerDecoder` or fitted :class:`KalmanDecoder`.
    path :
        Destination, written exactly there (no suffix added); replaced if it exists.
    neurons_read :
        Optionally, the 0-based recorded neurons the decoder reads, in its input order; stored in the
        metadata and returned by :func:`decoder_from_spec`.

    Returns
    -------
    path :
        The destination as a :class:`~pathlib.Path`.

    Raises
    ------
    TypeError
        For any other decoder type.
    spikebridge.exceptions.NotFittedError
        If the decoder is not fitted.

    Notes
    -----
    A ``random_state`` that is a ``np.random.Generator`` is stored as None (only an int seed is JSON).
    The file loads with ``allow_pickle=False``.
    """
    kind = _kind_of(decoder)
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"format": _FORMAT, "version": _VERSION, "kind": kind, "params": {}, "fitted": {}}
    if neurons_read is not None:
        meta["neurons_read"] = [int(i) for i in neurons_read]
    if kind == "window_mlp":
        arrays.update(decoder.folded_parameters())  # type: ignore[union-attr]
        meta["params"]["n_neurons"] = int(decoder.n_neurons)
    else:
        _cls, params, scalars, array_names = _FIELDS[kind]
        if scalars and not hasattr(decoder, scalars[0]):
            raise NotFittedError(f"This {type(decoder).__name__} is not fitted yet; fit it before saving.")
        for name in params:
            value = getattr(decoder, name)
            meta["params"][name] = None if isinstance(value, np.random.Generator) else _to_json(value)
        for name in scalars:
            meta["fitted"][name] = _to_json(getattr(decoder, name))
        for name in array_names:
            arrays[name] = np.asarray(getattr(decoder, name))
        if kind == "window_classifier":
            layers = list(zip(decoder.coefs_, decoder.intercepts_))  # type: ignore[union-attr]
            for i, (coef, intercept) in enumerate(layers):
                arrays[f"coefs_{i}"], arrays[f"intercepts_{i}"] = coef, intercept
            meta["fitted"]["n_layers"] = len(layers)
    return atomic_save_npz(path, metadata=np.array(json.dumps(meta)), **arrays)


def _to_json(value: Any) -> Any:
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


def load_decoder(path: str | os.PathLike[str]) -> Decoder:
    """Load a decoder saved by :func:`save_decoder`; its predictions are identical to the saved one's.

    Parameters
    ----------
    path :
        A ``.npz`` file written by :func:`save_decoder`.

    Returns
    -------
    decoder :
        The decoder, of the class it was saved as.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    spikebridge.exceptions.DataFormatError
        If the file is not a decoder file of a known kind and version.
    """
    return _load(path)[0]


def _load(path: str | os.PathLike[str]) -> tuple[Decoder, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Decoder file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise DataFormatError(f"Could not read {path} as a .npz decoder file: {err}") from err
    if "metadata" not in arrays:
        raise DataFormatError(f"{path} has no `metadata` entry; it was not written by save_decoder.")
    try:
        meta = json.loads(str(arrays.pop("metadata")))
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}: the decoder metadata is not valid JSON ({err}).") from err
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise DataFormatError(f"{path} is not a spikebridge decoder file (metadata format {meta!r:.80}).")
    if meta.get("version") != _VERSION:
        raise DataFormatError(
            f"{path} has decoder file version {meta.get('version')!r}; this spikebridge reads version "
            f"{_VERSION}. Re-save it with a matching spikebridge."
        )
    kind = meta.get("kind")
    try:
        decoder = _rebuild(kind, meta, arrays)
    except KeyError as err:
        raise DataFormatError(f"{path}: decoder of kind {kind!r} is missing {err}.") from err
    return decoder, meta


def _rebuild(kind: object, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Decoder:
    params, fitted = meta["params"], meta["fitted"]
    if kind == "window_mlp":
        return WindowMLPDecoder(
            arrays["input_weights"], arrays["input_bias"], arrays["output_weights"], arrays["output_bias"],
            n_neurons=int(params["n_neurons"]),
        )
    if kind not in _FIELDS:
        known = ", ".join(["window_mlp", *_FIELDS])
        raise DataFormatError(f"Unknown decoder kind {kind!r} in the file; known kinds: {known}.")
    cls, param_names, scalars, array_names = _FIELDS[str(kind)]
    values = {name: params[name] for name in param_names}
    if kind == "hand_designed":
        values["pairs"] = tuple(tuple(pair) for pair in values["pairs"])
    decoder = cls(**values)
    if not scalars:
        return decoder
    for name in scalars:
        setattr(decoder, name, fitted[name])
    for name in array_names:
        setattr(decoder, name, arrays[name])
    if kind == "window_classifier":
        n_layers = int(fitted["n_layers"])
        decoder.coefs_ = [arrays[f"coefs_{i}"] for i in range(n_layers)]
        decoder.intercepts_ = [arrays[f"intercepts_{i}"] for i in range(n_layers)]
    decoder._build()
    return decoder


# ---------------------------------------------------------------------- specs
def decoder_from_spec(
    spec: str | os.PathLike[str],
    *,
    recording: Recording | None = None,
    train_trials: Sequence[int] | None = None,
    decoder_neurons: Sequence[int] | None = None,
    n_read: int = 2,
    random_state: int | None = 0,
) -> tuple[Decoder, tuple[int, ...] | None]:
    """Build the decoder a string names: load a file, take the hand-designed one, or fit one.

    Parameters
    ----------
    spec :
        One of :data:`DECODER_SPECS`: a path ending in ``.mat`` (the paper's decoder file, read by
        :func:`load_patternnet_decoder`), a path ending in ``.npz`` (saved by :func:`save_decoder`),
        ``"manual"`` (:class:`HandDesignedDecoder`, the paper's defaults), or ``"fit:mlp"``,
        ``"fit:logistic"`` (a :class:`WindowClassifierDecoder`), ``"fit:wiener"``, ``"fit:kalman"``
        (continuous velocity decoders) fitted to the recording.
    recording :
        Needed by the ``fit:`` specs (with ``downstream_spikes``; ``behavior_continuous`` for wiener and
        kalman). For the others it supplies ``bin_size`` ("manual") and the default ``decoder_neurons``
        of a ``.mat`` decoder.
    train_trials :
        Trial ids the ``fit:`` specs fit (and rank neurons) on; all trials when None. Classifiers fit the
        labelled in-trial bins of these trials; wiener and kalman fit every in-trial bin of these trials
        (the velocity is defined, and mostly zero, outside movements too).
    decoder_neurons :
        0-based recorded downstream neurons the decoder reads, in input order. When None: for
        ``fit:mlp``/``fit:logistic`` the ``n_read`` most informative neurons on the training trials
        (:func:`rank_neurons_by_information`), sorted ascending as in the paper; for wiener/kalman all
        neurons; for a ``.mat`` file ``recording.decoder_neurons``; for a ``.npz`` file the neurons saved
        with it.
    n_read :
        How many top-ranked neurons ``fit:mlp``/``fit:logistic`` read (the paper's ``M1num_pre``).
    random_state :
        Seed of ``fit:mlp``'s initial weights.

    Returns
    -------
    decoder :
        A :class:`SpikeDecoder` (discrete behaviour) or :class:`ContinuousDecoder` (velocity).
    neurons_read :
        The recorded neurons it reads, in its input order, or None when no recorded neurons correspond
        (e.g. "manual" without ``decoder_neurons``: the generator defines what its neurons mean).

    Raises
    ------
    ValueError
        On an unknown spec (the message lists the accepted forms), a ``fit:`` spec without a suitable
        recording, or unknown training trials.
    spikebridge.exceptions.DataFormatError
        If ``decoder_neurons`` does not match the decoder's number of neurons or the recording.

    Examples
    --------
    >>> decoder, neurons = decoder_from_spec("manual")
    >>> decoder.n_neurons, decoder.n_classes, neurons
    (4, 3, None)
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"`spec` must be a string or path; got {spec!r} of type {type(spec).__name__}.")
    text = os.fspath(spec)
    neurons = _check_neurons(decoder_neurons, recording)
    lowered = text.strip().lower()
    decoder: Decoder
    if lowered.endswith(".mat"):
        if neurons is None and recording is not None and recording.decoder_neurons is not None:
            neurons = tuple(recording.decoder_neurons)
        # the file's input size is (history + 1) * n_neurons: the neuron count, when known, fixes the history
        decoder = load_patternnet_decoder(text, n_neurons=None if neurons is None else len(neurons))
    elif lowered.endswith(".npz"):
        decoder, meta = _load(text)
        if neurons is None and meta.get("neurons_read") is not None:
            neurons = tuple(int(i) for i in meta["neurons_read"])
    elif lowered == "manual":
        bin_size = recording.bin_size if recording is not None else 0.01
        decoder = HandDesignedDecoder(bin_size=bin_size)
    elif lowered.startswith("fit:") and lowered.split(":")[1] in ("mlp", "logistic", "wiener", "kalman"):
        kind, options = _parse_fit_spec(lowered)
        return _fit_from_spec(kind, recording, train_trials, neurons, n_read, random_state, options)
    else:
        raise ValueError(
            f"Unknown decoder spec {text!r}. Accepted forms: {', '.join(DECODER_SPECS)} (a path to the "
            "paper's decoder .mat file, a decoder saved with save_decoder, the hand-designed decoder, or a "
            "decoder fitted to the recording's downstream spikes)."
        )
    _check_count(decoder, neurons)
    return decoder, neurons


_FIT_OPTIONS = {"history": ("history_seconds", float), "hidden": ("n_hidden", int)}


def _parse_fit_spec(spec: str) -> tuple[str, dict]:
    """``fit:KIND[:key=value,...]`` -> (KIND, constructor keywords); keys: history (seconds), hidden (units)."""
    parts = spec.split(":", 2)
    kind, options = parts[1], {}
    for item in (parts[2].split(",") if len(parts) > 2 and parts[2] else []):
        key, _, value = item.partition("=")
        if key not in _FIT_OPTIONS or not value:
            raise ValueError(
                f"Unknown option {item!r} in decoder spec {spec!r}; use fit:{kind}:history=SECONDS"
                + (",hidden=UNITS" if kind == "mlp" else "") + "."
            )
        name, cast = _FIT_OPTIONS[key]
        if name == "n_hidden" and kind != "mlp" or name == "history_seconds" and kind == "kalman":
            raise ValueError(f"Option {key!r} does not apply to fit:{kind} (spec {spec!r}).")
        try:
            options[name] = cast(value)
        except ValueError:
            raise ValueError(f"Option {key}={value!r} in {spec!r} is not a {cast.__name__}.") from None
    return kind, options


def _fit_from_spec(
    kind: str, recording: Recording | None, train_trials: Sequence[int] | None,
    neurons: tuple[int, ...] | None, n_read: int, random_state: int | None, options: dict | None = None,
) -> tuple[Decoder, tuple[int, ...]]:
    options = options or {}
    if recording is None or recording.downstream_spikes is None:
        raise ValueError(
            f"Decoder spec 'fit:{kind}' fits to recorded downstream spikes: pass a `recording` that has "
            "downstream_spikes (a healthy recording, not a lesioned one)."
        )
    down = recording.downstream_spikes
    trials = recording.trials if train_trials is None else np.unique(np.asarray(train_trials, dtype=np.int64))
    unknown = np.setdiff1d(trials, np.unique(recording.trial_ids[recording.trial_ids >= 0]))
    if len(unknown):
        raise ValueError(
            f"`train_trials` holds ids that are not trials of the recording: {unknown[:10].tolist()}. "
            "Use ids from recording.trial_ids (e.g. from trial_folds)."
        )
    in_train = np.isin(recording.trial_ids, trials) & (recording.trial_ids >= 0)
    if kind in ("mlp", "logistic"):
        labels = np.where(in_train & recording.in_trial_labelled, recording.behavior_labels, 0)
        if neurons is None:
            n_read = check_positive_int(n_read, "n_read")
            if n_read > down.shape[1]:
                raise ValueError(
                    f"`n_read`={n_read} is more than the {down.shape[1]} recorded downstream neurons."
                )
            order, _ = rank_neurons_by_information(down, labels)
            neurons = tuple(int(i) for i in np.sort(order[:n_read]))
        classifier = WindowClassifierDecoder(kind=kind, random_state=random_state, **options)
        read = down[:, list(neurons)]
        fitted = classifier.fit(read, labels, recording.bin_size, n_classes=recording.n_classes)
        return fitted, neurons
    if recording.behavior_continuous is None:
        raise ValueError(
            f"Decoder spec 'fit:{kind}' decodes continuous behaviour: the recording needs "
            "behavior_continuous (e.g. hand velocity, shape (n_bins, k))."
        )
    neurons = tuple(range(down.shape[1])) if neurons is None else neurons
    velocity = recording.behavior_continuous
    mask = in_train & np.all(np.isfinite(velocity), axis=1)  # a recording may hold NaN on unlabelled bins
    filt = WienerDecoder(**options) if kind == "wiener" else KalmanDecoder()
    return filt.fit(down[:, list(neurons)], velocity, recording.bin_size, mask=mask), neurons


def _check_neurons(neurons: Sequence[int] | None, recording: Recording | None) -> tuple[int, ...] | None:
    if neurons is None:
        return None
    if isinstance(neurons, (str, bytes)) or not isinstance(neurons, (Sequence, np.ndarray)) or not all(
        isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in neurons
    ):
        raise TypeError(f"`decoder_neurons` must be a sequence of neuron indices. Got {neurons!r}.")
    out = tuple(int(i) for i in neurons)
    if len(out) == 0 or len(set(out)) != len(out) or min(out) < 0:
        raise DataFormatError(f"`decoder_neurons` must be distinct indices >= 0, at least one. Got {out}.")
    n_down = None if recording is None else recording.n_downstream
    if n_down is not None and max(out) >= n_down:
        raise DataFormatError(
            f"`decoder_neurons` {out} index past the recording's {n_down} downstream neurons (0-based)."
        )
    return out


def _check_count(decoder: Decoder, neurons: tuple[int, ...] | None) -> None:
    if neurons is not None and len(neurons) != decoder.n_neurons:
        raise DataFormatError(
            f"The decoder reads {decoder.n_neurons} neurons but `decoder_neurons` names {len(neurons)} "
            f"({neurons}). Give exactly one recorded neuron per decoder input."
        )
