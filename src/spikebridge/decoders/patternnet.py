"""The paper's feed-forward behavioural decoder, loaded from its MATLAB parameter file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from spikebridge.decoders.base import SpikeDecoder
from spikebridge.exceptions import DataFormatError

__all__ = ["WindowMLPDecoder", "load_patternnet_decoder"]

_MATMUL_MIN_NEURONS = 32
"""From this many read neurons on, the first layer runs as a matrix product (see :func:`causal_conv_matmul`)."""


def causal_conv_matmul(spikes: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The causal convolution of :func:`~spikebridge.decoders._windows.causal_conv`, as one matrix product.

    Parameters
    ----------
    spikes :
        Shape ``(batch, n_bins, n_neurons)``.
    kernel :
        Shape ``(n_out, n_neurons, H + 1)``; index ``k`` multiplies ``s(t - (H - k))``.
    bias :
        Shape ``(n_out,)`` or None.

    Returns
    -------
    pre :
        Shape ``(batch, n_out, n_bins)`` (a transposed view of a ``(batch, n_bins, n_out)`` tensor); bins
        before the first are silent. Equal to the convolution up to float rounding (another summation order).

    Notes
    -----
    One product ``s(t) @ W`` of every bin with the kernel's taps side by side, ``(n_neurons, (H + 1) * n_out)``,
    gives what bin ``t`` adds to each of the next ``H + 1`` bins; the sum over taps then reads those as a
    strided view (tap ``k`` of bin ``t`` is row ``t + k`` of the product, shifted down by ``H`` rows). With
    ``n_out`` as small as a decoder's hidden layer (8) this runs the same multiply-adds several times faster
    than the convolution once more than ~20 neurons are read, and it never builds ``(bins, H + 1, neurons)``
    windows. One sample at a time, so the product's buffer (``(n_bins + H) * (H + 1) * n_out`` floats) is
    reused.
    """
    n_out, n_neurons, n_taps = kernel.shape
    history = n_taps - 1
    batch, n_bins, _ = spikes.shape
    weights = kernel.permute(1, 2, 0).reshape(n_neurons, n_taps * n_out)  # column k * n_out + h
    spikes = spikes.to(torch.float32)
    out = torch.empty((batch, n_bins, n_out), dtype=torch.float32)
    product = torch.empty((history + n_bins, n_taps * n_out), dtype=torch.float32)
    product[:history].zero_()  # silent bins before the first
    # taps[t, k, h] = product[t + k, k * n_out + h] = s(t - H + k) @ kernel[h, :, k]
    taps = product.as_strided((n_bins, n_taps, n_out), (n_taps * n_out, (n_taps + 1) * n_out, 1))
    for sample in range(batch):
        torch.mm(spikes[sample], weights, out=product[history:])
        torch.sum(taps, dim=1, out=out[sample])
    if bias is not None:
        out.add_(bias)
    return out.transpose(1, 2)


class WindowMLPDecoder(SpikeDecoder):
    """One-hidden-layer tanh classifier over the current bin and ``history_bins`` past bins.

    At bin ``t`` the input is ``x(t) = [s(t), s(t-1), ..., s(t-H)]`` (each block all read neurons, in
    order; zeros before the first bin), then ``z = (x - offset) * gain + ymin``,
    ``h = tanh(W1 z + b1)`` and scores ``W2 h + b2``. The input affine map is folded into ``W1`` and ``b1``
    once, so the first layer runs as one causal convolution over time.

    Parameters
    ----------
    input_weights :
        ``W1``, shape ``(n_hidden, (history_bins + 1) * n_neurons)``, lag-major input order.
    input_bias :
        ``b1``, shape ``(n_hidden,)``.
    output_weights :
        ``W2``, shape ``(n_classes, n_hidden)``.
    output_bias :
        ``b2``, shape ``(n_classes,)``.
    n_neurons :
        Neurons read per bin; the history length is inferred from the input size.
    input_offset, input_gain, input_ymin :
        The input normalisation (MATLAB ``mapminmax``); shapes ``(n_inputs,)``, ``(n_inputs,)``, scalar.
    """

    def __init__(
        self,
        input_weights: NDArray,
        input_bias: NDArray,
        output_weights: NDArray,
        output_bias: NDArray,
        *,
        n_neurons: int,
        input_offset: NDArray | None = None,
        input_gain: NDArray | None = None,
        input_ymin: float = 0.0,
    ) -> None:
        w1 = np.asarray(input_weights, dtype=np.float64)
        n_hidden, n_inputs = w1.shape
        if n_inputs % n_neurons:
            raise DataFormatError(
                f"Decoder input size {n_inputs} is not a multiple of n_neurons={n_neurons}; "
                "it must be (history_bins + 1) * n_neurons."
            )
        offset = np.zeros(n_inputs) if input_offset is None else np.asarray(input_offset, float).ravel()
        gain = np.ones(n_inputs) if input_gain is None else np.asarray(input_gain, float).ravel()
        if offset.shape != (n_inputs,) or gain.shape != (n_inputs,):
            raise DataFormatError(
                f"Decoder normalisation has {offset.size} offsets and {gain.size} gains for {n_inputs} inputs."
            )
        w2 = np.asarray(output_weights, dtype=np.float64)
        b1 = np.asarray(input_bias, dtype=np.float64).ravel()
        b2 = np.asarray(output_bias, dtype=np.float64).ravel()
        if b1.shape != (n_hidden,) or w2.shape[1] != n_hidden or b2.shape != (w2.shape[0],):
            raise DataFormatError(
                f"Decoder layer shapes do not fit: W1 {w1.shape}, b1 {b1.shape}, W2 {w2.shape}, b2 {b2.shape}."
            )
        self.n_neurons = int(n_neurons)
        self.history_bins = n_inputs // n_neurons - 1
        self.n_classes = int(w2.shape[0])
        self.n_hidden = int(n_hidden)
        folded_w = w1 * gain[None, :]
        folded_b = b1 + w1 @ (input_ymin - offset * gain)
        # conv1d cross-correlates: kernel index k multiplies s(t - (H - k)), so reverse the lag axis.
        kernel = folded_w.reshape(n_hidden, self.history_bins + 1, n_neurons)[:, ::-1, :]
        self._kernel = torch.tensor(kernel.transpose(0, 2, 1).copy(order="C"), dtype=torch.float32)
        self._bias1 = torch.tensor(folded_b, dtype=torch.float32)
        self._w2 = torch.tensor(w2, dtype=torch.float32)
        self._b2 = torch.tensor(b2, dtype=torch.float32)

    def folded_parameters(self) -> dict[str, NDArray[np.float32]]:
        """Return the weights with the input normalisation folded in, as the float32 arrays it runs.

        ``WindowMLPDecoder(**decoder.folded_parameters(), n_neurons=decoder.n_neurons)`` rebuilds a decoder
        with identical outputs (used by :func:`spikebridge.decoders.io.save_decoder`).

        Returns
        -------
        parameters :
            ``input_weights`` ``(n_hidden, (history_bins + 1) * n_neurons)`` (lag-major), ``input_bias``
            ``(n_hidden,)``, ``output_weights`` ``(n_classes, n_hidden)``, ``output_bias``
            ``(n_classes,)``.
        """
        kernel = self._kernel.numpy()  # (n_hidden, n_neurons, history_bins + 1), lag axis reversed
        weights = kernel.transpose(0, 2, 1)[:, ::-1, :].reshape(self.n_hidden, -1)
        return {
            "input_weights": weights.copy(order="C"),
            "input_bias": self._bias1.numpy().copy(),
            "output_weights": self._w2.numpy().copy(),
            "output_bias": self._b2.numpy().copy(),
        }

    def _scores(self, spikes: torch.Tensor) -> torch.Tensor:
        if self.n_neurons >= _MATMUL_MIN_NEURONS:
            pre = causal_conv_matmul(spikes, self._kernel, self._bias1)  # (batch, n_hidden, n_bins)
        else:
            x = F.pad(spikes.to(torch.float32).transpose(1, 2), (self.history_bins, 0))
            # conv2d over a height-1 image is the same causal convolution as conv1d, and ~1.5x faster on CPU
            pre = F.conv2d(x.unsqueeze(2), self._kernel.unsqueeze(2), self._bias1).squeeze(2)
        # tanh(a) = 2 sigmoid(2a) - 1 in place: equal up to float rounding, and several times faster than torch.tanh
        hidden = pre.mul_(2).sigmoid_().mul_(2).sub_(1)
        scores = torch.baddbmm(self._b2.view(1, -1, 1), self._w2.expand(len(hidden), -1, -1), hidden)
        return scores.transpose(1, 2).contiguous()  # (batch, n_bins, n_classes)


def load_patternnet_decoder(path: str | Path, *, n_neurons: int | None = None) -> WindowMLPDecoder:
    """Load the paper's decoder (``decoder_<rat>_patternnet.mat``).

    Parameters
    ----------
    path :
        The MATLAB file with fields ``x1_step1`` (``xoffset``, ``gain``, ``ymin``), ``b1``, ``IW1_1``,
        ``b2`` and ``LW2_1``.
    n_neurons :
        Neurons read per bin. If None, it is inferred from the input size assuming the paper's
        ``his = 60`` history bins, i.e. ``n_inputs / 61``; pass it when the history differs.

    Returns
    -------
    decoder :
        A :class:`WindowMLPDecoder`.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Decoder file not found: {path}")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises several types for corrupt files
        raise DataFormatError(f"Could not read {path} as a MATLAB file: {err}") from err
    needed = ("x1_step1", "b1", "IW1_1", "b2", "LW2_1")
    missing = [k for k in needed if k not in mat]
    if missing:
        present = sorted(k for k in mat if not k.startswith("__"))
        raise DataFormatError(f"{path} is missing decoder variables {missing}; it has {present}.")
    step = mat["x1_step1"]
    try:
        offset = np.asarray(step["xoffset"][0, 0], dtype=float).ravel()
        gain = np.asarray(step["gain"][0, 0], dtype=float).ravel()
        ymin = float(np.asarray(step["ymin"][0, 0]).ravel()[0])
    except (ValueError, IndexError, KeyError) as err:
        raise DataFormatError(f"{path}: `x1_step1` must be a struct with xoffset, gain, ymin ({err}).") from err
    w1 = np.asarray(mat["IW1_1"], dtype=float)
    n_inputs = w1.shape[1]
    if n_neurons is None:
        if n_inputs % 61:
            raise DataFormatError(
                f"{path}: cannot infer the number of neurons from {n_inputs} inputs with the paper's 60 history "
                "bins; pass n_neurons explicitly."
            )
        n_neurons = n_inputs // 61
    return WindowMLPDecoder(
        w1, mat["b1"], mat["LW2_1"], mat["b2"], n_neurons=n_neurons,
        input_offset=offset, input_gain=gain, input_ymin=ymin,
    )
