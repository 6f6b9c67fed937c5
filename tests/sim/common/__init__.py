"""What the Raft simulation (tests/sim) and the replication simulation
(tests/sim/replication) share: the event loop on virtual time, the faulty network, the
timed fault draw and the seed runner with its replay line."""
