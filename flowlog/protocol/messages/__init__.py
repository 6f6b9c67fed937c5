"""Every declared Kafka API, by key: `ALL_APIS`.

Each module here declares one API (see flowlog/protocol/schema.py and
docs/protocol.md) and exports `API` plus its generated request/response classes.
"""

from __future__ import annotations

import importlib

from flowlog.protocol.schema import Api

# Every declared API, one module each.
API_MODULES = (
    "produce",
    "fetch",
    "list_offsets",
    "metadata",
    "api_versions",
    "create_topics",
    "delete_topics",
    "delete_records",
    "init_producer_id",
    "offset_for_leader_epoch",
    "describe_configs",
    "alter_configs",
    "incremental_alter_configs",
    "create_partitions",
    "describe_cluster",
    "describe_quorum",
    "offset_commit",
    "offset_fetch",
    "find_coordinator",
    "join_group",
    "heartbeat",
    "leave_group",
    "sync_group",
    "describe_groups",
    "list_groups",
    "sasl_handshake",
    "sasl_authenticate",
    "delete_groups",
    "offset_delete",
    "add_partitions_to_txn",
    "add_offsets_to_txn",
    "end_txn",
    "txn_offset_commit",
)


def _load(module_name: str) -> Api:
    module = importlib.import_module(f"{__name__}.{module_name}")
    api = getattr(module, "API", None)
    if not isinstance(api, Api):
        raise TypeError(f"{module.__name__} must export API, an Api declaration")
    return api


def _collect() -> dict[int, Api]:
    apis: dict[int, Api] = {}
    for name in API_MODULES:
        api = _load(name)
        if api.key in apis:
            raise ValueError(f"api key {api.key} declared twice: {apis[api.key].name}, {api.name}")
        apis[api.key] = api
    return dict(sorted(apis.items()))


ALL_APIS: dict[int, Api] = _collect()
