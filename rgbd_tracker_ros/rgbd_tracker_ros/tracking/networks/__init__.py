"""Network code: backbones, DiMP/DeT/TrDiMP/OSTrack/ViPT networks, PrRoIPool, official checkpoint
reading and the TorchScript file format. Trackers import from here, never the reverse."""
