"""``export_model``: turn an official checkpoint into the file the node runs.

    python -m rgbd_tracker_ros.tools.export_model --checkpoint DeT_DiMP50_Max.pth \\
        --output det_max.ts [--tracker det] [--params overrides.yaml]
    python -m rgbd_tracker_ros.tools.export_model --checkpoint dimp50.pth --output dimp50.pt2 \\
        [--device cuda] [--precision fp16]

The output's extension picks the format: ``.ts`` TorchScript (runs on CPU and CUDA, fp32 or
fp16), ``.pt2`` an AOTInductor package compiled here for ``--device`` and ``--precision``
(needs a C++ compiler; takes minutes). The architecture comes from the checkpoint; the tracker
parameters are the defaults of ``config/trackers/<tracker>.yaml`` with the optional YAML
overrides applied. On failure the exit status is 1 and one line on stderr says why.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rgbd_tracker_ros.tracking.model import export_checkpoint, network_trackers
from rgbd_tracker_ros.tracking.networks.checkpoint import CheckpointError
from rgbd_tracker_ros.tracking.networks.export import ExportError
from rgbd_tracker_ros.tracking.params import read_mapping

LOG = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="export_model",
        description="Export an official DiMP/DeT/TrDiMP/SiamRPN++ checkpoint to TorchScript "
        "(.ts) or an AOTInductor package (.pt2).",
    )
    parser.add_argument("--checkpoint", required=True, type=Path, help="official .pth/.pth.tar")
    parser.add_argument(
        "--output", required=True, type=Path, help="file to write: .ts (TorchScript) or .pt2"
    )
    parser.add_argument(
        "--tracker",
        choices=network_trackers(),
        help="tracker to embed parameters for (default: the checkpoint's own)",
    )
    parser.add_argument("--params", type=Path, help="YAML file of tracker parameter overrides")
    parser.add_argument(
        "--device", default="cpu", help=".pt2 only: device to compile for (cpu, cuda, cuda:N)"
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "fp16"),
        default="fp32",
        help=".pt2 only: backbone precision",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        overrides = read_mapping(args.params) if args.params else {}
        output = export_checkpoint(
            args.checkpoint,
            args.output,
            args.tracker,
            overrides,
            str(args.params),
            args.device,
            args.precision,
        )
    except (CheckpointError, ExportError, ValueError, OSError) as error:
        print(f"export_model: error: {error}", file=sys.stderr)
        return 1
    LOG.info("wrote %s", output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
