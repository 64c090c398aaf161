"""Where events go: JSON lines, the terminal, subtitle and transcript files, the TUI."""
