from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.protocol import primitives
from flowlog.protocol.errors import ErrorCode, KafkaProtocolError
from flowlog.protocol.varint import decode_varint, encode_varint
from flowlog.protocol.versions import VersionRange


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_unsigned_varint_round_trip(value: int) -> None:
    encoded = primitives.write_unsigned_varint(value)
    assert len(encoded) == primitives.unsigned_varint_size(value)
    assert primitives.read_unsigned_varint(encoded + b"\xff", 0) == (value, len(encoded))


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**63), 2**63 - 1))
def test_zigzag_round_trip(small: int, large: int) -> None:
    # Zigzag varints (record fields) live in flowlog.protocol.varint.
    assert decode_varint(encode_varint(small), 0)[0] == small
    assert decode_varint(encode_varint(large), 0)[0] == large


def test_known_encodings() -> None:
    assert primitives.write_unsigned_varint(300) == b"\xac\x02"
    assert encode_varint(-1) == b"\x01" and encode_varint(1) == b"\x02"
    assert encode_varint(-(2**63)) == b"\xff" * 9 + b"\x01"


def test_bad_varints() -> None:
    with pytest.raises(primitives.MalformedError, match="truncated"):
        primitives.read_unsigned_varint(b"\x80", 0)
    with pytest.raises(primitives.MalformedError, match="longer than 5"):
        primitives.read_unsigned_varint(b"\x80" * 6, 0)
    with pytest.raises(ValueError, match="negative"):
        primitives.write_unsigned_varint(-1)


def test_version_ranges() -> None:
    assert 7 in VersionRange.parse("3+") and 2 not in VersionRange.parse("3+")
    assert str(VersionRange.parse("3-5")) == "3-5" and VersionRange.parse("none").is_empty
    with pytest.raises(ValueError, match="invalid version range '5-3'"):
        VersionRange.parse("5-3")


def test_error_codes() -> None:
    assert ErrorCode(35) is ErrorCode.UNSUPPORTED_VERSION
    assert ErrorCode.NOT_LEADER_OR_FOLLOWER.retriable and not ErrorCode.TOPIC_ALREADY_EXISTS.retriable
    assert len({code.value for code in ErrorCode}) == len(ErrorCode) and max(ErrorCode) >= 120
    error = KafkaProtocolError(ErrorCode.INVALID_REQUEST)
    assert error.code == 42 and "INVALID_REQUEST" in str(error)
