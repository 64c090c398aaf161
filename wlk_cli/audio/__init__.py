"""Audio sources (file and stdin decoding, microphones) and the ring buffer."""

SAMPLE_RATE = 16000
