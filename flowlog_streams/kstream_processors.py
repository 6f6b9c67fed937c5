"""The processors behind KStream's stateless operations (one small class each)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from flowlog_streams.errors import StreamsException
from flowlog_streams.processor import Processor, ProcessorContext, Record

Predicate = Callable[[Any, Any], Any]


class _Forwarding(Processor):
    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self.forward = context.forward


class FilterProcessor(_Forwarding):
    def __init__(self, predicate: Predicate) -> None:
        self._predicate = predicate

    def process(self, record: Record) -> None:
        if self._predicate(record.key, record.value):
            self.forward(record)


class FilterNotProcessor(_Forwarding):
    def __init__(self, predicate: Predicate) -> None:
        self._predicate = predicate

    def process(self, record: Record) -> None:
        if not self._predicate(record.key, record.value):
            self.forward(record)


class MapValuesProcessor(_Forwarding):
    def __init__(self, mapper: Callable[[Any], Any]) -> None:
        self._mapper = mapper

    def process(self, record: Record) -> None:
        self.forward(Record(record.key, self._mapper(record.value), record.timestamp, record.headers))


class MapProcessor(_Forwarding):
    def __init__(self, mapper: Callable[[Any, Any], Any]) -> None:
        self._mapper = mapper

    def process(self, record: Record) -> None:
        key, value = _pair(self._mapper(record.key, record.value), "map")
        self.forward(Record(key, value, record.timestamp, record.headers))


class SelectKeyProcessor(_Forwarding):
    def __init__(self, mapper: Callable[[Any, Any], Any]) -> None:
        self._mapper = mapper

    def process(self, record: Record) -> None:
        self.forward(Record(self._mapper(record.key, record.value), record.value,
                            record.timestamp, record.headers))


class FlatMapProcessor(_Forwarding):
    def __init__(self, mapper: Callable[[Any, Any], Iterable[Any]]) -> None:
        self._mapper = mapper

    def process(self, record: Record) -> None:
        for pair in _iterable(self._mapper(record.key, record.value), "flat_map"):
            key, value = _pair(pair, "flat_map")
            self.forward(Record(key, value, record.timestamp, record.headers))


class FlatMapValuesProcessor(_Forwarding):
    def __init__(self, mapper: Callable[[Any], Iterable[Any]]) -> None:
        self._mapper = mapper

    def process(self, record: Record) -> None:
        for value in _iterable(self._mapper(record.value), "flat_map_values"):
            self.forward(Record(record.key, value, record.timestamp, record.headers))


class PeekProcessor(_Forwarding):
    def __init__(self, action: Callable[[Any, Any], Any]) -> None:
        self._action = action

    def process(self, record: Record) -> None:
        self._action(record.key, record.value)
        self.forward(record)


class ForeachProcessor(Processor):
    def __init__(self, action: Callable[[Any, Any], Any]) -> None:
        self._action = action

    def process(self, record: Record) -> None:
        self._action(record.key, record.value)


class PassThroughProcessor(_Forwarding):
    """Merge points and branch children: forward what arrives."""

    def process(self, record: Record) -> None:
        self.forward(record)


class DropNullKeysProcessor(_Forwarding):
    """Before a grouping's repartition topic: a null key cannot be grouped (counted, not lost)."""

    def __init__(self, store_name: str) -> None:
        self._store_name = store_name

    def process(self, record: Record) -> None:
        if record.key is None:
            self.context.record_dropped("null_key", self._store_name)  # type: ignore[attr-defined]
            return
        self.forward(record)


class BranchProcessor(_Forwarding):
    """A record goes to the first branch whose predicate holds, else to the default branch (if any).

    `predicates` and `children` are the splitter's live lists: branches added
    after the processor was built still count, as Kafka Streams' KStreamBranch.
    """

    def __init__(self, predicates: Sequence[Predicate], children: Sequence[str],
                 default_child: list[str]) -> None:
        self._predicates = predicates
        self._children = children
        self._default_child = default_child

    def process(self, record: Record) -> None:
        for predicate, child in zip(self._predicates, self._children, strict=False):
            if predicate(record.key, record.value):
                self.forward(record, child)
                return
        if self._default_child:
            self.forward(record, self._default_child[0])


def _pair(result: Any, what: str) -> tuple[Any, Any]:
    if isinstance(result, tuple) and len(result) == 2:
        return result
    if isinstance(result, list | tuple) and len(result) == 2:
        return result[0], result[1]
    raise StreamsException(f"{what} must return a (key, value) pair, got {result!r}")


def _iterable(result: Any, what: str) -> Iterable[Any]:
    if result is None or isinstance(result, str | bytes) or not hasattr(result, "__iter__"):
        raise StreamsException(f"{what} must return an iterable, got {result!r}")
    return result
