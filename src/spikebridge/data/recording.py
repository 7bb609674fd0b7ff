"""The recording: upstream spikes, optional downstream spikes, behaviour and trials on one time grid."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from spikebridge._validation import check_positive_number, check_same_n_bins, check_spike_counts
from spikebridge.exceptions import DataFormatError

__all__ = ["Recording"]


@dataclass(frozen=True, eq=False)
class Recording:
    """A two-region recording binned on one time grid.

    Parameters
    ----------
    upstream_spikes :
        Upstream spikes, shape ``(n_bins, n_upstream)``, 0/1 per bin.
    behavior_labels :
        Behaviour class per bin, shape ``(n_bins,)``; 0 = unlabelled, 1..n_classes = classes.
    trial_ids :
        Trial id per bin, shape ``(n_bins,)``; -1 outside trials. Labelled bins outside trials are
        ignored by trial-based training and evaluation (with a warning).
    bin_size :
        Bin width in seconds.
    downstream_spikes :
        Downstream spikes, shape ``(n_bins, n_downstream)``, or None (a lesioned subject has none).
        Only baselines and evaluation read it; reinforcement learning never does.
    behavior_continuous :
        Continuous behaviour (e.g. hand velocity), shape ``(n_bins, n_behavior_dims)``, or None.
    upstream_region, downstream_region :
        Region names, e.g. ``"mPFC"`` and ``"M1"``.
    upstream_names, downstream_names :
        One name per neuron; defaults to ``"up0", "up1", ...`` and ``"down0", ...``.
    decoder_neurons :
        0-based downstream neuron indices that the recording's own decoder reads, in decoder-input order,
        or None. For the paper's files this is ``sorted(M1order[:M1num_pre]) - 1``.
    decoder_history_bins :
        Past bins the recording's own decoder reads besides the current one (the paper's ``his``), or None.
    name :
        A short name for reports.
    """

    upstream_spikes: NDArray[np.uint8]
    behavior_labels: NDArray[np.int64]
    trial_ids: NDArray[np.int64]
    bin_size: float
    downstream_spikes: NDArray[np.uint8] | None = None
    behavior_continuous: NDArray[np.float64] | None = None
    upstream_region: str = "upstream"
    downstream_region: str = "downstream"
    upstream_names: tuple[str, ...] = field(default=())
    downstream_names: tuple[str, ...] = field(default=())
    decoder_neurons: tuple[int, ...] | None = None
    decoder_history_bins: int | None = None
    name: str = "recording"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "bin_size", check_positive_number(self.bin_size, "bin_size"))
        up = check_spike_counts(self.upstream_spikes, "upstream_spikes")
        set_(self, "upstream_spikes", up)
        down = None
        if self.downstream_spikes is not None:
            down = check_spike_counts(self.downstream_spikes, "downstream_spikes")
        set_(self, "downstream_spikes", down)
        labels = _as_int_vector(self.behavior_labels, "behavior_labels")
        trials = _as_int_vector(self.trial_ids, "trial_ids")
        cont = self.behavior_continuous
        if cont is not None:
            cont = np.asarray(cont, dtype=np.float64)
            if cont.ndim == 1:
                cont = cont[:, None]
            if cont.ndim != 2:
                raise DataFormatError(
                    f"`behavior_continuous` must have shape (n_bins, n_behavior_dims); got {cont.shape}."
                )
        check_same_n_bins(
            upstream_spikes=up, downstream_spikes=down, behavior_labels=labels,
            trial_ids=trials, behavior_continuous=cont,
        )
        if cont is not None and not np.all(np.isfinite(cont[labels > 0])):
            raise DataFormatError("`behavior_continuous` has NaN or infinite values in labelled bins.")
        if labels.min() < 0:
            raise DataFormatError(
                f"`behavior_labels` must be >= 0 (0 = unlabelled); got min {labels.min()}."
            )
        if not np.any(labels > 0):
            raise DataFormatError(
                "`behavior_labels` has no labelled bins (all are 0). Training and evaluation need labelled "
                "bins: give each behaviour class a label 1..n_classes."
            )
        outside = (labels > 0) & (trials < 0)
        if outside.any():
            warnings.warn(
                f"{int(outside.sum())} labelled bins have no trial (trial_ids == -1); trial-based training and "
                "evaluation ignore them. Assign them to a trial, or set their label to 0, to silence this.",
                UserWarning,
                stacklevel=3,
            )
        set_(self, "behavior_labels", labels)
        set_(self, "trial_ids", trials)
        set_(self, "behavior_continuous", cont)
        set_(self, "upstream_names", _names(self.upstream_names, up.shape[1], "up", "upstream_names"))
        if down is not None:
            set_(self, "downstream_names", _names(self.downstream_names, down.shape[1], "down", "downstream_names"))
        if self.decoder_neurons is not None:
            neurons = tuple(int(i) for i in self.decoder_neurons)
            if down is not None and any(not 0 <= i < down.shape[1] for i in neurons):
                raise DataFormatError(
                    f"`decoder_neurons` {neurons} index past the {down.shape[1]} downstream neurons."
                )
            set_(self, "decoder_neurons", neurons)

    # ------------------------------------------------------------------ derived
    @property
    def n_bins(self) -> int:
        """Number of time bins."""
        return int(self.upstream_spikes.shape[0])

    @property
    def n_upstream(self) -> int:
        """Number of upstream neurons."""
        return int(self.upstream_spikes.shape[1])

    @property
    def n_downstream(self) -> int | None:
        """Number of recorded downstream neurons, or None when there is no downstream recording."""
        return None if self.downstream_spikes is None else int(self.downstream_spikes.shape[1])

    @property
    def has_downstream(self) -> bool:
        """Whether recorded downstream spikes are present."""
        return self.downstream_spikes is not None

    @property
    def n_classes(self) -> int:
        """Number of behaviour classes (the largest label)."""
        return int(self.behavior_labels.max())

    @property
    def trials(self) -> NDArray[np.int64]:
        """Sorted ids of the trials that hold labelled bins, shape ``(n_trials,)``."""
        return np.unique(self.trial_ids[self.in_trial_labelled])

    @property
    def in_trial_labelled(self) -> NDArray[np.bool_]:
        """Mask of labelled bins that belong to a trial, shape ``(n_bins,)``."""
        return (self.behavior_labels > 0) & (self.trial_ids >= 0)

    def trial_spans(self) -> NDArray[np.int64]:
        """First and last labelled bin of each trial in :attr:`trials`, shape ``(n_trials, 2)``, inclusive."""
        labelled = np.flatnonzero(self.in_trial_labelled)
        ids = self.trial_ids[labelled]
        order = np.argsort(ids, kind="stable")
        ids, labelled = ids[order], labelled[order]
        starts = np.searchsorted(ids, self.trials, side="left")
        first = np.minimum.reduceat(labelled, starts)
        last = np.maximum.reduceat(labelled, starts)
        return np.stack([first, last], axis=1)

    # ------------------------------------------------------------------ views
    def lesioned(self) -> "Recording":
        """The same recording with the downstream spikes removed (what a patient has)."""
        return dataclasses.replace(self, downstream_spikes=None)

    def describe(self) -> str:
        """One-paragraph summary for logs and reports."""
        up_rate = self.upstream_spikes.mean() / self.bin_size
        text = (
            f"{self.name}: {self.n_bins} bins of {self.bin_size * 1000:g} ms "
            f"({self.n_bins * self.bin_size / 60:.1f} min), {len(self.trials)} trials, "
            f"{self.n_classes} behaviour classes, {self.n_upstream} {self.upstream_region} neurons "
            f"({up_rate:.1f} spikes/s)"
        )
        if self.downstream_spikes is not None:
            down_rate = self.downstream_spikes.mean() / self.bin_size
            text += f", {self.n_downstream} {self.downstream_region} neurons ({down_rate:.1f} spikes/s)"
        else:
            text += f", no {self.downstream_region} recording"
        return text + "."


def _as_int_vector(values: object, name: str) -> NDArray[np.int64]:
    arr = np.asarray(values)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise DataFormatError(f"`{name}` must have shape (n_bins,); got {arr.shape}.")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`{name}` must be numeric; got dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise DataFormatError(
                f"`{name}` has NaN or infinite values. Use 0 for unlabelled bins and -1 for bins "
                "outside trials."
            )
        if not np.all(arr == np.round(arr)):
            raise DataFormatError(f"`{name}` must hold whole numbers; it has fractional values.")
    return arr.astype(np.int64)


def _names(names: tuple[str, ...], n: int, prefix: str, field_name: str) -> tuple[str, ...]:
    if not names:
        return tuple(f"{prefix}{i}" for i in range(n))
    names = tuple(str(x) for x in names)
    if len(names) != n:
        raise DataFormatError(f"`{field_name}` has {len(names)} names for {n} neurons.")
    if len(set(names)) != len(names):
        warnings.warn(f"`{field_name}` has duplicate names; neurons are identified by index.", UserWarning,
                      stacklevel=3)
    return names
