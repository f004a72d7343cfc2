"""RGB-D sequences, ROS-free: DepthTrack-layout IO and a synthetic sequence generator."""

from rgbd_tracker_ros.sequences.depthtrack import (
    RGBDSequence,
    SequenceError,
    SequenceWriter,
    load_intrinsics,
    read_sequence,
    write_sequence,
)

__all__ = [
    "RGBDSequence",
    "SequenceError",
    "SequenceWriter",
    "load_intrinsics",
    "read_sequence",
    "write_sequence",
]
