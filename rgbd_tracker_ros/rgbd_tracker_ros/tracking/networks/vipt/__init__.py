"""ViPT: OSTrack with depth prompt blocks."""
