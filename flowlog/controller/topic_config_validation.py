"""The controller's one door to config knowledge: flowlog.storage.config's key table.

Topic overrides are checked by parsing them the way the log will (LogConfig.from_kafka);
list-typed keys and defaults come from the same table, so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping

from flowlog.controller.metadata_records import ConfigResourceType
from flowlog.storage.config import LOG_CONFIG_KEYS_BY_NAME, LogConfig
from flowlog.storage.errors import InvalidConfigError

# Broker keys take any value here (the broker's own config module is a layer above);
# these broker-level defaults of topic keys are lists (with their defaults), so
# APPEND/SUBTRACT apply to them.
BROKER_LIST_CONFIG_DEFAULTS: Mapping[str, str] = {"log.cleanup.policy": "delete"}


def topic_configs_error(overrides: Mapping[str, str]) -> str | None:
    """Why a topic's overrides are invalid, or None."""
    try:
        LogConfig.from_kafka(overrides)
    except InvalidConfigError as error:
        return str(error)
    return None


def is_list_config(resource_type: ConfigResourceType, name: str) -> bool:
    if resource_type is ConfigResourceType.TOPIC:
        key = LOG_CONFIG_KEYS_BY_NAME.get(name)
        return key is not None and key.type == "list"
    return name in BROKER_LIST_CONFIG_DEFAULTS


def config_default(resource_type: ConfigResourceType, name: str) -> str:
    """What APPEND/SUBTRACT start from when the key has no override."""
    if resource_type is ConfigResourceType.TOPIC:
        key = LOG_CONFIG_KEYS_BY_NAME.get(name)
        return "" if key is None else key.default
    return BROKER_LIST_CONFIG_DEFAULTS.get(name, "")
