"""`python -m cp` is `cpd`."""

import sys

from cp.cli import main

sys.exit(main())
