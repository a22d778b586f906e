"""`python -m study.cli ...`: the same as `regimes ...`."""

import sys

from study.cli import main

sys.exit(main())
