"""RGB-D single-object tracking for ROS 2: ROS-free core plus a thin ROS edge in ``ros/``."""
