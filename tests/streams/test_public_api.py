"""Every public name is importable from flowlog_streams and is the object the submodules define."""

from __future__ import annotations

import importlib

import pytest

import flowlog_streams

EXPECTED = {
    "BranchedKStream": "flowlog_streams.kstream",
    "Cancellable": "flowlog_streams.processor",
    "DeadLetterQueue": "flowlog_streams.handlers",
    "ErrorContext": "flowlog_streams.handlers",
    "ExceptionHandler": "flowlog_streams.handlers",
    "HandlerResponse": "flowlog_streams.handlers",
    "KStream": "flowlog_streams.kstream",
    "LogAndContinue": "flowlog_streams.handlers",
    "LogAndFail": "flowlog_streams.handlers",
    "MissingSourceTopicError": "flowlog_streams.errors",
    "Processor": "flowlog_streams.processor",
    "ProcessorContext": "flowlog_streams.processor",
    "ProcessorSupplier": "flowlog_streams.processor",
    "PunctuationType": "flowlog_streams.processor",
    "Record": "flowlog_streams.processor",
    "RecordMetadata": "flowlog_streams.processor",
    "SerializationError": "flowlog_streams.errors",
    "Serde": "flowlog_streams.serdes",
    "Serdes": "flowlog_streams.serdes",
    "StreamsBuilder": "flowlog_streams.builder",
    "StreamsConfig": "flowlog_streams.config",
    "StreamsException": "flowlog_streams.errors",
    "TaskFailedError": "flowlog_streams.errors",
    "TaskId": "flowlog_streams.task_id",
    "Topology": "flowlog_streams.topology",
    "TopologyException": "flowlog_streams.errors",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_name_is_exported_and_is_the_submodule_object(name: str) -> None:
    assert name in flowlog_streams.__all__
    module = importlib.import_module(EXPECTED[name])
    assert getattr(flowlog_streams, name) is getattr(module, name)


def test_all_lists_only_names_that_exist() -> None:
    missing = [name for name in flowlog_streams.__all__ if not hasattr(flowlog_streams, name)]
    assert missing == []
    assert set(EXPECTED) <= set(flowlog_streams.__all__)


def test_star_import_gives_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from flowlog_streams import *", namespace)
    assert set(EXPECTED) <= set(namespace)


def test_exception_hierarchy() -> None:
    for name in ("TopologyException", "SerializationError", "TaskFailedError",
                 "MissingSourceTopicError"):
        assert issubclass(getattr(flowlog_streams, name), flowlog_streams.StreamsException)
    assert issubclass(flowlog_streams.StreamsException, Exception)
    # Kafka Streams' wording: every topology error starts "Invalid topology:".
    assert str(flowlog_streams.TopologyException("x")) == "Invalid topology: x"


def test_punctuation_types_and_handler_responses() -> None:
    assert {t.name for t in flowlog_streams.PunctuationType} == {"STREAM_TIME", "WALL_CLOCK_TIME"}
    assert {r.name for r in flowlog_streams.HandlerResponse} == {"CONTINUE", "FAIL"}


def test_testing_module_names() -> None:
    from flowlog_streams.testing import (
        NoSuchElementError,
        TestInputTopic,
        TestOutputTopic,
        TestRecord,
        TopologyTestDriver,
    )

    assert issubclass(NoSuchElementError, LookupError)
    for cls in (TestInputTopic, TestOutputTopic, TestRecord, TopologyTestDriver):
        assert isinstance(cls, type)
