"""DiMP-50 and DeT (RGB-D DiMP-50) networks: the inference interface the trackers call.

Papers: DiMP, Bhat et al., "Learning Discriminative Model Prediction for Tracking", ICCV 2019;
DeT, Yan et al., "DepthTrack: Unveiling the Power of RGBD Tracking", ICCV 2021.

``DiMPNet`` / ``DeTNet`` hold the official checkpoints' modules under the official names
(``feature_extractor``, ``feature_extractor_depth``, ``classifier``, ``bb_regressor``,
``merge_layer2/3``), so ``load_state_dict(strict=True)`` accepts those state dicts. The methods
below are ``@torch.jit.export``-ed single steps, each a function of tensors only: the tracker
calls the same methods on the eager module, on the TorchScript module and on
the compiled package loaded from an exported file (``networks/export.py``). The iterations
(filter learning, box refinement) are driven from Python by ``networks/dimp/solvers.py``, the
one place that loops. Nothing here needs autograd: call under ``torch.no_grad()``.

Coordinates: boxes are ``x, y, w, h`` in PATCH pixels (the sampled 288x288 image patch, 0-based,
as pytracking's ``get_iounet_box``). Feature maps: stride 8 (``layer2``) and 16 (``layer3``);
classification features (N, 512, H/16, W/16); a filter is (1, 512, k, k) with k = ``filter_size``
(4); scores are (N, 1, H/16 + 1, W/16 + 1) for even k (19x19 for 288 px).

Interface (all tensors on the module's device; images are float in [0, 255]):

* ``extract_backbone(color (N,3,H,W) RGB, depth (N,3,H,W) | None) -> {'layer2', 'layer3'}``:
  ImageNet normalisation (x/255 - mean)/std inside. ``depth`` is DeT's depth image (the JET
  colour map in BGR channel order, normalised with the same RGB statistics); DiMP ignores it;
  DeT with ``depth=None`` runs the RGB backbone only (what the reference does for a 3-channel
  input). For DeT the returned layers are the merged colour/depth features.
* ``classification_features(backbone) -> (N, 512, H/16, W/16)``.
* ``filter_init(feat, boxes (N,4)) -> filter``: the initializer (PrRoIPool of each box, mean
  over N).
* ``filter_problem(feat, boxes (N,4), sample_weights (N,)) -> problem``: label, target mask and
  weights of the filter-learning problem (pytracking's ``filter_optimizer`` set-up).
* ``filter_step(filter, feat, problem) -> filter``: one steepest-descent step with the
  Gauss-Newton step length.
* ``classify(filter, feat) -> scores (N, 1, H', W')``.
* ``iou_modulation(backbone, boxes (B,4)) -> [m3, m4]`` each (B, 256, 1, 1); the tracker keeps
  ``[m.mean(0) for m in ...]`` as in pytracking (``predict_iou`` accepts any shape that
  reshapes to (B, 256)).
* ``iou_features(cuts, inside) -> [c3 (B,256,h2-4,w2-4), c4 (B,256,h3-4,w3-4)]``: the
  IoU-Net's test features (two 3x3 convolutions per layer) on cuts of the backbone maps with a
  two-cell halo; ``solvers.window_features`` makes the cuts for any window of the maps, the
  whole map included.
* ``predict_iou(modulation, iou_feat, proposals (B,P,4)) -> (B, P)``: proposals in pixels of
  the feature maps' frame.
* ``iou_and_gradient(modulation, iou_feat, proposals) -> (iou (B,P), d iou / d proposals
  (B,P,4))``, the gradient in closed form.

Attributes (plain values, also on the TorchScript module): ``architecture`` (str),
``feature_stride`` (16), ``filter_size`` (4), ``uses_depth`` (bool).

Builders: ``build_dimpnet50(kwds)``, ``build_det_dimpnet50(kwds)`` take the checkpoint's
``constructor.kwds`` (pytracking's ``dimpnet50`` / DeT's ``dimp50_DeT`` argument names);
``DiMPConfig`` + ``build_linear_filter`` + ``build_iounet`` are the parts a TrDiMP network reuses
(``tracking/networks/checkpoint.py`` maps the TrDiMP checkpoint to
``rgbd_tracker_ros.tracking.networks.trdimp.network:build_trdimpnet50``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from rgbd_tracker_ros.tracking.networks.checkpoint import (
    Allowed,
    UnsupportedArchitectureError,
    check_constructor_argument,
    shown_value,
)
from rgbd_tracker_ros.tracking.networks.dimp.classifier import (
    DiMPSteepestDescentGN,
    FilterInitializerLinear,
    LinearFilter,
    classification_head,
)
from rgbd_tracker_ros.tracking.networks.dimp.iounet import AtomIoUNet
from rgbd_tracker_ros.tracking.networks.resnet import ResNet, resnet50

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MERGE_TYPES = ("max", "mean", "mul", "conv")


# Reference constructor arguments that must have these values (other values build a different
# network), and arguments that only matter for training.
REQUIRED_KWDS: dict[str, Any] = {
    "classification_layer": "layer3",
    "clf_feat_blocks": 0,
    "clf_feat_norm": True,
    "init_filter_norm": False,
    "final_conv": True,
    "score_act": "relu",
}
TRAINING_ONLY_KWDS = ("backbone_pretrained", "frozen_backbone_layers", "detach_length", "act_param")


def _allowed(default: Any, allowed: Allowed) -> Any:
    return dataclasses.field(default=default, metadata={"allowed": allowed})


_DIM = Allowed(int, 1, 4096)
_FLOAT = Allowed(float, -1e3, 1e3)


@dataclasses.dataclass(frozen=True)
class DiMPConfig:
    """The ``dimpnet50`` constructor arguments that shape the network or its inference.

    Defaults are the reference FUNCTION's defaults: a checkpoint's ``constructor.kwds`` holds
    only what its training script passed, and the reference rebuilds the network with the
    function defaults for the rest. (The released DiMP-50's own values are in
    ``checkpoint.DIMP50_TRAIN_KWDS``.) ``optim_*``, ``init_gauss_sigma`` and
    ``mask_init_factor`` only set initial values of parameters that the checkpoint overwrites.
    Each field's ``allowed`` values (released files use a small fraction of each range) are
    checked before anything is built.
    """

    filter_size: int = _allowed(1, Allowed(int, 1, 32))
    num_dist_bins: int = _allowed(5, Allowed(int, 1, 1000))
    bin_displacement: float = _allowed(1.0, Allowed(float, 1e-6, 1e3))
    feat_stride: int = _allowed(16, Allowed(int, 16, 16))
    out_feature_dim: int = _allowed(512, _DIM)
    target_mask_act: str = _allowed("sigmoid", Allowed(str, choices=("sigmoid", "linear")))
    iou_input_dim: tuple[int, int] = _allowed((256, 256), Allowed(int, 1, 4096, length=2))
    iou_inter_dim: tuple[int, int] = _allowed((256, 256), Allowed(int, 1, 4096, length=2))
    optim_iter: int = _allowed(5, Allowed(int, 0, 50))
    optim_init_step: float = _allowed(1.0, _FLOAT)
    optim_init_reg: float = _allowed(0.01, _FLOAT)
    init_gauss_sigma: float = _allowed(1.0, Allowed(float, 1e-6, 1e3))
    mask_init_factor: float = _allowed(4.0, _FLOAT)

    @classmethod
    def from_kwds(cls, kwds: Mapping[str, Any], extra: tuple[str, ...] = ()) -> DiMPConfig:
        """Validate constructor ``kwds``; names in ``extra`` are skipped (the caller's own)."""
        fields = {field.name: field.metadata["allowed"] for field in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, value in kwds.items():
            if name in extra or name in TRAINING_ONLY_KWDS:
                continue
            if name in REQUIRED_KWDS:
                required = REQUIRED_KWDS[name]
                value = _normalised(value)
                if not (isinstance(value, type(required)) and value == required):
                    raise UnsupportedArchitectureError(
                        f"constructor argument {name}={shown_value(value)} is not supported "
                        f"(only {required!r})"
                    )
            elif name in fields:
                values[name] = check_constructor_argument(name, value, fields[name])
            else:
                raise UnsupportedArchitectureError(f"unknown constructor argument {name!r}")
        return cls(**values)


def _normalised(value: Any) -> Any:
    """``['layer3']`` and ``'layer3'`` name the same classification layer."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return value[0]
    return value


def build_linear_filter(config: DiMPConfig, feature_dim: int = 1024) -> LinearFilter:
    """DiMP target classifier over backbone features with ``feature_dim`` channels."""
    initializer = FilterInitializerLinear(
        config.filter_size, config.out_feature_dim, config.feat_stride
    )
    optimizer = DiMPSteepestDescentGN(
        feat_stride=config.feat_stride,
        init_step_length=config.optim_init_step,
        init_filter_reg=config.optim_init_reg,
        init_gauss_sigma=config.init_gauss_sigma,
        num_dist_bins=config.num_dist_bins,
        bin_displacement=config.bin_displacement,
        mask_init_factor=config.mask_init_factor,
        mask_act=config.target_mask_act,
    )
    head = classification_head(feature_dim, config.out_feature_dim, config.filter_size)
    return LinearFilter(config.filter_size, initializer, optimizer, head)


def build_iounet(config: DiMPConfig, backbone: ResNet) -> AtomIoUNet:
    return AtomIoUNet(
        input_dim=(backbone.layer2_channels, backbone.layer3_channels),
        pred_input_dim=config.iou_input_dim,
        pred_inter_dim=config.iou_inter_dim,
    )


class DiMPNet(nn.Module):
    """DiMP: backbone, target classifier, IoU-Net (see the module docstring for the interface)."""

    # Argument dimensions that vary between a tracker's calls, for a compiled export
    # (networks/export.py): image counts (first frame, search), refinement windows. The filter
    # optimisation always sees the whole sample memory (dimp/memory.py), so its sample count
    # is fixed: Inductor's CPU code for filter_step gave NaN at counts other than the
    # example's (torch 2.13).
    EXPORT_DYNAMIC_DIMS: ClassVar[dict[str, dict[str, tuple[int, ...]]]] = {
        "extract_backbone": {"0": (0,), "1": (0,)},
        "classification_features": {"0.layer2": (0,), "0.layer3": (0,)},
        "filter_init": {"0": (0,), "1": (0,)},
        "iou_features": {"0.layer2": (2, 3), "0.layer3": (2, 3), "1.0": (2, 3), "1.1": (2, 3)},
        "predict_iou": {"1.0": (2, 3), "1.1": (2, 3)},
        "iou_and_gradient": {"1.0": (2, 3), "1.1": (2, 3)},
    }
    # Methods a loaded TorchScript file runs as frozen, without torch's oneDNN rewrite
    # (networks/export.py): the refinement's, on a small window and ten boxes, where the layout
    # conversions it adds cost more than they save (DiMP-50: refine 17.3 -> 15.8 ms per frame,
    # identical numbers).
    EXPORT_PLAIN_METHODS: ClassVar[tuple[str, ...]] = (
        "iou_features",
        "predict_iou",
        "iou_and_gradient",
    )

    def __init__(
        self,
        feature_extractor: ResNet,
        classifier: LinearFilter,
        bb_regressor: AtomIoUNet,
        architecture: str = "dimp50",
        feature_stride: int = 16,
    ) -> None:
        super().__init__()
        self.feature_extractor = feature_extractor
        self.classifier = classifier
        self.bb_regressor = bb_regressor
        self.architecture = architecture
        self.feature_stride = int(feature_stride)
        self.filter_size = int(classifier.filter_size)
        self.uses_depth = False
        # Not persistent: the official state dicts do not have them.
        mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
        self.register_buffer("pixel_mean", mean, persistent=False)
        self.register_buffer("pixel_std", std, persistent=False)

    def _normalise(self, image: Tensor) -> Tensor:
        """[0, 255] image -> ImageNet-normalised input in the backbone's dtype."""
        x = image.to(self.pixel_mean.dtype) / 255.0
        x = (x - self.pixel_mean) / self.pixel_std
        return x.to(self.feature_extractor.conv1.weight.dtype)

    def _head_dtype(self, feats: dict[str, Tensor]) -> dict[str, Tensor]:
        """Hand backbone features to the heads in their dtype (fp16 backbone, fp32 heads)."""
        dtype = self.bb_regressor.iou_predictor.weight.dtype
        return {name: value.to(dtype) for name, value in feats.items()}

    @torch.jit.export
    def extract_backbone(self, color: Tensor, depth: Tensor | None = None) -> dict[str, Tensor]:
        return self._head_dtype(self.feature_extractor(self._normalise(color)))

    @torch.jit.export
    def classification_features(self, backbone: dict[str, Tensor]) -> Tensor:
        return self.classifier.extract_classification_feat(backbone["layer3"])

    @torch.jit.export
    def filter_init(self, feat: Tensor, boxes: Tensor) -> Tensor:
        return self.classifier.filter_initializer(feat, boxes)

    @torch.jit.export
    def filter_problem(self, feat: Tensor, boxes: Tensor, sample_weights: Tensor) -> list[Tensor]:
        size = [self.filter_size, self.filter_size]
        return self.classifier.filter_optimizer.problem(feat, boxes, sample_weights, size)

    @torch.jit.export
    def filter_step(self, weights: Tensor, feat: Tensor, problem: list[Tensor]) -> Tensor:
        return self.classifier.filter_optimizer.step(
            weights, feat, problem[0], problem[1], problem[2]
        )

    @torch.jit.export
    def classify(self, weights: Tensor, feat: Tensor) -> Tensor:
        return self.classifier.classify(weights, feat)

    @torch.jit.export
    def iou_modulation(self, backbone: dict[str, Tensor], boxes: Tensor) -> list[Tensor]:
        return self.bb_regressor.get_modulation([backbone["layer2"], backbone["layer3"]], boxes)

    @torch.jit.export
    def iou_features(self, cuts: dict[str, Tensor], inside: list[Tensor]) -> list[Tensor]:
        return self.bb_regressor.get_iou_feat([cuts["layer2"], cuts["layer3"]], inside)

    @torch.jit.export
    def predict_iou(
        self, modulation: list[Tensor], iou_feat: list[Tensor], proposals: Tensor
    ) -> Tensor:
        return self.bb_regressor.predict_iou(modulation, iou_feat, proposals)

    @torch.jit.export
    def iou_and_gradient(
        self, modulation: list[Tensor], iou_feat: list[Tensor], proposals: Tensor
    ) -> tuple[Tensor, Tensor]:
        return self.bb_regressor.predict_iou_and_gradient(modulation, iou_feat, proposals)


class DeTNet(DiMPNet):
    """DeT: DiMP-50 with a second ResNet-50 on the depth colour map, merged at layer2/layer3."""

    def __init__(
        self,
        feature_extractor: ResNet,
        feature_extractor_depth: ResNet,
        classifier: LinearFilter,
        bb_regressor: AtomIoUNet,
        merge_type: str,
        architecture: str = "det_dimp50",
    ) -> None:
        if merge_type not in MERGE_TYPES:
            raise UnsupportedArchitectureError(
                f"DeT merge_type {merge_type!r} is not supported (one of {', '.join(MERGE_TYPES)})"
            )
        super().__init__(feature_extractor, classifier, bb_regressor, architecture)
        self.feature_extractor_depth = feature_extractor_depth
        self.merge_type = merge_type
        self.uses_depth = True
        self.merge_layer2: nn.Module | None = None
        self.merge_layer3: nn.Module | None = None
        if merge_type == "conv":
            channels2 = feature_extractor.layer2_channels
            channels3 = feature_extractor.layer3_channels
            self.merge_layer2 = nn.Conv2d(2 * channels2, channels2, kernel_size=1)
            self.merge_layer3 = nn.Conv2d(2 * channels3, channels3, kernel_size=1)

    @torch.jit.export
    def extract_backbone(self, color: Tensor, depth: Tensor | None = None) -> dict[str, Tensor]:
        color_feat = self.feature_extractor(self._normalise(color))
        if depth is None:
            return self._head_dtype(color_feat)
        depth_feat = self.feature_extractor_depth(self._normalise(depth))
        if self.merge_layer2 is not None and self.merge_layer3 is not None:
            stacked2 = torch.cat((color_feat["layer2"], depth_feat["layer2"]), dim=1)
            stacked3 = torch.cat((color_feat["layer3"], depth_feat["layer3"]), dim=1)
            merged = {"layer2": self.merge_layer2(stacked2), "layer3": self.merge_layer3(stacked3)}
        else:
            merged = {
                "layer2": self._merge(color_feat["layer2"], depth_feat["layer2"]),
                "layer3": self._merge(color_feat["layer3"], depth_feat["layer3"]),
            }
        return self._head_dtype(merged)

    def _merge(self, color: Tensor, depth: Tensor) -> Tensor:
        """Element-wise merges (the 1x1 conv merge has parameters and is done by the caller)."""
        if self.merge_type == "max":
            return torch.max(color, depth)
        if self.merge_type == "mean":
            return 0.5 * color + 0.5 * depth
        return color * depth


def build_dimpnet50(kwds: Mapping[str, Any]) -> DiMPNet:
    """DiMP-50 from pytracking ``dimpnet50`` constructor arguments."""
    config = DiMPConfig.from_kwds(kwds)
    backbone = resnet50()
    return DiMPNet(backbone, build_linear_filter(config), build_iounet(config, backbone))


def build_det_dimpnet50(kwds: Mapping[str, Any]) -> DeTNet:
    """DeT DiMP-50 from DeT ``dimp50_DeT`` constructor arguments (``merge_type`` included)."""
    merge_type = kwds.get("merge_type", "max")
    if isinstance(merge_type, str) and merge_type == "weightedSum":
        raise UnsupportedArchitectureError(
            "DeT merge_type 'weightedSum' is broken in the reference (its weights are never "
            "stored on the network), so no such checkpoint can exist"
        )
    merge_type = check_constructor_argument(
        "merge_type", merge_type, Allowed(str, choices=MERGE_TYPES)
    )
    config = DiMPConfig.from_kwds(kwds, extra=("merge_type", "W_rgb", "W_depth"))
    backbone = resnet50()
    return DeTNet(
        backbone,
        resnet50(),
        build_linear_filter(config),
        build_iounet(config, backbone),
        merge_type,
    )
