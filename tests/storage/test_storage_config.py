from __future__ import annotations

import pytest

from flowlog.storage.config import LOG_CONFIG_KEYS, LogConfig
from flowlog.storage.errors import InvalidConfigError


def test_defaults_match_the_table() -> None:
    defaults = LogConfig().to_kafka()
    assert defaults == {key.name: key.default for key in LOG_CONFIG_KEYS}
    assert LogConfig.from_kafka({}) == LogConfig()


def test_round_trip_through_kafka_strings() -> None:
    config = LogConfig.from_kafka({
        "cleanup.policy": "delete,compact", "segment.bytes": "1000",
        "min.cleanable.dirty.ratio": "0.25", "message.timestamp.type": "LogAppendTime",
    })
    assert config.compact and config.delete and config.log_append_time
    assert LogConfig.from_kafka(config.to_kafka()) == config
    assert config.to_kafka()["cleanup.policy"] == "compact,delete"


def test_base_config_is_kept_for_keys_not_given() -> None:
    base = LogConfig.from_kafka({"retention.ms": "5"})
    assert LogConfig.from_kafka({"segment.ms": "7"}, base=base).retention_ms == 5


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"segment.byte": "1"}, ["unknown", "segment.byte", "segment.bytes"]),
        ({"segment.bytes": "10"}, ["segment.bytes", "14"]),
        ({"segment.bytes": "2147483648"}, ["segment.bytes", "2147483647"]),
        ({"retention.ms": "-2"}, ["retention.ms", "-1"]),
        ({"retention.ms": "soon"}, ["retention.ms", "integer"]),
        ({"cleanup.policy": "compact,archive"}, ["cleanup.policy", "compact, delete"]),
        ({"cleanup.policy": ""}, ["cleanup.policy", "empty"]),
        ({"message.timestamp.type": "Now"}, ["CreateTime", "LogAppendTime"]),
        ({"compression.type": "brotli"}, ["compression.type", "zstd"]),
        ({"min.cleanable.dirty.ratio": "1.5"}, ["min.cleanable.dirty.ratio", "[0, 1]"]),
        ({"min.cleanable.dirty.ratio": "nan"}, ["not a number"]),
        ({"flush.messages": "0"}, ["flush.messages", "1"]),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(
    values: dict[str, str], words: list[str]
) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        LogConfig.from_kafka(values)
    for word in words:
        assert word in str(caught.value)


def test_every_key_has_documentation_and_a_known_type() -> None:
    for key in LOG_CONFIG_KEYS:
        assert key.documentation and key.type in {"int", "long", "double", "string", "list"}
