"""Build the Python class of each declared struct: slots, keyword constructor, eq, repr.

One class serves every version of a message. The constructor is generated
source (exec'd once per struct) so that building responses costs no
per-field interpretation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlog.protocol.declarations import Array, Field, Struct

if TYPE_CHECKING:

    class _MessageType(type):
        # Nested struct classes are attached at run time (ProduceRequest.TopicProduceData).
        def __getattr__(cls, name: str) -> Any: ...

else:
    _MessageType = type


class Message(metaclass=_MessageType):
    """Base of every generated message and struct class."""

    __slots__ = ()
    # The declaration the class was built from, and its field names in wire order.
    STRUCT: Struct
    FIELD_NAMES: tuple[str, ...] = ()

    if TYPE_CHECKING:

        def __init__(self, **fields: Any) -> None: ...

        def __getattr__(self, name: str) -> Any: ...

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.FIELD_NAMES)

    __hash__ = None  # type: ignore[assignment]  # mutable: instances are not hashable

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELD_NAMES)
        return f"{type(self).__name__}({shown})"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


def build_message_class(top: Struct) -> type[Message]:
    """Classes for `top` and its nested structs; nested ones hang off their parent and `top`."""
    built: dict[str, type[Message]] = {}
    top_class = _build(top, built, top.name)
    for name, cls in built.items():
        if cls is not top_class:
            _attach(top_class, name, cls, top.name)
    return top_class


def _build(struct: Struct, built: dict[str, type[Message]], message_name: str) -> type[Message]:
    if struct.name in built:
        raise ValueError(f"{message_name}: struct name {struct.name!r} is declared twice")
    children: dict[str, type[Message]] = {}
    for field in struct.fields:
        child = field.type.element if isinstance(field.type, Array) else field.type
        if isinstance(child, Struct):
            children[child.name] = _build(child, built, message_name)
    namespace: dict[str, Any] = {
        "__slots__": tuple(field.name for field in struct.fields),
        "STRUCT": struct,
        "FIELD_NAMES": tuple(field.name for field in struct.fields),
        "__init__": _make_init(struct, children),
        "__module__": "flowlog.protocol.generated",
        "__qualname__": struct.name,
    }
    cls = type(struct.name, (Message,), namespace)
    for name, child_class in children.items():
        _attach(cls, name, child_class, message_name)
    built[struct.name] = cls
    return cls


def _attach(parent: type[Message], name: str, child: type[Message], message_name: str) -> None:
    if name in parent.FIELD_NAMES:
        raise ValueError(f"{message_name}: struct {name!r} clashes with a field of {parent}")
    setattr(parent, name, child)


def _make_init(struct: Struct, children: dict[str, type[Message]]) -> Any:
    namespace: dict[str, Any] = {"MISSING": MISSING}
    parameters: list[str] = []
    body: list[str] = []
    for index, field in enumerate(struct.fields):
        name = field.name
        if field.has_mutable_default:
            parameters.append(f"{name}=MISSING")
            body.append(f"    self.{name} = {_fresh_default(field, index, namespace, children)} "
                        f"if {name} is MISSING else {name}")
        else:
            namespace[f"default_{index}"] = field.default
            parameters.append(f"{name}=default_{index}")
            body.append(f"    self.{name} = {name}")
    if not body:
        body.append("    pass")
    signature = ", ".join(["self", "*", *parameters]) if parameters else "self"
    source = f"def __init__({signature}):\n" + "\n".join(body) + "\n"
    exec(compile(source, f"<generated {struct.name}.__init__>", "exec"), namespace)
    return namespace["__init__"]


def _fresh_default(
    field: Field, index: int, namespace: dict[str, Any], children: dict[str, type[Message]]
) -> str:
    if isinstance(field.type, Struct):
        namespace[f"struct_{index}"] = children[field.type.name]
        return f"struct_{index}()"
    namespace[f"default_list_{index}"] = field.default
    return f"list(default_list_{index})"
