"""OpenCV's weight-free trackers (MIL, CSRT, KCF) as evaluation baselines."""
