"""Sans-IO Kafka wire protocol: primitives, message schemas, record batches, error codes.

Imports nothing else from flowlog, and never trio, time or random.
"""
