"""flowlog: a log-based streaming platform that speaks the Apache Kafka wire protocol."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["BrokerThread", "__version__", "embedded_broker"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import flowlog.protocol` does not load the broker.
    if name in ("embedded_broker", "BrokerThread"):
        from flowlog import embedded

        return getattr(embedded, name)
    raise AttributeError(f"module 'flowlog' has no attribute {name!r}")
