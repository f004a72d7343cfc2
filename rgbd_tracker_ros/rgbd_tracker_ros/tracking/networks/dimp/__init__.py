"""DiMP-50 and DeT-DiMP50 networks: classifier, IoU-Net and the exported method interface."""
