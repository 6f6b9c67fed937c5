"""Benchmarks talk to brokers on this machine only: a bootstrap must be a loopback address.

Standard library only: the Quix Streams apps import it from their own venv (run as scripts,
so `bench/` is on their path), the flowlog apps as `bench.loopback`.
"""

from __future__ import annotations

import ipaddress


def is_loopback(bootstrap: str) -> bool:
    host = bootstrap.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
