"""TrDiMP network: DiMP-50 with a transformer between the features and the filter."""
