"""Every advertised API answers every advertised version, for requests with one item in
every list: no handler path may crash on a field it reads (each would close the
connection). Two fillings: empty strings (error paths) and a valid name (normal paths)."""

from __future__ import annotations

from typing import Any

import pytest
from raw_client import RawConnection

from flowlog.protocol.declarations import Array, Struct
from flowlog.protocol.messages import ALL_APIS
from flowlog.protocol.messages.api_versions import ApiVersionsRequest

# Deletions run last, so the other APIs see the topic (and group) "t".
DELETING_KEYS = (20, 21, 42)
# Parked requests (long polls, group joins) answer at once with these values; config
# resources name topics (type 2), so the per-topic paths run.
FIXED = {
    "max_wait_ms": 0,
    "timeout_ms": 0,
    "session_timeout_ms": 0,
    "rebalance_timeout_ms": 0,
    "resource_type": 2,
}


def populated(cls: Any, version: int, text: str) -> Any:
    """An instance with every present field set: lists get one populated element."""
    values: dict[str, Any] = {}
    for field in cls.STRUCT.fields:
        if not field.is_present(version) and not field.is_tagged(version):
            continue
        kind = field.type
        if isinstance(kind, Array) and isinstance(kind.element, Struct):
            values[field.name] = [populated(getattr(cls, kind.element.name), version, text)]
        elif isinstance(kind, Array):
            values[field.name] = [text if kind.element.name == "STRING" else 0]
        elif isinstance(kind, Struct):
            values[field.name] = populated(getattr(cls, kind.name), version, text)
        elif kind.name == "STRING" and field.default is None and not field.is_nullable(version):
            values[field.name] = text
        elif kind.name == "STRING" and field.default == "":
            values[field.name] = text
        elif field.name in FIXED:
            values[field.name] = FIXED[field.name]
    if cls.STRUCT.name == "ProduceRequest":
        values["acks"] = -1  # acks=0 gets no answer by design
    return cls(**values)


def advertised(bootstrap: str) -> list[tuple[int, int]]:
    with RawConnection(bootstrap) as connection:
        response = connection.call(18, 3, ApiVersionsRequest(client_software_name="t",
                                                             client_software_version="1"))
    calls = [
        (entry.api_key, version)
        for entry in response.api_keys
        for version in range(entry.min_version, entry.max_version + 1)
    ]
    return sorted(calls, key=lambda call: (call[0] in DELETING_KEYS, call))


@pytest.mark.parametrize("text", ["", "t"])
def test_every_api_version_answers(broker_factory, text: str) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory({"group.initial.rebalance.delay.ms": "0"})
    failures = []
    for api_key, version in advertised(broker.bootstrap):
        api = ALL_APIS[api_key]
        request = populated(api.request_type, version, text)
        try:
            with RawConnection(broker.bootstrap, timeout_s=10) as connection:
                connection.call(api_key, version, request)
        except (ConnectionError, OSError, AssertionError) as error:
            failures.append(f"{api.name} v{version}: {error!r}")
    assert broker.is_running()
    assert not failures, "\n".join(failures)
