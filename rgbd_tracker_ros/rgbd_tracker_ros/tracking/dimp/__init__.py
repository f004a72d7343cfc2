"""The DiMP tracker (DiMP-50) and DeT, its RGB-D variant: sample extraction, localisation,
filter memory and the tracking loop on top of ``tracking.networks.dimp``."""
