"""Speaker diarization: diart's streaming pipeline on locally written segmentation and embedding models."""
