"""The `tts` command line (docs/cli.md)."""
