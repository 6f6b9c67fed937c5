"""The building blocks of message declarations: primitive types, arrays, structs, fields.

These are plain descriptions; `schema.Api` turns them into classes and codecs.
"""

from __future__ import annotations

import keyword
from collections.abc import Sequence
from typing import Final

import attrs

from flowlog.protocol.versions import VersionRange

UUID_SIZE_BYTES: Final = 16
ZERO_UUID: Final = bytes(UUID_SIZE_BYTES)


@attrs.frozen(slots=True)
class Primitive:
    """A scalar wire type. `struct_code` is set for fixed-size types (packable in runs)."""

    name: str
    default: object
    struct_code: str | None

    def __repr__(self) -> str:
        return self.name


BOOL: Final = Primitive("BOOL", False, "?")
INT8: Final = Primitive("INT8", 0, "b")
INT16: Final = Primitive("INT16", 0, "h")
INT32: Final = Primitive("INT32", 0, "i")
INT64: Final = Primitive("INT64", 0, "q")
UINT16: Final = Primitive("UINT16", 0, "H")
FLOAT64: Final = Primitive("FLOAT64", 0.0, "d")
UUID: Final = Primitive("UUID", ZERO_UUID, "16s")
STRING: Final = Primitive("STRING", "", None)
BYTES: Final = Primitive("BYTES", b"", None)
# A record-batch blob: nullable bytes kept opaque (decoded as a zero-copy view of the frame).
RECORDS: Final = Primitive("RECORDS", None, None)

PRIMITIVES: Final = (BOOL, INT8, INT16, INT32, INT64, UINT16, FLOAT64, UUID, STRING, BYTES, RECORDS)


class _NoDefault:
    """Marker: the field takes its type's default."""

    def __repr__(self) -> str:
        return "<type default>"


NO_DEFAULT: Final = _NoDefault()


class Struct:
    """A named struct: Kafka's struct type name and its ordered fields."""

    __slots__ = ("name", "fields")

    def __init__(self, name: str, fields: Sequence[Field]) -> None:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"struct name {name!r} is not a Python identifier")
        fields = tuple(fields)
        seen: set[str] = set()
        tags: set[int] = set()
        for field in fields:
            if not isinstance(field, Field):
                raise TypeError(f"struct {name}: {field!r} is not a Field")
            if field.name in seen:
                raise ValueError(f"struct {name}: field {field.name!r} declared twice")
            seen.add(field.name)
            if field.tag is not None:
                if field.tag in tags:
                    raise ValueError(f"struct {name}: tag {field.tag} used twice")
                tags.add(field.tag)
        self.name = name
        self.fields: tuple[Field, ...] = fields

    def __repr__(self) -> str:
        return f"Struct({self.name!r}, <{len(self.fields)} fields>)"


class Array:
    """An array of a primitive or of a struct."""

    __slots__ = ("element",)

    def __init__(self, element: Primitive | Struct) -> None:
        if not isinstance(element, Primitive | Struct):
            raise TypeError(f"array element must be a primitive or a Struct, got {element!r}")
        if element is RECORDS:
            raise TypeError("arrays of RECORDS are not a Kafka type")
        self.element = element

    def __repr__(self) -> str:
        return f"Array({self.element!r})"


FieldType = Primitive | Array | Struct


class Field:
    """One field of a struct, with the versions it exists in and how it is encoded."""

    __slots__ = (
        "name",
        "type",
        "versions",
        "nullable_versions",
        "tag",
        "tagged_versions",
        "ignorable",
        "_default",
    )

    def __init__(
        self,
        name: str,
        type: FieldType,  # the DSL contract names it `type`
        versions: str = "0+",
        *,
        nullable: str = "none",
        tag: int | None = None,
        tagged_versions: str = "none",
        default: object = NO_DEFAULT,
        ignorable: bool = False,
    ) -> None:
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise ValueError(f"field name {name!r} must be a snake_case identifier")
        if not isinstance(type, Primitive | Array | Struct):
            raise TypeError(f"field {name}: type must be a primitive, Array or Struct")
        self.name = name
        self.type = type
        self.versions = VersionRange.parse(versions)
        self.nullable_versions = VersionRange.parse(nullable)
        if isinstance(type, Struct) and not self.nullable_versions.is_empty:
            raise ValueError(f"field {name}: nullable non-array structs are not supported")
        if isinstance(type, Primitive) and type.struct_code is not None:
            if not self.nullable_versions.is_empty:
                raise ValueError(f"field {name}: {type.name} cannot be nullable")
        if tag is not None and (not isinstance(tag, int) or tag < 0):
            raise ValueError(f"field {name}: tag must be a non-negative int, got {tag!r}")
        self.tag = tag
        parsed_tagged = VersionRange.parse(tagged_versions)
        if tag is not None and parsed_tagged.is_empty:
            parsed_tagged = self.versions
        if tag is None and not parsed_tagged.is_empty:
            raise ValueError(f"field {name}: tagged_versions given without a tag")
        self.tagged_versions = parsed_tagged
        self.ignorable = ignorable
        self._default = default

    @property
    def is_nullable_somewhere(self) -> bool:
        return not self.nullable_versions.is_empty or self.type is RECORDS

    @property
    def has_mutable_default(self) -> bool:
        """True when each instance needs a fresh default (a list or a struct)."""
        if isinstance(self.type, Struct):
            return self._default is NO_DEFAULT
        if isinstance(self.type, Array):
            return isinstance(self._default, list) or (
                self._default is NO_DEFAULT and not self.is_nullable_somewhere
            )
        return False

    @property
    def default(self) -> object:
        """The immutable default value, or a fresh copy of a list default.

        Struct fields without an explicit default answer None here: the class
        builder creates a fresh instance of the struct's class instead.
        """
        if self._default is not NO_DEFAULT:
            return list(self._default) if isinstance(self._default, list) else self._default
        if isinstance(self.type, Struct):
            return None
        if self.is_nullable_somewhere:
            return None
        if isinstance(self.type, Array):
            return []
        return self.type.default

    def is_present(self, version: int) -> bool:
        """Whether the field is written as a regular (untagged) field in `version`."""
        return self.tag is None and version in self.versions

    def is_tagged(self, version: int) -> bool:
        """Whether the field is written in the tagged section in `version`."""
        return self.tag is not None and version in self.tagged_versions and version in self.versions

    def is_nullable(self, version: int) -> bool:
        return self.type is RECORDS or version in self.nullable_versions

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.type!r}, {str(self.versions)!r})"


def nested_structs(struct: Struct) -> list[tuple[Struct, Struct]]:
    """Every (parent, child) struct pair below `struct`, depth first, in declaration order."""
    found: list[tuple[Struct, Struct]] = []
    for field in struct.fields:
        child = field.type.element if isinstance(field.type, Array) else field.type
        if isinstance(child, Struct):
            found.append((struct, child))
            found.extend(nested_structs(child))
    return found
