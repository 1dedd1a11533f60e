"""Command-line interface: `i2pmae <command> --help`."""
