"""Website activity tracking on flowlog_streams: views per page, per region and per user
session, and the top pages of each minute (docs/apps.md).

    python -m apps.activity_tracking run --bootstrap HOST:PORT
    python -m apps.activity_tracking generate --bootstrap HOST:PORT --events N --seed S
"""

from apps.activity_tracking.app import DEFINITION
from apps.activity_tracking.generator import ActivityGenerator, generate
from apps.activity_tracking.topology import build_topology

__all__ = ["DEFINITION", "ActivityGenerator", "build_topology", "generate"]
