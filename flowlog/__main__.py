"""`python -m flowlog` is the `flowlog` command."""

import sys

from flowlog.cli import main

sys.exit(main())
