"""How good and how fast: metrics, saved results, plots, and the evaluate/benchmark logic."""
