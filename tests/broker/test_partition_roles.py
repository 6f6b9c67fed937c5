"""A Partition's replication roles, in process: the leader's epoch and high watermark,
a follower appending the leader's batches as they are (producer state included),
truncating a diverged tail, and becoming the leader with the same idempotent state."""

from __future__ import annotations

from pathlib import Path

from flowlog.broker.partition import Partition
from flowlog.broker.producer_state import Verdict
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.record_batch import parse_header
from flowlog.protocol.records import Record, build_batch
from flowlog.replication.follower_core import FollowerConfig
from flowlog.replication.leader_core import LeaderConfig
from flowlog.replication.messages import PartitionState
from flowlog.storage.config import LogConfig

TOPIC_ID = b"\1" * 16
PRODUCER = 7


def _batch(sequence: int) -> bytearray:
    records = [Record(offset=0, timestamp=1_000, key=None, value=b"v%d" % sequence)]
    return bytearray(build_batch(records, producer_id=PRODUCER, producer_epoch=0,
                                 base_sequence=sequence))


def _open(directory: Path) -> Partition:
    return Partition.open(directory, "t", TOPIC_ID, 0, LogConfig(), 0, 0)


def _state(leader: int, epoch: int, isr: tuple[int, ...] = (1, 2)) -> PartitionState:
    return PartitionState(replicas=(1, 2), isr=frozenset(isr), leader=leader, leader_epoch=epoch,
                          partition_epoch=epoch)


def test_leader_and_follower_roles(tmp_path: Path) -> None:
    ids = iter(range(1, 1000))
    leader = _open(tmp_path / "a")
    follower = _open(tmp_path / "b")
    leader.become_leader(1, _state(1, 3), 0, LeaderConfig(min_insync_replicas=2))
    follower.become_follower(2, _state(1, 3), FollowerConfig(), ids.__next__)
    assert leader.log.latest_epoch == 3 and follower.log.latest_epoch == -1
    for sequence in range(3):
        assert leader.append(_batch(sequence), 0).error == ErrorCode.NONE
    # The follower has not fetched in this epoch: nothing is committed yet.
    core = leader.leader_core
    assert core is not None and core.high_watermark == 0 and leader.high_watermark == 0

    records = leader.log.read(0, 1 << 20, max_offset=leader.log.log_end_offset)
    follower.append_as_follower(bytes(records), 0)
    assert follower.log.log_end_offset == 3 and follower.log.latest_epoch == 3
    assert parse_header(follower.log.read(0, 1 << 20), 0).partition_leader_epoch == 3
    outcome = core.on_follower_fetch(2, follower.log.log_end_offset, 10)
    assert outcome.high_watermark_moved and leader.high_watermark == 3

    # The old leader writes a tail nobody fetched, then loses leadership to broker 2.
    assert leader.append(_batch(3), 0).error == ErrorCode.NONE
    follower.become_leader(2, _state(2, 4), 20, LeaderConfig())
    leader.become_follower(1, _state(2, 4), FollowerConfig(), ids.__next__)
    assert leader.leader_core is None and leader.follower_core is not None
    # A follower's log takes only its leader's batches (the group coordinator's too).
    assert leader.append(_batch(9), 0).error == ErrorCode.NOT_LEADER_OR_FOLLOWER
    # The idempotent producer's retry of sequence 2 is a duplicate on the new leader.
    assert follower.producers.check(parse_header(_batch(2), 0)).verdict is Verdict.DUPLICATE
    # The diverged tail is truncated (to the end of epoch 3 on the new leader) and the
    # producer state follows the log.
    leader.truncate_as_follower(3)
    assert leader.log.log_end_offset == 3
    assert leader.producers.check(parse_header(_batch(3), 0)).verdict is not Verdict.DUPLICATE
    leader.close()
    follower.close()


def test_the_high_watermark_survives_a_restart(tmp_path: Path) -> None:
    partition = _open(tmp_path / "p")
    partition.become_leader(1, _state(1, 1, isr=(1,)), 0, LeaderConfig())
    for sequence in range(4):
        assert partition.append(_batch(sequence), 0).error == ErrorCode.NONE
    assert partition.high_watermark == 4
    # The periodic checkpoint writes only a high watermark that moved.
    moved = partition.high_watermark_to_checkpoint()
    assert moved == 4
    partition.checkpoint_high_watermark(moved)
    assert partition.high_watermark_to_checkpoint() is None
    assert partition.append(_batch(4), 0).error == ErrorCode.NONE
    partition.close()  # a clean shutdown writes the last one

    reopened = _open(tmp_path / "p")
    # A follower (no leader core) reports the checkpointed high watermark at once.
    reopened.become_follower(1, _state(2, 2), FollowerConfig(), iter(range(1, 9)).__next__)
    assert reopened.high_watermark == 5
    reopened.close()


def test_a_checkpointed_high_watermark_never_passes_the_log_end(tmp_path: Path) -> None:
    partition = _open(tmp_path / "p")
    partition.become_leader(1, _state(1, 1, isr=(1,)), 0, LeaderConfig())
    assert partition.append(_batch(0), 0).error == ErrorCode.NONE
    partition.close()
    for text, expected in (("0\n1\n99\n", 1), ("garbage", 0)):
        (tmp_path / "p" / "replication-offset-checkpoint").write_text(text)
        reopened = _open(tmp_path / "p")
        assert reopened.high_watermark == expected
        reopened.log.close()
