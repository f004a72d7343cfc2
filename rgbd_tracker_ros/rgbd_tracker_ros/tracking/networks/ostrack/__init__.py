"""OSTrack: ViT-B with candidate elimination and the centre head."""
