"""`python -m i2pmae` (what torchrun runs). The guard matters: worker processes started with "spawn"
(table 1's --jobs) import this module again and must not run the command a second time."""
import sys

from i2pmae.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
