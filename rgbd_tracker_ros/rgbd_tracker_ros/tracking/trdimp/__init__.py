"""TrDiMP and TrSiam: DiMP-50 with a transformer between the features and the classifier."""
