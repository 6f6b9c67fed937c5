"""What a failed TCP dial says about the other end.

A refused connection (ECONNREFUSED: the host answered, but nothing listens on the port)
after that address once accepted means the process that listened is gone: a killed
process's kernel closes its listener at once. A dial that times out or fails otherwise
(a partition, a stalled host) proves nothing. Used by the controller's broker watch
(controller/broker_liveness.py) and the Raft transport (raft/transport.py).
"""

from __future__ import annotations

import errno


def is_refusal(error: BaseException) -> bool:
    """Did this dial fail because nothing listens at the address?"""
    if isinstance(error, ConnectionRefusedError) or getattr(error, "errno", None) == errno.ECONNREFUSED:
        return True
    # trio reports a failed multi-address dial with the attempts as causes.
    causes = [error.__cause__, *getattr(error, "exceptions", ())]
    return any(cause is not None and is_refusal(cause) for cause in causes)
