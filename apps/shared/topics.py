"""Create the topics an app reads and writes when they are missing; fail in one line when the
broker cannot be reached."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from flowlog.client import Admin, NewTopic
from flowlog.client.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
)

# A broker that has not answered in this long is reported as unreachable (the client's
# default, 60 s, is too long for a person waiting at a terminal).
CONNECT_TIMEOUT_MS = 5_000
DEFAULT_PARTITIONS = 3


class BrokerUnreachableError(Exception):
    """The bootstrap broker did not answer; the message is the one line to print."""


@attrs.frozen
class TopicSpec:
    name: str
    # Tables (users, thresholds) keep the latest record per key: compacted, as Kafka's.
    compacted: bool = False

    def new_topic(self, partitions: int) -> NewTopic:
        configs = {"cleanup.policy": "compact"} if self.compacted else {}
        return NewTopic(self.name, num_partitions=partitions, configs=configs)


def admin_client(bootstrap: str) -> Admin:
    return Admin(bootstrap, client_id="flowlog-apps", default_api_timeout_ms=CONNECT_TIMEOUT_MS)


async def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec],
                        partitions: int = DEFAULT_PARTITIONS) -> list[str]:
    """Create the missing topics (all with `partitions`, so inputs are co-partitioned);
    returns the names created. Existing topics are left as they are."""
    created = []
    try:
        async with admin_client(bootstrap) as admin:
            existing = await admin.list_topics()
            for spec in specs:
                if spec.name in existing:
                    continue
                try:
                    await admin.create_topics([spec.new_topic(partitions)])
                    created.append(spec.name)
                except TopicAlreadyExistsError:
                    pass  # another instance (or the generator) created it first
    except (KafkaConnectionError, KafkaTimeoutError) as error:
        raise BrokerUnreachableError(f"cannot reach the broker at {bootstrap}: {error}") from None
    return created
