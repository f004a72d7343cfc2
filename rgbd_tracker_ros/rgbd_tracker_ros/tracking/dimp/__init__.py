"""DiMP-family networks (DiMP-50, DeT) and the DiMP tracker."""
