"""Every request and response of every declared API round-trips at every valid version.

Instances are drawn from the declaration itself: only the fields present in
that version, nulls only where that version allows them, tagged fields set or
left at their default.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowlog.protocol import codec
from flowlog.protocol.declarations import (
    BOOL,
    BYTES,
    FLOAT64,
    INT8,
    INT16,
    INT32,
    INT64,
    RECORDS,
    STRING,
    UINT16,
    UUID,
    Array,
    FieldType,
    Primitive,
    Struct,
)
from flowlog.protocol.messages import ALL_APIS
from flowlog.protocol.schema import Api, Message

EXAMPLES_PER_CASE = 15
ELEMENTS_MAX = 3

_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_PRIMITIVE_STRATEGIES: dict[int, st.SearchStrategy[Any]] = {
    id(BOOL): st.booleans(),
    id(INT8): st.integers(-(2**7), 2**7 - 1),
    id(INT16): st.integers(-(2**15), 2**15 - 1),
    id(INT32): st.integers(-(2**31), 2**31 - 1),
    id(INT64): st.integers(-(2**63), 2**63 - 1),
    id(UINT16): st.integers(0, 2**16 - 1),
    id(FLOAT64): st.floats(allow_nan=False),
    id(UUID): st.binary(min_size=16, max_size=16),
    id(STRING): _TEXT,
    id(BYTES): st.binary(max_size=12),
    id(RECORDS): st.binary(max_size=40),
}


def value_strategy(
    field_type: FieldType, nullable: bool, version: int, top_class: type[Message]
) -> st.SearchStrategy[Any]:
    base: st.SearchStrategy[Any]
    if isinstance(field_type, Struct):
        base = struct_strategy(field_type, version, top_class)
    elif isinstance(field_type, Array):
        element = value_strategy(field_type.element, False, version, top_class)
        base = st.lists(element, max_size=ELEMENTS_MAX)
    else:
        assert isinstance(field_type, Primitive)
        base = _PRIMITIVE_STRATEGIES[id(field_type)]
    return st.none() | base if nullable else base


def struct_strategy(
    declaration: Struct, version: int, top_class: type[Message]
) -> st.SearchStrategy[Message]:
    cls = top_class if top_class.STRUCT is declaration else getattr(top_class, declaration.name)
    fields = {
        field.name: value_strategy(field.type, field.is_nullable(version), version, top_class)
        for field in declaration.fields
        if field.is_present(version) or field.is_tagged(version)
    }
    return st.fixed_dictionaries(fields).map(lambda values: cls(**values))


def cases() -> list[tuple[int, int, bool]]:
    return [
        (api.key, version, response)
        for api in ALL_APIS.values()
        for version in range(api.min_version, api.max_version + 1)
        for response in (False, True)
    ]


def case_id(case: tuple[int, int, bool]) -> str:
    key, version, response = case
    return f"{ALL_APIS[key].name}{'Response' if response else 'Request'}-v{version}"


def message_strategy(api: Api, version: int, response: bool) -> st.SearchStrategy[Message]:
    declaration = api.response if response else api.request
    top_class = api.response_type if response else api.request_type
    return struct_strategy(declaration, version, top_class)


@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_round_trip(case: tuple[int, int, bool]) -> None:
    key, version, response = case
    api = ALL_APIS[key]

    @settings(
        max_examples=EXAMPLES_PER_CASE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(message=message_strategy(api, version, response), correlation_id=st.integers(0, 2**31 - 1))
    def check(message: Message, correlation_id: int) -> None:
        if response:
            frame = codec.encode_response(key, version, correlation_id, message)
            decoded_correlation_id, decoded = codec.decode_response(key, version, frame)
            assert decoded_correlation_id == correlation_id
        else:
            header = codec.RequestHeader(key, version, correlation_id, "client-1")
            frame = codec.encode_request(header, message)
            decoded_header, body_offset = codec.decode_request_header(frame)
            assert decoded_header == header
            decoded = codec.decode_request(decoded_header, frame, body_offset)
        assert decoded == message
        # Encoding is repeatable: the decoded copy gives the same bytes.
        if response:
            assert codec.encode_response(key, version, correlation_id, decoded) == frame
        else:
            assert codec.encode_request(header, decoded) == frame

    check()


def test_every_api_is_declared() -> None:
    expected = {0, 1, 2, 3, 18, 19, 20, 21, 22, 23, 32, 33, 37, 44, 60}
    assert expected <= set(ALL_APIS)
