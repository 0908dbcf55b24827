"""Entry point of `python -m ihanoi_core`."""

import sys

from ihanoi_core.cli import main

sys.exit(main())
