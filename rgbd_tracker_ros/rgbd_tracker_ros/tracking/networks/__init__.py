"""Network code: backbones, DiMP/DeT/TrDiMP heads, PrRoIPool, official checkpoint reading and the
TorchScript file format. Trackers import from here, never the reverse."""
