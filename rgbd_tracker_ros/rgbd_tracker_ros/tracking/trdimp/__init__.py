"""TrDiMP and TrSiam trackers: the DiMP tracker with the transformer of
``tracking.networks.trdimp`` between the features and the filter."""
