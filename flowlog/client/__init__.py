"""flowlog's trio client for Kafka-protocol brokers (flowlog, Apache Kafka, Redpanda).

Imports only flowlog.protocol, never broker internals. See docs/client.md.
"""

from flowlog.client.admin import Admin, ConfigEntry, ConfigResource, NewTopic, TopicDescription
from flowlog.client.consumer import Consumer
from flowlog.client.errors import BrokerResponseError, KafkaError
from flowlog.client.group import RebalanceListener
from flowlog.client.producer import DeliveryHandle, Producer
from flowlog.client.types import ConsumerRecord, OffsetAndMetadata, RecordMetadata, TopicPartition

__all__ = [
    "Admin",
    "BrokerResponseError",
    "ConfigEntry",
    "ConfigResource",
    "Consumer",
    "ConsumerRecord",
    "DeliveryHandle",
    "KafkaError",
    "NewTopic",
    "OffsetAndMetadata",
    "Producer",
    "RebalanceListener",
    "RecordMetadata",
    "TopicDescription",
    "TopicPartition",
]
