"""Generate the encoder and decoder of a message at one version, as Python source.

For each (top-level struct, version, direction) one source text is built,
holding a function per struct of the message, and exec'd once. The functions
read and write straight-line code: runs of fixed-size fields become a single
`struct.Struct` pack/unpack, and nothing interprets the declaration at run time.

Encoders have the shape `encode_X(obj, parts)` and append bytes-like pieces to
`parts` (joined once by the caller, so a records blob is copied only there).
Decoders have the shape `decode_X(buffer, offset) -> (obj, next offset)` over a
memoryview; every length is checked against the bytes left before use.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from flowlog.protocol import primitives
from flowlog.protocol.declarations import (
    BYTES,
    RECORDS,
    STRING,
    UUID,
    UUID_SIZE_BYTES,
    Array,
    Field,
    FieldType,
    Primitive,
    Struct,
)
from flowlog.protocol.errors import DecodeError, EncodeError, UnsupportedVersionError
from flowlog.protocol.message_class import Message

Encoder = Callable[[Any, list[Any]], None]
Decoder = Callable[[memoryview, int], tuple[Any, int]]

# Widest value shown inside an error message.
ERROR_VALUE_CHARS_MAX = 80


class _Unit:
    """Source and namespace of one (message, version, direction) compilation."""

    def __init__(self, top: Struct, top_class: type[Message], version: int, flexible: bool) -> None:
        self.top = top
        self.top_class = top_class
        self.version = version
        self.flexible = flexible
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {
            "struct": struct,
            "DecodeError": DecodeError,
            "EncodeError": EncodeError,
            "UnsupportedVersionError": UnsupportedVersionError,
            "MalformedError": primitives.MalformedError,
            "new_object": object.__new__,
            "write_uvarint": primitives.write_unsigned_varint,
            "read_uvarint": primitives.read_unsigned_varint,
            "INT16": primitives.INT16,
            "INT32": primitives.INT32,
            "UUID_STRUCT": struct.Struct(">16s"),
            "pack": struct.pack,
            "unpack_from": struct.unpack_from,
            "short_repr": _short_repr,
            "problem": _problem,
        }
        self._constants: dict[int, str] = {}
        self._temporary_count = 0
        self.context = f"{top.name} v{version}"

    def constant(self, value: object, hint: str) -> str:
        """Name under which `value` is reachable from the generated code."""
        known = self._constants.get(id(value))
        if known is not None and self.namespace[known] is value:
            return known
        name = f"{hint}_{len(self._constants)}"
        self._constants[id(value)] = name
        self.namespace[name] = value
        return name

    def temporary(self, hint: str) -> str:
        self._temporary_count += 1
        return f"{hint}_{self._temporary_count}"

    def class_of(self, struct_declaration: Struct) -> type[Message]:
        if struct_declaration is self.top:
            return self.top_class
        found = getattr(self.top_class, struct_declaration.name, None)
        assert isinstance(found, type), f"no class for {struct_declaration.name}"
        return found

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def source(self) -> str:
        return "\n".join(self.lines) + "\n"

    def run(self, entry: str) -> Any:
        code = compile(self.source(), f"<generated {self.context} {entry}>", "exec")
        exec(code, self.namespace)
        return self.namespace[entry]


def _short_repr(value: object) -> str:
    text = repr(value)
    if len(text) > ERROR_VALUE_CHARS_MAX:
        return text[: ERROR_VALUE_CHARS_MAX - 3] + "..."
    return text


def _problem(error: BaseException) -> str:
    if isinstance(error, IndexError):
        return "the frame ends early (truncated)"
    return f"{error}"


def _all_structs(top: Struct) -> list[Struct]:
    found = [top]
    pending = [top]
    while pending:
        current = pending.pop()
        for field in current.fields:
            child = field.type.element if isinstance(field.type, Array) else field.type
            if isinstance(child, Struct) and all(child is not s for s in found):
                found.append(child)
                pending.append(child)
    return found


def _struct_code(field_type: FieldType) -> str | None:
    return field_type.struct_code if isinstance(field_type, Primitive) else None


def _fixed_runs(fields: list[Field]) -> list[list[Field]]:
    """Group consecutive fixed-size fields so each group packs with one struct.Struct."""
    groups: list[list[Field]] = []
    for field in fields:
        fixed = _struct_code(field.type) is not None
        if fixed and groups and _struct_code(groups[-1][0].type) is not None:
            groups[-1].append(field)
        else:
            groups.append([field])
    return groups


def min_size_bytes(field_type: FieldType, version: int, flexible: bool) -> int:
    """Fewest bytes a value of `field_type` can take on the wire (bounds array counts)."""
    if isinstance(field_type, Primitive):
        code = field_type.struct_code
        if code is not None:
            return struct.calcsize(">" + code)
        if flexible:
            return 1
        return 2 if field_type is STRING else 4
    if isinstance(field_type, Array):
        return 1 if flexible else 4
    total = 1 if flexible else 0
    for field in field_type.fields:
        if field.is_present(version):
            total += min_size_bytes(field.type, version, flexible)
    return total


# ---------------------------------------------------------------- encoders


def compile_encoder(
    top: Struct,
    top_class: type[Message],
    version: int,
    flexible: bool,
    *,
    strict_absent_fields: bool = True,
) -> Encoder:
    """Generate, exec and return `encode_<Top>(obj, parts)` for `version`.

    With strict_absent_fields, a non-default value in a non-ignorable field the
    version lacks is an error (Kafka's rule); without it, such values are dropped.
    """
    unit = _Unit(top, top_class, version, flexible)
    for declaration in _all_structs(top):
        _emit_struct_encoder(unit, declaration, strict_absent_fields)
    encoder: Encoder = unit.run(f"encode_{top.name}")
    return encoder


def encoder_source(top: Struct, top_class: type[Message], version: int, flexible: bool) -> str:
    """The generated encoder source, for reading and debugging."""
    unit = _Unit(top, top_class, version, flexible)
    for declaration in _all_structs(top):
        _emit_struct_encoder(unit, declaration)
    return unit.source()


def _emit_struct_encoder(
    unit: _Unit, declaration: Struct, strict_absent_fields: bool = True
) -> None:
    version = unit.version
    unit.emit(0, f"def encode_{declaration.name}(obj, parts):")
    unit.emit(1, "append = parts.append")
    unit.emit(1, "field = ''")
    unit.emit(1, "try:")
    present = [f for f in declaration.fields if f.is_present(version)]
    for field in declaration.fields:
        if not field.is_present(version) and not field.is_tagged(version):
            if strict_absent_fields and not field.ignorable:
                _emit_absent_check(unit, declaration, field)
    for group in _fixed_runs(present):
        _emit_encode_group(unit, group)
    if unit.flexible:
        _emit_tagged_encoder(unit, declaration)
    unit.emit(2, "return None")
    unit.emit(1, "except (EncodeError, UnsupportedVersionError):")
    unit.emit(2, "raise")
    unit.emit(1, "except (struct.error, AttributeError, TypeError, ValueError, OverflowError) as error:")
    unit.emit(
        2,
        f"raise EncodeError(f'{unit.context}: cannot encode {declaration.name}.{{field}}: "
        f"{{error}}') from error",
    )
    unit.emit(0, "")


def _emit_absent_check(unit: _Unit, declaration: Struct, field: Field) -> None:
    default_name = unit.constant(_comparison_default(unit, field), "default")
    unit.emit(2, f"if obj.{field.name} != {default_name}:")
    unit.emit(
        3,
        f"raise UnsupportedVersionError(f'{unit.context}: field {declaration.name}.{field.name} "
        f"does not exist in this version but is set to {{short_repr(obj.{field.name})}}')",
    )


def _comparison_default(unit: _Unit, field: Field) -> object:
    if isinstance(field.type, Struct) and field.has_mutable_default:
        return unit.class_of(field.type)()
    return field.default


def _emit_encode_group(unit: _Unit, group: list[Field]) -> None:
    first = group[0]
    if _struct_code(first.type) is None:
        unit.emit(2, f"field = {first.name!r}")
        value = unit.temporary("value")
        unit.emit(2, f"{value} = obj.{first.name}")
        _emit_encode_value(unit, 2, first.type, value, first.is_nullable(unit.version), "append", "parts")
        return
    unit.emit(2, f"field = {', '.join(f.name for f in group)!r}")
    packer = unit.constant(struct.Struct(">" + "".join(_struct_code(f.type) or "" for f in group)), "packer")
    for field in group:
        if field.type is UUID:
            _emit_uuid_check(unit, 2, f"obj.{field.name}")
    arguments = ", ".join(f"obj.{f.name}" for f in group)
    unit.emit(2, f"append({packer}.pack({arguments}))")


def _emit_uuid_check(unit: _Unit, indent: int, value: str) -> None:
    unit.emit(indent, f"if len({value}) != {UUID_SIZE_BYTES}:")
    unit.emit(indent + 1, f"raise ValueError(f'a UUID is 16 bytes, got {{short_repr({value})}}')")


def _emit_length(unit: _Unit, indent: int, length: str, append: str, four_bytes: bool) -> None:
    if unit.flexible:
        unit.emit(indent, f"{append}(write_uvarint({length} + 1))")
    elif four_bytes:
        unit.emit(indent, f"{append}(INT32.pack({length}))")
    else:
        unit.emit(indent, f"{append}(INT16.pack({length}))")


def _null_marker(unit: _Unit, four_bytes: bool) -> bytes:
    if unit.flexible:
        return b"\x00"
    return primitives.NULL_INT32_LENGTH if four_bytes else primitives.NULL_INT16_LENGTH


def _emit_encode_value(
    unit: _Unit, indent: int, field_type: FieldType, value: str, nullable: bool, append: str, parts: str
) -> None:
    """Code appending the encoding of local `value` via `append` (a list's append)."""
    if isinstance(field_type, Struct):
        unit.emit(indent, f"encode_{field_type.name}({value}, {parts})")
        return
    four_bytes = field_type is not STRING
    if nullable:
        unit.emit(indent, f"if {value} is None:")
        unit.emit(indent + 1, f"{append}({_null_marker(unit, four_bytes)!r})")
        unit.emit(indent, "else:")
        indent += 1
    if isinstance(field_type, Array):
        _emit_encode_array(unit, indent, field_type, value, append, parts)
        return
    code = field_type.struct_code
    if code is not None:
        if field_type is UUID:
            _emit_uuid_check(unit, indent, value)
        packer = unit.constant(struct.Struct(">" + code), "packer")
        unit.emit(indent, f"{append}({packer}.pack({value}))")
    elif field_type is STRING:
        data = unit.temporary("data")
        unit.emit(indent, f"{data} = {value}.encode('utf-8')")
        _emit_length(unit, indent, f"len({data})", append, four_bytes=False)
        unit.emit(indent, f"{append}({data})")
    else:
        _emit_length(unit, indent, f"len({value})", append, four_bytes=True)
        unit.emit(indent, f"{append}({value})")


def _emit_encode_array(
    unit: _Unit, indent: int, array: Array, value: str, append: str, parts: str
) -> None:
    _emit_length(unit, indent, f"len({value})", append, four_bytes=True)
    element = array.element
    code = _struct_code(element)
    if code is not None and element is not UUID:
        unit.emit(indent, f"{append}(pack('>' + str(len({value})) + {code!r}, *{value}))")
        return
    item = unit.temporary("item")
    unit.emit(indent, f"for {item} in {value}:")
    _emit_encode_value(unit, indent + 1, element, item, False, append, parts)


def _emit_tagged_encoder(unit: _Unit, declaration: Struct) -> None:
    tagged = sorted(
        (f for f in declaration.fields if f.is_tagged(unit.version)), key=lambda f: f.tag or 0
    )
    if not tagged:
        unit.emit(2, "append(b'\\x00')")
        return
    unit.emit(2, "tagged = []")
    for field in tagged:
        default_name = unit.constant(_comparison_default(unit, field), "default")
        value = unit.temporary("value")
        unit.emit(2, f"field = {field.name!r}")
        unit.emit(2, f"{value} = obj.{field.name}")
        unit.emit(2, f"if {value} != {default_name}:")
        pieces = unit.temporary("pieces")
        unit.emit(3, f"{pieces} = []")
        _emit_encode_value(
            unit, 3, field.type, value, field.is_nullable(unit.version), f"{pieces}.append", pieces
        )
        blob = unit.temporary("blob")
        unit.emit(3, f"{blob} = b''.join({pieces})")
        unit.emit(3, f"tagged.append(write_uvarint({field.tag}) + write_uvarint(len({blob})))")
        unit.emit(3, f"tagged.append({blob})")
    unit.emit(2, "append(write_uvarint(len(tagged) // 2))")
    unit.emit(2, "parts.extend(tagged)")


# ---------------------------------------------------------------- decoders


def compile_decoder(top: Struct, top_class: type[Message], version: int, flexible: bool) -> Decoder:
    """Generate, exec and return `decode_<Top>(buffer, offset) -> (obj, offset)`."""
    unit = _Unit(top, top_class, version, flexible)
    for declaration in _all_structs(top):
        _emit_struct_decoder(unit, declaration)
    decoder: Decoder = unit.run(f"decode_{top.name}")
    return decoder


def decoder_source(top: Struct, top_class: type[Message], version: int, flexible: bool) -> str:
    """The generated decoder source, for reading and debugging."""
    unit = _Unit(top, top_class, version, flexible)
    for declaration in _all_structs(top):
        _emit_struct_decoder(unit, declaration)
    return unit.source()


def _emit_struct_decoder(unit: _Unit, declaration: Struct) -> None:
    version = unit.version
    unit.emit(0, f"def decode_{declaration.name}(buffer, offset):")
    unit.emit(1, "field = ''")
    unit.emit(1, "try:")
    unit.emit(2, "end = len(buffer)")
    present = [f for f in declaration.fields if f.is_present(version)]
    for group in _fixed_runs(present):
        _emit_decode_group(unit, group)
    if unit.flexible:
        _emit_tagged_decoder(unit, declaration)
    class_name = unit.constant(unit.class_of(declaration), "cls")
    unit.emit(2, f"obj = new_object({class_name})")
    for field in declaration.fields:
        if field.is_present(version) or field.is_tagged(version):
            unit.emit(2, f"obj.{field.name} = v_{field.name}")
        else:
            unit.emit(2, f"obj.{field.name} = {_default_expression(unit, field)}")
    unit.emit(2, "return obj, offset")
    unit.emit(1, "except DecodeError:")
    unit.emit(2, "raise")
    unit.emit(1, "except (struct.error, IndexError, ValueError) as error:")
    unit.emit(
        2,
        f"raise DecodeError(f'{unit.context}: cannot decode {declaration.name}.{{field}} "
        f"at byte {{offset}}: {{problem(error)}}') from error",
    )
    unit.emit(0, "")


def _default_expression(unit: _Unit, field: Field) -> str:
    """Source of a fresh default value for a field absent from the wire."""
    if field.has_mutable_default:
        if isinstance(field.type, Struct):
            return f"{unit.constant(unit.class_of(field.type), 'cls')}()"
        return f"list({unit.constant(field.default, 'default')})"
    return unit.constant(field.default, "default")


def _emit_decode_group(unit: _Unit, group: list[Field]) -> None:
    first = group[0]
    if _struct_code(first.type) is None:
        unit.emit(2, f"field = {first.name!r}")
        _emit_decode_value(unit, 2, first.type, f"v_{first.name}", first.is_nullable(unit.version))
        return
    layout = struct.Struct(">" + "".join(_struct_code(f.type) or "" for f in group))
    unpacker = unit.constant(layout, "unpacker")
    unit.emit(2, f"field = {', '.join(f.name for f in group)!r}")
    targets = "".join(f"v_{f.name}, " for f in group)
    unit.emit(2, f"{targets}= {unpacker}.unpack_from(buffer, offset)")
    unit.emit(2, f"offset += {layout.size}")


def _emit_read_length(unit: _Unit, indent: int, target: str, four_bytes: bool) -> None:
    if unit.flexible:
        unit.emit(indent, f"{target} = buffer[offset]")
        unit.emit(indent, f"if {target} < 128:")
        unit.emit(indent + 1, "offset += 1")
        unit.emit(indent, "else:")
        unit.emit(indent + 1, f"{target}, offset = read_uvarint(buffer, offset)")
        unit.emit(indent, f"{target} -= 1")
    else:
        reader = "INT32" if four_bytes else "INT16"
        unit.emit(indent, f"{target} = {reader}.unpack_from(buffer, offset)[0]")
        unit.emit(indent, f"offset += {4 if four_bytes else 2}")


def _emit_null_branch(
    unit: _Unit, indent: int, length: str, target: str, nullable: bool, what: str
) -> int:
    """Handle a negative length; return the indent of the non-null branch."""
    unit.emit(indent, f"if {length} < 0:")
    if nullable:
        unit.emit(indent + 1, f"if {length} != -1:")
        unit.emit(indent + 2, f"raise MalformedError(f'invalid {what} length {{{length}}}')")
        unit.emit(indent + 1, f"{target} = None")
    else:
        unit.emit(
            indent + 1,
            f"raise MalformedError(f'null or negative {what} length {{{length}}} "
            f"where null is not allowed')",
        )
    unit.emit(indent, "else:")
    return indent + 1


def _emit_decode_value(
    unit: _Unit, indent: int, field_type: FieldType, target: str, nullable: bool
) -> None:
    """Code decoding one value at `offset` into local `target`, advancing `offset`."""
    if isinstance(field_type, Struct):
        unit.emit(indent, f"{target}, offset = decode_{field_type.name}(buffer, offset)")
        return
    if isinstance(field_type, Array):
        _emit_decode_array(unit, indent, field_type, target, nullable)
        return
    code = field_type.struct_code
    if code is not None:
        layout = struct.Struct(">" + code)
        unit.emit(indent, f"{target} = {unit.constant(layout, 'unpacker')}.unpack_from(buffer, offset)[0]")
        unit.emit(indent, f"offset += {layout.size}")
        return
    length = unit.temporary("length")
    _emit_read_length(unit, indent, length, four_bytes=field_type is not STRING)
    what = field_type.name.lower()
    inner = _emit_null_branch(unit, indent, length, target, nullable, what)
    stop = unit.temporary("stop")
    unit.emit(inner, f"{stop} = offset + {length}")
    unit.emit(inner, f"if {stop} > end:")
    unit.emit(
        inner + 1,
        f"raise MalformedError(f'{what} length {{{length}}} exceeds the {{end - offset}} bytes left')",
    )
    if field_type is STRING:
        unit.emit(inner, f"{target} = str(buffer[offset:{stop}], 'utf-8')")
    elif field_type is BYTES:
        unit.emit(inner, f"{target} = bytes(buffer[offset:{stop}])")
    else:
        assert field_type is RECORDS
        # Zero-copy: a view of the frame; the caller decides when (if ever) to copy.
        unit.emit(inner, f"{target} = buffer[offset:{stop}]")
    unit.emit(inner, f"offset = {stop}")


def _emit_decode_array(unit: _Unit, indent: int, array: Array, target: str, nullable: bool) -> None:
    count = unit.temporary("count")
    _emit_read_length(unit, indent, count, four_bytes=True)
    inner = _emit_null_branch(unit, indent, count, target, nullable, "array")
    element = array.element
    element_size = max(1, min_size_bytes(element, unit.version, unit.flexible))
    # A count larger than the bytes left could hold is a lie: fail before allocating.
    unit.emit(inner, f"if {count} * {element_size} > end - offset:")
    unit.emit(
        inner + 1,
        f"raise MalformedError(f'array of {{{count}}} elements cannot fit in the "
        f"{{end - offset}} bytes left')",
    )
    code = _struct_code(element)
    if code is not None and element is not UUID:
        unit.emit(inner, f"{target} = list(unpack_from('>' + str({count}) + {code!r}, buffer, offset))")
        unit.emit(inner, f"offset += {count} * {element_size}")
        return
    item = unit.temporary("item")
    unit.emit(inner, f"{target} = []")
    unit.emit(inner, f"for _ in range({count}):")
    _emit_decode_value(unit, inner + 1, element, item, False)
    unit.emit(inner + 1, f"{target}.append({item})")


def _emit_tagged_decoder(unit: _Unit, declaration: Struct) -> None:
    tagged = sorted(
        (f for f in declaration.fields if f.is_tagged(unit.version)), key=lambda f: f.tag or 0
    )
    for field in tagged:
        unit.emit(2, f"v_{field.name} = {_default_expression(unit, field)}")
    unit.emit(2, "field = '<tagged fields>'")
    unit.emit(2, "tag_count, offset = read_uvarint(buffer, offset)")
    # Each tagged field takes at least two bytes (tag and size).
    unit.emit(2, "if tag_count * 2 > end - offset:")
    unit.emit(3, "raise MalformedError(f'{tag_count} tagged fields cannot fit in the bytes left')")
    unit.emit(2, "for _ in range(tag_count):")
    unit.emit(3, "tag, offset = read_uvarint(buffer, offset)")
    unit.emit(3, "tag_size, offset = read_uvarint(buffer, offset)")
    unit.emit(3, "tag_stop = offset + tag_size")
    unit.emit(3, "if tag_stop > end:")
    unit.emit(4, "raise MalformedError(f'tag {tag} size {tag_size} exceeds the bytes left')")
    keyword = "if"
    for field in tagged:
        unit.emit(3, f"{keyword} tag == {field.tag}:")
        unit.emit(4, f"field = {field.name!r}")
        _emit_decode_value(unit, 4, field.type, f"v_{field.name}", field.is_nullable(unit.version))
        unit.emit(4, "if offset != tag_stop:")
        unit.emit(5, "raise MalformedError(f'tagged field size {tag_size} does not match its value')")
        unit.emit(4, "field = '<tagged fields>'")
        keyword = "elif"
    unit.emit(3, "offset = tag_stop")
