"""The Textual TUI: transcript view, status bar, keys. Imported only when the TUI is used."""
