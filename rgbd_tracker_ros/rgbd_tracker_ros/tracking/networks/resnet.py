"""ResNet-50 backbone with the parameter layout of pytracking's ``ltr`` ResNet.

Paper: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.

The trackers only read ``layer2`` (stride 8) and ``layer3`` (stride 16), but the official
checkpoints also hold ``layer4`` and ``fc`` (trained for ImageNet and never used at tracking
time); they are kept as modules so that ``load_state_dict(strict=True)`` accepts those files.
Bottleneck blocks put the stride on the 3x3 convolution (torchvision v1.5 layout).
"""

from __future__ import annotations

from torch import Tensor, nn


def conv_bn(
    in_planes: int,
    out_planes: int,
    stride: int = 1,
    kernel_size: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> nn.Sequential:
    """Convolution (no bias) + batch norm: ResNet's residual downsampling branch."""
    return nn.Sequential(
        nn.Conv2d(
            in_planes,
            out_planes,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=False,
        ),
        nn.BatchNorm2d(out_planes),
    )


class Bottleneck(nn.Module):
    """1x1 - 3x3 (strided or dilated) - 1x1 convolutions with a residual connection (ResNet-50).

    ``padding``/``dilation`` of the 3x3 convolution default to the plain ResNet's; pysot's
    SiamRPN++ backbone sets them per block.
    """

    expansion = 4

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        padding: int = 1,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=stride, padding=padding, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class ResNet(nn.Module):
    """ResNet whose ``forward`` returns ``{'layer2': ..., 'layer3': ...}`` and stops there."""

    def __init__(self, block: type, layers: tuple[int, int, int, int], num_classes: int = 1000):
        super().__init__()
        self._in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], stride=1)
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self.layer2_channels = 128 * block.expansion
        self.layer3_channels = 256 * block.expansion

    def _make_layer(self, block: type, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._in_planes != planes * block.expansion:
            downsample = conv_bn(self._in_planes, planes * block.expansion, stride)
        stages = [block(self._in_planes, planes, stride, downsample)]
        self._in_planes = planes * block.expansion
        stages.extend(block(self._in_planes, planes) for _ in range(1, blocks))
        return nn.Sequential(*stages)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        layer2 = self.layer2(self.layer1(x))
        layer3 = self.layer3(layer2)
        return {"layer2": layer2, "layer3": layer3}


def resnet50() -> ResNet:
    """ResNet-50: layer2 512 channels @ stride 8, layer3 1024 @ 16."""
    return ResNet(Bottleneck, (3, 4, 6, 3))
