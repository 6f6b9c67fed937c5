"""The message declaration DSL: `Api` plus the field, struct and type building blocks.

A message module declares one `Api`; the classes of its request and response
are built at declaration time, and their encoders and decoders are generated
lazily, once per (struct, version, direction), the first time a version is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowlog.protocol import codegen
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
    Field,
    Primitive,
    Struct,
)
from flowlog.protocol.errors import UnsupportedVersionError
from flowlog.protocol.message_class import Message, build_message_class
from flowlog.protocol.versions import VersionRange

__all__ = [
    "Api",
    "Array",
    "Field",
    "Message",
    "Primitive",
    "Struct",
    "BOOL",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT16",
    "FLOAT64",
    "STRING",
    "BYTES",
    "RECORDS",
    "UUID",
]

# Largest Kafka API key (int16 on the wire).
MAX_API_KEY = 0x7FFF

Encoder = Callable[[Any, list[bytes]], None]
Decoder = Callable[[memoryview, int], tuple[Any, int]]


class Api:
    """One Kafka API: its key, versions and request/response declarations."""

    def __init__(
        self,
        *,
        key: int,
        name: str,
        valid_versions: str,
        flexible_versions: str,
        request: Struct,
        response: Struct,
    ) -> None:
        if not isinstance(key, int) or not 0 <= key <= MAX_API_KEY:
            raise ValueError(f"api {name!r}: key must be an int in 0..{MAX_API_KEY}, got {key!r}")
        if not isinstance(request, Struct) or not isinstance(response, Struct):
            raise TypeError(f"api {name!r}: request and response must be Struct declarations")
        self.key = key
        self.name = name
        self.valid_versions = VersionRange.parse(valid_versions)
        if self.valid_versions.is_empty:
            raise ValueError(f"api {name!r}: valid_versions must not be 'none'")
        self.flexible_versions = VersionRange.parse(flexible_versions)
        self.request = request
        self.response = response
        self.request_type: type[Message] = build_message_class(request)
        self.response_type: type[Message] = build_message_class(response)
        self._encoders: dict[tuple[bool, int], Encoder] = {}
        self._decoders: dict[tuple[bool, int], Decoder] = {}

    @property
    def min_version(self) -> int:
        return self.valid_versions.lowest

    @property
    def max_version(self) -> int:
        return self.valid_versions.highest

    def is_flexible(self, version: int) -> bool:
        return version in self.flexible_versions

    def check_version(self, version: int) -> None:
        """Raise UnsupportedVersionError unless `version` is one this API declares."""
        if version not in self.valid_versions:
            raise UnsupportedVersionError(
                f"{self.name} v{version} is not supported (valid versions {self.valid_versions})"
            )

    def encoder(self, version: int, *, response: bool) -> Encoder:
        """The generated encoder of the request (or response) body at `version`."""
        cache_key = (response, version)
        found = self._encoders.get(cache_key)
        if found is None:
            self.check_version(version)
            struct, cls = self._side(response)
            # Responses drop fields their version lacks: a broker builds one answer for
            # every version. Requests stay strict, as Kafka's clients are.
            found = codegen.compile_encoder(
                struct, cls, version, self.is_flexible(version), strict_absent_fields=not response
            )
            self._encoders[cache_key] = found
        return found

    def decoder(self, version: int, *, response: bool) -> Decoder:
        """The generated decoder of the request (or response) body at `version`."""
        cache_key = (response, version)
        found = self._decoders.get(cache_key)
        if found is None:
            self.check_version(version)
            struct, cls = self._side(response)
            found = codegen.compile_decoder(struct, cls, version, self.is_flexible(version))
            self._decoders[cache_key] = found
        return found

    def _side(self, response: bool) -> tuple[Struct, type[Message]]:
        if response:
            return self.response, self.response_type
        return self.request, self.request_type

    def __repr__(self) -> str:
        return f"Api(key={self.key}, name={self.name!r}, versions={self.valid_versions})"
