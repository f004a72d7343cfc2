"""``make_sequence``: render a synthetic RGB-D sequence (DepthTrack layout) to a folder."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from rgbd_tracker_ros.sequences.synthetic import OPTIONS, PRESETS, generate_sequence, preset_config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make_sequence",
        description=(
            "Render a synthetic RGB-D tracking sequence with 2D and 3D ground truth into "
            "OUT_DIR: color/%08d.jpg, depth/%08d.png (uint16 mm), groundtruth.txt, "
            "groundtruth_3d.txt, camera.yaml. Everything random follows --seed."
        ),
        epilog=(
            "presets: "
            + "; ".join(
                f"{name} = {', '.join(f'{k}={v}' for k, v in values.items()) or 'defaults'}"
                for name, values in PRESETS.items()
            )
            + ". Options: "
            + ", ".join(OPTIONS)
            + " (defaults: translation and depth_noise on, the rest off)."
        ),
    )
    parser.add_argument("out_dir", help="sequence folder to create (must be empty or new)")
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="easy",
        help="difficulty preset to start from (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--frames", type=int, default=150, help="number of frames (default: %(default)s)"
    )
    parser.add_argument("--width", type=int, default=640, help="image width (default: %(default)s)")
    parser.add_argument(
        "--height",
        type=int,
        default=480,
        help="image height (default: %(default)s); intrinsics are the D435's "
        "640x480 ones scaled to width x height",
    )
    parser.add_argument(
        "--fps",
        type=float,
        default=30.0,
        help="frame rate written to camera.yaml (default: %(default)s)",
    )
    parser.add_argument(
        "--with",
        dest="enable",
        action="append",
        default=[],
        choices=OPTIONS,
        metavar="OPTION",
        help="switch an option on (repeatable)",
    )
    parser.add_argument(
        "--without",
        dest="disable",
        action="append",
        default=[],
        choices=OPTIONS,
        metavar="OPTION",
        help="switch an option off (repeatable)",
    )
    parser.add_argument(
        "--depth-noise-strength",
        type=float,
        default=None,
        help="depth error relative to a D435 (default: the preset's)",
    )
    parser.add_argument(
        "--procedural-textures",
        action="store_true",
        help="do not use scikit-image sample photos as textures",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the sequence files of an existing OUT_DIR"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    both = sorted(set(args.enable) & set(args.disable))
    if both:
        parser.error(f"option(s) both enabled and disabled: {', '.join(both)}")
    try:
        config = preset_config(
            args.preset,
            seed=args.seed,
            num_frames=args.frames,
            width=args.width,
            height=args.height,
            fps=args.fps,
            photo_textures=not args.procedural_textures,
        )
        changes: dict[str, object] = {option: True for option in args.enable}
        changes.update({option: False for option in args.disable})
        if args.depth_noise_strength is not None:
            changes["depth_noise_strength"] = args.depth_noise_strength
        config = dataclasses.replace(config, **changes)  # type: ignore[arg-type]
        path = generate_sequence(
            config, args.out_dir, overwrite=args.overwrite, progress=not args.quiet
        )
    except (ValueError, FileExistsError) as exc:
        parser.exit(2, f"make_sequence: error: {exc}\n")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
