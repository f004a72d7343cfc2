"""The weight-free default tracker: a depth-aware discriminative correlation filter.

Hand-crafted features (gradient orientations, Lab colour, depth relative to the target) feed
a multichannel correlation filter learned online in the Fourier domain; depth gives the scale
and flags occluders, and a long-term scheme re-detects the target after it is lost.
"""
