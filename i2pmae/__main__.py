import sys

from i2pmae.cli.main import main

sys.exit(main())
