"""Built-in serdes: Kafka's byte encodings, JSON with attrs/dataclasses, None both ways, clear errors."""

from __future__ import annotations

import dataclasses
import math
import struct
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowlog_streams import Serde, Serdes, SerializationError, StreamsBuilder
from flowlog_streams.testing import TopologyTestDriver

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


@attrs.define
class Address:
    city: str
    zip_code: int


@attrs.define
class Person:
    name: str
    age: int
    address: Address
    tags: list[str] = attrs.field(factory=list)
    nickname: str | None = None


@dataclasses.dataclass
class Point:
    x: float
    y: float


@dataclasses.dataclass
class Shape:
    name: str
    points: list[Point]
    closed: bool = False


ALL_BUILTIN = [Serdes.bytes(), Serdes.str(), Serdes.int(), Serdes.long(), Serdes.float(),
               Serdes.double(), Serdes.json(), Serdes.json(Person), Serdes.json(Shape)]


# ---------------------------------------------------------------- exact encodings


@pytest.mark.parametrize(("value", "encoded"), [
    (0, b"\x00\x00\x00\x00"),
    (1, b"\x00\x00\x00\x01"),
    (256, b"\x00\x00\x01\x00"),
    (-1, b"\xff\xff\xff\xff"),
    (-2, b"\xff\xff\xff\xfe"),
    (INT_MAX, b"\x7f\xff\xff\xff"),
    (INT_MIN, b"\x80\x00\x00\x00"),
])
def test_int_is_4_byte_big_endian_signed(value: int, encoded: bytes) -> None:
    assert Serdes.int().serialize("t", value) == encoded
    assert Serdes.int().deserialize("t", encoded) == value


@pytest.mark.parametrize(("value", "encoded"), [
    (0, b"\x00" * 8),
    (1, b"\x00\x00\x00\x00\x00\x00\x00\x01"),
    (-1, b"\xff" * 8),
    (2**32, b"\x00\x00\x00\x01\x00\x00\x00\x00"),
    (LONG_MAX, b"\x7f" + b"\xff" * 7),
    (LONG_MIN, b"\x80" + b"\x00" * 7),
])
def test_long_is_8_byte_big_endian_signed(value: int, encoded: bytes) -> None:
    assert Serdes.long().serialize("t", value) == encoded
    assert Serdes.long().deserialize("t", encoded) == value


def test_float_and_double_are_ieee754_big_endian() -> None:
    assert Serdes.float().serialize("t", 1.5) == b"\x3f\xc0\x00\x00"
    assert Serdes.float().serialize("t", -2.0) == b"\xc0\x00\x00\x00"
    assert Serdes.double().serialize("t", 1.5) == b"\x3f\xf8\x00\x00\x00\x00\x00\x00"
    assert Serdes.double().serialize("t", -2.0) == b"\xc0\x00\x00\x00\x00\x00\x00\x00"
    assert Serdes.float().deserialize("t", b"\x3f\xc0\x00\x00") == 1.5
    assert Serdes.double().deserialize("t", b"\xc0\x00\x00\x00\x00\x00\x00\x00") == -2.0
    # An int is accepted where a float is expected (Python's numeric tower).
    assert Serdes.double().serialize("t", 3) == struct.pack(">d", 3.0)
    assert Serdes.float().serialize("t", float("inf")) == b"\x7f\x80\x00\x00"
    assert math.isnan(Serdes.double().deserialize("t", struct.pack(">d", math.nan)))


def test_str_is_utf8() -> None:
    assert Serdes.str().serialize("t", "héllo €") == "héllo €".encode()
    assert Serdes.str().deserialize("t", b"h\xc3\xa9") == "hé"
    assert Serdes.str().serialize("t", "") == b""
    assert Serdes.str().deserialize("t", b"") == ""


def test_bytes_pass_through_and_accept_buffers() -> None:
    assert Serdes.bytes().serialize("t", b"\x00\x01") == b"\x00\x01"
    assert Serdes.bytes().serialize("t", bytearray(b"ab")) == b"ab"
    assert type(Serdes.bytes().serialize("t", bytearray(b"ab"))) is bytes
    assert Serdes.bytes().serialize("t", memoryview(b"cd")) == b"cd"
    assert Serdes.bytes().deserialize("t", b"raw") == b"raw"


def test_json_of_plain_values_is_compact() -> None:
    serde = Serdes.json()
    assert serde.serialize("t", {"a": 1, "b": [True, None, 1.5]}) == b'{"a":1,"b":[true,null,1.5]}'
    assert serde.deserialize("t", b'{"a": 1, "b": [true, null]}') == {"a": 1, "b": [True, None]}
    assert serde.serialize("t", "text") == b'"text"'
    assert serde.deserialize("t", b"42") == 42


def test_json_attrs_class_round_trip_with_nested_fields() -> None:
    serde = Serdes.json(Person)
    person = Person("ann", 41, Address("Oslo", 150), ["a", "b"])
    data = serde.serialize("t", person)
    assert data == (b'{"name":"ann","age":41,"address":{"city":"Oslo","zip_code":150},'
                    b'"tags":["a","b"],"nickname":null}')
    back = serde.deserialize("t", data)
    assert back == person
    assert isinstance(back.address, Address)


def test_json_attrs_class_fills_defaults_for_missing_optional_fields() -> None:
    back = Serdes.json(Person).deserialize(
        "t", b'{"name":"bo","age":3,"address":{"city":"X","zip_code":1}}'
    )
    assert back == Person("bo", 3, Address("X", 1), [], None)


def test_json_dataclass_round_trip_with_nested_fields() -> None:
    serde = Serdes.json(Shape)
    shape = Shape("tri", [Point(0.0, 0.5), Point(1.0, -2.0)], closed=True)
    data = serde.serialize("t", shape)
    assert data == b'{"name":"tri","points":[{"x":0.0,"y":0.5},{"x":1.0,"y":-2.0}],"closed":true}'
    back = serde.deserialize("t", data)
    assert back == shape
    assert isinstance(back.points[0], Point)


def test_json_needs_an_attrs_class_or_dataclass() -> None:
    with pytest.raises(TypeError, match="neither an attrs class nor a dataclass"):
        Serdes.json(dict)


@pytest.mark.parametrize("serde", ALL_BUILTIN, ids=repr)
def test_none_maps_to_none_both_ways(serde: Serde) -> None:
    assert serde.serialize("t", None) is None
    assert serde.deserialize("t", None) is None


def test_reprs_name_the_factory() -> None:
    assert repr(Serdes.bytes()) == "Serdes.bytes()"
    assert repr(Serdes.str()) == "Serdes.str()"
    assert repr(Serdes.int()) == "Serdes.int()"
    assert repr(Serdes.long()) == "Serdes.long()"
    assert repr(Serdes.float()) == "Serdes.float()"
    assert repr(Serdes.double()) == "Serdes.double()"
    assert repr(Serdes.json()) == "Serdes.json()"
    assert repr(Serdes.json(Person)) == "Serdes.json(Person)"


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(("serde", "bad"), [
    (Serdes.bytes(), "text"),
    (Serdes.bytes(), 5),
    (Serdes.str(), b"bytes"),
    (Serdes.str(), 5),
    (Serdes.int(), "1"),
    (Serdes.int(), 1.0),
    (Serdes.int(), True),
    (Serdes.int(), INT_MAX + 1),
    (Serdes.int(), INT_MIN - 1),
    (Serdes.long(), LONG_MAX + 1),
    (Serdes.long(), 2.5),
    (Serdes.float(), "1.0"),
    (Serdes.float(), 1e40),  # does not fit 4 bytes
    (Serdes.double(), 10**400),  # does not fit a double
    (Serdes.double(), False),
    (Serdes.json(), {1, 2}),
    (Serdes.json(), {1: "int keys"}),
    (Serdes.json(), object()),
    (Serdes.json(Person), {"name": "a dict, not a Person"}),
    (Serdes.json(Shape), Point(1.0, 2.0)),
    (Serdes.json(Shape), "text"),
], ids=repr)
def test_serialize_wrong_input_raises_serialization_error(serde: Serde, bad: Any) -> None:
    with pytest.raises(SerializationError):
        serde.serialize("t", bad)


@pytest.mark.parametrize(("serde", "data", "message"), [
    (Serdes.int(), b"\x00\x00\x01", "int serde needs 4 bytes, got 3"),
    (Serdes.int(), b"\x00" * 8, "int serde needs 4 bytes, got 8"),
    (Serdes.long(), b"\x00" * 4, "long serde needs 8 bytes, got 4"),
    (Serdes.float(), b"", "float serde needs 4 bytes, got 0"),
    (Serdes.double(), b"\x00" * 7, "double serde needs 8 bytes, got 7"),
    (Serdes.str(), b"\xff\xfe", "not UTF-8"),
    (Serdes.json(), b"{bad", "invalid JSON"),
    (Serdes.json(), b"", "invalid JSON"),
    (Serdes.json(Person), b'{"name": "n"}', "JSON does not fit Person"),
    (Serdes.json(Person), b'{"name":"n","age":"old","address":{"city":"c","zip_code":1}}',
     "JSON does not fit Person"),
    (Serdes.json(Person), b'{"name":"n","age":1,"address":{"city":"c"}}', "zip_code"),
    (Serdes.json(Shape), b"[1, 2]", "JSON does not fit Shape"),
    (Serdes.json(Shape), b"not json", "invalid JSON"),
], ids=repr)
def test_deserialize_bad_bytes_raises_serialization_error(
    serde: Serde, data: bytes, message: str
) -> None:
    with pytest.raises(SerializationError, match=message):
        serde.deserialize("t", data)


def test_wrong_type_message_names_the_type() -> None:
    with pytest.raises(SerializationError, match="str serde got int, not str"):
        Serdes.str().serialize("t", 5)
    with pytest.raises(SerializationError, match="bytes serde got str, not bytes"):
        Serdes.bytes().serialize("t", "x")
    with pytest.raises(SerializationError, match=r"Serdes.json\(Person\) got dict, not Person"):
        Serdes.json(Person).serialize("t", {})


# ---------------------------------------------------------------- properties


@given(st.integers(INT_MIN, INT_MAX))
def test_int_round_trip(value: int) -> None:
    data = Serdes.int().serialize("t", value)
    assert data == value.to_bytes(4, "big", signed=True)
    assert Serdes.int().deserialize("t", data) == value


@given(st.integers(LONG_MIN, LONG_MAX))
def test_long_round_trip(value: int) -> None:
    data = Serdes.long().serialize("t", value)
    assert data == value.to_bytes(8, "big", signed=True)
    assert Serdes.long().deserialize("t", data) == value


@given(st.floats(allow_nan=False))
def test_double_round_trip(value: float) -> None:
    assert Serdes.double().deserialize("t", Serdes.double().serialize("t", value)) == value


@given(st.floats(width=32, allow_nan=False))
def test_float_round_trip_of_32_bit_values(value: float) -> None:
    data = Serdes.float().serialize("t", value)
    assert len(data) == 4
    assert Serdes.float().deserialize("t", data) == value


@given(st.text())
def test_str_round_trip(value: str) -> None:
    assert Serdes.str().deserialize("t", Serdes.str().serialize("t", value)) == value


@given(st.binary())
def test_bytes_round_trip(value: bytes) -> None:
    assert Serdes.bytes().deserialize("t", Serdes.bytes().serialize("t", value)) == value


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(LONG_MIN, LONG_MAX) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_json_round_trip(value: Any) -> None:
    assert Serdes.json().deserialize("t", Serdes.json().serialize("t", value)) == value


PEOPLE = st.builds(
    Person,
    name=st.text(),
    age=st.integers(0, 150),
    address=st.builds(Address, city=st.text(), zip_code=st.integers(0, 99999)),
    tags=st.lists(st.text(), max_size=3),
    nickname=st.none() | st.text(),
)
SHAPES = st.builds(
    Shape,
    name=st.text(),
    points=st.lists(st.builds(Point, x=st.floats(allow_nan=False, allow_infinity=False),
                              y=st.floats(allow_nan=False, allow_infinity=False)), max_size=4),
    closed=st.booleans(),
)


@given(PEOPLE)
def test_json_attrs_round_trip(person: Person) -> None:
    serde = Serdes.json(Person)
    assert serde.deserialize("t", serde.serialize("t", person)) == person


@given(SHAPES)
def test_json_dataclass_round_trip(shape: Shape) -> None:
    serde = Serdes.json(Shape)
    assert serde.deserialize("t", serde.serialize("t", shape)) == shape


# ---------------------------------------------------------------- serdes in a topology


class ReversedStr:
    """A custom serde: any object with serialize/deserialize will do."""

    def __init__(self) -> None:
        self.topics: list[str] = []

    def serialize(self, topic: str, obj: Any) -> bytes | None:
        self.topics.append(topic)
        return None if obj is None else obj[::-1].encode()

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        self.topics.append(topic)
        return None if data is None else data.decode()[::-1]


def test_custom_serde_object_on_source_and_sink() -> None:
    source_serde, sink_serde = ReversedStr(), ReversedStr()
    builder = StreamsBuilder()
    stream = builder.stream("in", key_serde=Serdes.str(), value_serde=source_serde)
    stream.map_values(str.upper).to("out", value_serde=sink_serde)
    with TopologyTestDriver(builder.build()) as driver:
        inp = driver.create_input_topic("in", Serdes.str(), Serdes.bytes())
        out = driver.create_output_topic("out", Serdes.str(), Serdes.bytes())
        inp.pipe_input("k", b"cba")  # the source reads it as "abc"
        assert out.read_key_value() == ("k", b"CBA")  # "ABC", written reversed
    assert source_serde.topics == ["in"]
    assert sink_serde.topics == ["out"]


def test_something_without_serialize_is_not_a_serde() -> None:
    builder = StreamsBuilder()
    with pytest.raises(TypeError, match="value_serde must have serialize"):
        builder.stream("in", value_serde=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key_serde must have serialize"):
        builder.stream("in2").to("out", key_serde="str")  # type: ignore[arg-type]


def test_default_serdes_come_from_the_driver_config() -> None:
    builder = StreamsBuilder()
    builder.stream("in").map_values(lambda v: v * 2).to("out")
    config = {"default_key_serde": Serdes.int(), "default_value_serde": Serdes.str()}
    with TopologyTestDriver(builder.build(), config=config) as driver:
        inp = driver.create_input_topic("in", Serdes.int(), Serdes.str())
        raw = driver.create_output_topic("out", Serdes.bytes(), Serdes.bytes())
        inp.pipe_input(7, "ab")
        assert raw.read_key_value() == (b"\x00\x00\x00\x07", b"abab")


def test_default_value_serde_only() -> None:
    builder = StreamsBuilder()
    builder.stream("in").map_values(str.upper).to("out")
    with TopologyTestDriver(builder.build(), config={"default_value_serde": Serdes.str()}) as driver:
        inp = driver.create_input_topic("in", Serdes.bytes(), Serdes.str())
        out = driver.create_output_topic("out", Serdes.bytes(), Serdes.str())
        inp.pipe_input(b"k", "x")
        assert out.read_key_value() == (b"k", "X")


def test_serdes_given_on_the_stream_override_the_defaults() -> None:
    builder = StreamsBuilder()
    builder.stream("in", key_serde=Serdes.str(), value_serde=Serdes.long()).to("out")
    config = {"default_key_serde": Serdes.int(), "default_value_serde": Serdes.str()}
    with TopologyTestDriver(builder.build(), config=config) as driver:
        inp = driver.create_input_topic("in", Serdes.str(), Serdes.long())
        raw = driver.create_output_topic("out", Serdes.bytes(), Serdes.bytes())
        inp.pipe_input("k", 5)
        # to() keeps the stream's serdes: the defaults are not used anywhere.
        assert raw.read_key_value() == (b"k", b"\x00" * 7 + b"\x05")


def test_map_values_drops_the_value_serde_as_kafka_streams_does() -> None:
    # After map_values the value type may have changed: the sink falls back to the
    # default value serde (bytes), so a str value cannot be written without one.
    builder = StreamsBuilder()
    stream = builder.stream("in", key_serde=Serdes.str(), value_serde=Serdes.str())
    stream.map_values(str.upper).to("out")
    stream.map_values(str.lower).to("out2", value_serde=Serdes.str())
    config = {"processing_exception_handler": "log_and_continue"}
    with TopologyTestDriver(builder.build(), config=config) as driver:
        inp = driver.create_input_topic("in", Serdes.str(), Serdes.str())
        out = driver.create_output_topic("out", Serdes.str(), Serdes.str())
        out2 = driver.create_output_topic("out2", Serdes.str(), Serdes.str())
        inp.pipe_input("k", "Ab")
        assert out.is_empty()
        assert out2.read_key_value() == ("k", "ab")
        assert driver.metrics()["0_0"]["records_handled"]["processing"] == 1


def test_bad_default_serde_in_config_is_rejected() -> None:
    builder = StreamsBuilder()
    builder.stream("in").to("out")
    with pytest.raises(TypeError, match="default_value_serde"):
        TopologyTestDriver(builder.build(), config={"default_value_serde": "str"})
