"""The OSTrack (RGB) and ViPT (RGB-D) trackers on the one-stream ViT networks."""
