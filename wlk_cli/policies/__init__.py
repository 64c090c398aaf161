"""Streaming policies: decide which words of each hypothesis are confirmed."""
