"""Multichannel discriminative correlation filter, learned in closed form in the Fourier domain.

Papers: Bolme et al., "Visual Object Tracking using Adaptive Correlation Filters", CVPR 2010
(MOSSE); Danelljan et al., "Accurate Scale Estimation for Robust Visual Tracking", BMVC 2014
(DSST, the multichannel form).

The filter of channel c is ``conj(H_c) = Y conj(X_c) / (sum_k |X_k|^2 + lambda)`` (MOSSE/DSST
multichannel form): numerator and denominator are running averages over the frames the target
was seen well, so learning costs one FFT per frame and no iterations. Detection is a product
in the Fourier domain; the response peaks at the target's displacement from the patch centre.

The functions are TorchScript-compatible; ``CorrelationFilter`` keeps the learned state.
All FFTs of feature grids use ``norm="ortho"`` so ``lambda`` is independent of the grid size.
"""

from __future__ import annotations

import math

import torch


def cosine_window(size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Symmetric Hann window, centred on the patch centre (between the two middle cells).

    It tapers the patch edges so the circular correlation does not see the wrap-around seam.
    """
    window = torch.hann_window(size + 2, periodic=False, device=device, dtype=dtype)[1:-1]
    return window.view(-1, 1) * window.view(1, -1)


def gaussian_label(size: int, sigma_cells: float, device: torch.device) -> torch.Tensor:
    """Desired response: a Gaussian of ``sigma_cells`` peaked at displacement zero (index 0, 0).

    Indices wrap, so index ``size - k`` means a displacement of ``-k`` cells.
    """
    offsets = torch.arange(size, dtype=torch.float32, device=device)
    offsets = torch.where(offsets < size / 2, offsets, offsets - size)
    squared = offsets.view(-1, 1) ** 2 + offsets.view(1, -1) ** 2
    return torch.exp(-0.5 * squared / (sigma_cells * sigma_cells))


def shift_spectrum(spectrum: torch.Tensor, shift_rows: float, shift_cols: float) -> torch.Tensor:
    """``spectrum`` (..., G, G') of a G x G map moved by a (sub-cell) displacement, circularly.

    Used to centre the desired response on where the target was found in a search patch, so
    that patch can be learned from without sampling the frame again.
    """
    size = spectrum.shape[-2]
    row_freq = torch.fft.fftfreq(size, device=spectrum.device).view(-1, 1)
    col_freq = torch.fft.rfftfreq(size, device=spectrum.device).view(1, -1)
    phase = -2.0 * math.pi * (row_freq * shift_rows + col_freq * shift_cols)
    return spectrum * torch.polar(torch.ones_like(phase), phase)


def filter_terms(
    features_fft: torch.Tensor, label_fft: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Numerator (C, H, W') and denominator (H, W') of the closed-form filter for one sample."""
    numerator = label_fft.unsqueeze(0) * torch.conj(features_fft)
    denominator = (features_fft.real**2 + features_fft.imag**2).sum(dim=0)
    return numerator, denominator


def filter_response(
    numerator: torch.Tensor,
    denominator: torch.Tensor,
    features_fft: torch.Tensor,
    regularisation: float,
    grid_size: int,
) -> torch.Tensor:
    """Response maps (N, G, G) of a batch of windowed feature spectra (N, C, G, G')."""
    spectrum = (numerator.unsqueeze(0) * features_fft).sum(dim=1)
    spectrum = spectrum / (denominator + regularisation)
    return torch.fft.irfft2(spectrum, s=(grid_size, grid_size), norm="ortho")


def wide_response(template: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Score of every placement of ``template`` (C, G, G) inside ``features`` (C, H, W).

    Entry (i, j) of the (H - G + 1, W - G + 1) result is what the filter would respond to a
    search patch whose top-left cell is (i, j) at zero displacement; this is how the learned
    model searches a region far larger than its own patch (re-detection) with one FFT.
    """
    height, width = features.shape[-2], features.shape[-1]
    grid = template.shape[-1]
    template_fft = torch.fft.rfft2(template, s=(height, width))
    features_fft = torch.fft.rfft2(features)
    correlation = torch.fft.irfft2(
        (torch.conj(template_fft) * features_fft).sum(dim=0), s=(height, width)
    )
    return correlation[: height - grid + 1, : width - grid + 1]


class CorrelationFilter:
    """The learned model: running numerator/denominator plus the fixed window and label."""

    def __init__(
        self,
        grid_size: int,
        label_sigma_cells: float,
        regularisation: float,
        device: torch.device,
    ) -> None:
        self.grid_size = grid_size
        self.regularisation = regularisation
        self.window = cosine_window(grid_size, device, torch.float32)
        label = gaussian_label(grid_size, label_sigma_cells, device)
        self.label_fft = torch.fft.rfft2(label, norm="ortho")
        self.numerator: torch.Tensor | None = None
        self.denominator: torch.Tensor | None = None

    @property
    def is_trained(self) -> bool:
        return self.numerator is not None

    def spectrum(self, features: torch.Tensor) -> torch.Tensor:
        """Windowed feature spectra (N, C, G, G') of feature grids (N, C, G, G)."""
        return torch.fft.rfft2(features * self.window, norm="ortho")

    def learn(
        self,
        features: torch.Tensor,
        rate: float,
        target_offset_cells: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        """Blend one sample (1, C, G, G) into the model; ``rate`` 1 starts afresh.

        ``target_offset_cells`` (rows, cols) says where the target sits relative to the
        patch centre; the desired response peaks there.
        """
        label_fft = self.label_fft
        if target_offset_cells != (0.0, 0.0):
            label_fft = shift_spectrum(label_fft, target_offset_cells[0], target_offset_cells[1])
        numerator, denominator = filter_terms(self.spectrum(features)[0], label_fft)
        if self.numerator is None or self.denominator is None or rate >= 1.0:
            self.numerator, self.denominator = numerator, denominator
            return
        self.numerator.mul_(1.0 - rate).add_(numerator, alpha=rate)
        self.denominator.mul_(1.0 - rate).add_(denominator, alpha=rate)

    def respond(self, features: torch.Tensor) -> torch.Tensor:
        """Response maps (N, G, G) for feature grids (N, C, G, G), zero displacement at [0, 0]."""
        if self.numerator is None or self.denominator is None:
            raise RuntimeError("the correlation filter has not learned a sample yet")
        return filter_response(
            self.numerator,
            self.denominator,
            self.spectrum(features),
            self.regularisation,
            self.grid_size,
        )

    def spatial_template(self) -> torch.Tensor:
        """The model as a windowed spatial template (C, G, G) for ``wide_response``.

        With unitary FFTs, the response at zero displacement equals
        ``sum(t * window * z) / G`` for the filter ``t`` in space, so the template folds the
        window and the 1/G in.
        """
        if self.numerator is None or self.denominator is None:
            raise RuntimeError("the correlation filter has not learned a sample yet")
        filter_fft = torch.conj(self.numerator / (self.denominator + self.regularisation))
        spatial = torch.fft.irfft2(filter_fft, s=(self.grid_size, self.grid_size), norm="ortho")
        return spatial * self.window / self.grid_size
