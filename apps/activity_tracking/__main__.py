"""`python -m apps.activity_tracking run|generate ...` (see apps/shared/cli.py)."""

import sys

from apps.activity_tracking.app import DEFINITION
from apps.shared.cli import main

sys.exit(main(DEFINITION))
