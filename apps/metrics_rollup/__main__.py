"""`python -m apps.metrics_rollup run|generate ...` (see apps/shared/cli.py)."""

import sys

from apps.metrics_rollup.app import DEFINITION
from apps.shared.cli import main

sys.exit(main(DEFINITION))
