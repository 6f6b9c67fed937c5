"""A snapshot of the metadata state as bytes: what the Raft log keeps instead of old entries.

The snapshot is the state's image (MetadataState.to_image) as one JSON document:
brokers keep their epochs and fencing, partitions their epochs, so a node that
restores it is equal to one that replayed every record. Versioned like records.
"""

from __future__ import annotations

from typing import Any

import cattrs
import orjson

from flowlog.controller.metadata_records import ConfigResourceType
from flowlog.controller.metadata_state import (
    MetadataImage,
    MetadataInconsistencyError,
    MetadataState,
)

SNAPSHOT_FORMAT_VERSION = 1


class MetadataSnapshotError(ValueError):
    """Bytes that are not a metadata snapshot this code can read."""


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_unstructure_hook(bytes, bytes.hex)
    converter.register_structure_hook(bytes, lambda value, _: bytes.fromhex(value))
    converter.register_structure_hook(
        ConfigResourceType, lambda value, _: ConfigResourceType(int(value))
    )
    return converter


_CONVERTER = _make_converter()


def encode_snapshot(state: MetadataState) -> bytes:
    document: dict[str, Any] = {
        "version": SNAPSHOT_FORMAT_VERSION,
        "image": _CONVERTER.unstructure(state.to_image()),
    }
    return orjson.dumps(document)


def decode_snapshot(data: bytes) -> MetadataState:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise MetadataSnapshotError(f"metadata snapshot is not JSON: {error}") from error
    if not isinstance(document, dict) or document.get("version") != SNAPSHOT_FORMAT_VERSION:
        raise MetadataSnapshotError(f"not a version {SNAPSHOT_FORMAT_VERSION} metadata snapshot")
    try:
        image = _CONVERTER.structure(document["image"], MetadataImage)
        return MetadataState.from_image(image)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as error:
        raise MetadataSnapshotError(f"bad metadata snapshot: {error}") from error
    except MetadataInconsistencyError as error:
        raise MetadataSnapshotError(f"inconsistent metadata snapshot: {error}") from error
