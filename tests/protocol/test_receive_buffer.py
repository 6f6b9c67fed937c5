from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog.protocol.framing import FrameTooLargeError, InvalidFrameLengthError, frame_prefix
from flowlog.protocol.receive_buffer import SHRINK_AFTER_QUIET_RECEIVES, ReceiveBuffer


def feed(buffer: ReceiveBuffer, data: bytes) -> int:
    """Receive `data` as a socket would: as much as the space takes per call."""
    space = buffer.space()
    count = min(len(space), len(data))
    space[:count] = data[:count]
    buffer.received(count)
    return count


def receive_all(buffer: ReceiveBuffer, stream: bytes, chunk_sizes: list[int]) -> list[bytes]:
    """Frames out of `stream` delivered in chunks of the given sizes (cycled)."""
    frames: list[bytes] = []
    position = 0
    turn = 0
    while position < len(stream):
        size = chunk_sizes[turn % len(chunk_sizes)]
        turn += 1
        position += feed(buffer, stream[position:position + size])
        while (frame := buffer.next_frame()) is not None:
            assert not frame.readonly
            frames.append(bytes(frame))
    return frames


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(st.binary(max_size=300), max_size=12),
       chunk_sizes=st.lists(st.integers(1, 400), min_size=1, max_size=6),
       buffer_bytes=st.integers(4, 128), initial_bytes=st.integers(4, 128),
       large_frame_step_bytes=st.integers(1, 500))
def test_frames_come_out_whole_and_in_order_whatever_the_chunking(
        payloads: list[bytes], chunk_sizes: list[int], buffer_bytes: int,
        initial_bytes: int, large_frame_step_bytes: int) -> None:
    # Small buffers force every path: moving a partial frame (overlapping the old
    # bytes), growing the buffer with a partial frame in it, frames larger than the
    # buffer, and returning to the connection's own buffer.
    buffer = ReceiveBuffer(max_frame_bytes=1000, buffer_bytes=buffer_bytes,
                           initial_bytes=initial_bytes,
                           large_frame_step_bytes=large_frame_step_bytes)
    stream = b"".join(frame_prefix(len(payload)) + payload for payload in payloads)
    assert receive_all(buffer, stream, chunk_sizes) == payloads
    assert buffer.buffered_bytes == 0


def test_a_frame_is_a_writable_view_of_the_buffer() -> None:
    buffer = ReceiveBuffer(max_frame_bytes=100)
    feed(buffer, frame_prefix(5) + b"hello" + frame_prefix(3))
    frame = buffer.next_frame()
    assert frame is not None and bytes(frame) == b"hello"
    frame[0:1] = b"j"  # the broker writes a batch's offsets this way
    assert bytes(frame) == b"jello"
    assert buffer.next_frame() is None and buffer.buffered_bytes == 4


def test_a_large_frame_gets_its_own_buffer_and_the_standard_one_comes_back() -> None:
    buffer = ReceiveBuffer(max_frame_bytes=10_000, buffer_bytes=16, initial_bytes=16)
    big = bytes(range(256)) * 10
    stream = frame_prefix(len(big)) + big + frame_prefix(2) + b"ok"
    assert receive_all(buffer, stream, [7]) == [big, b"ok"]
    assert len(buffer.space()) == 16 and buffer.capacity == 16


def test_the_buffer_starts_small_and_doubles_when_receives_fill_it() -> None:
    buffer = ReceiveBuffer(max_frame_bytes=1 << 20, buffer_bytes=64 * 1024,
                           initial_bytes=16 * 1024)
    small = frame_prefix(10) + bytes(10)
    for _ in range(100):  # an idle or chatty client with small requests
        assert feed(buffer, small) == len(small)
        assert buffer.next_frame() is not None
    assert buffer.capacity == 16 * 1024
    burst = b"".join(frame_prefix(1000) + bytes(1000) for _ in range(200))
    frames = receive_all(buffer, burst, [1 << 20])  # every receive fills the space
    assert len(frames) == 200 and buffer.capacity == 64 * 1024  # doubled up to the cap
    one_big = frame_prefix(100_000) + bytes(100_000)
    assert receive_all(buffer, one_big, [1 << 20]) == [bytes(100_000)]
    assert buffer.capacity == 64 * 1024  # above the cap: a buffer of its own


def test_space_is_never_empty() -> None:
    buffer = ReceiveBuffer(max_frame_bytes=100, buffer_bytes=8)
    for _ in range(50):
        space = buffer.space()
        assert len(space) > 0
        space[0] = 0
        buffer.received(1)  # one byte at a time: prefixes and payloads cut everywhere
        while buffer.next_frame() is not None:
            pass


@pytest.mark.parametrize(("prefix", "error"), [
    ((-1).to_bytes(4, "big", signed=True), InvalidFrameLengthError),
    ((101).to_bytes(4, "big"), FrameTooLargeError),
])
def test_bad_lengths_are_refused(prefix: bytes, error: type[Exception]) -> None:
    buffer = ReceiveBuffer(max_frame_bytes=100)
    feed(buffer, prefix)
    with pytest.raises(error):
        buffer.next_frame()


def test_received_cannot_claim_more_than_the_space() -> None:
    buffer = ReceiveBuffer(max_frame_bytes=100, buffer_bytes=8)
    with pytest.raises(ValueError, match="space"):
        buffer.received(len(buffer.space()) + 1)
    with pytest.raises(ValueError):
        ReceiveBuffer(max_frame_bytes=0)


def test_a_size_prefix_alone_does_not_allocate_the_frame() -> None:
    """A client announcing a 100 MiB request costs the broker the first step (1 MiB),
    not 100 MiB; beyond it the buffer doubles with the bytes that arrive."""
    buffer = ReceiveBuffer(max_frame_bytes=100 << 20)
    feed(buffer, frame_prefix(100 << 20) + bytes(96))
    assert buffer.next_frame() is None
    buffer.space()
    assert buffer.allocated_bytes == 1 << 20
    while buffer.buffered_bytes < 3 << 20:
        space = buffer.space()
        assert buffer.allocated_bytes <= max(1 << 20, 2 * buffer.buffered_bytes)
        buffer.received(min(len(space), 64 * 1024))
        assert buffer.next_frame() is None


def test_a_frame_larger_than_the_first_step_comes_out_whole() -> None:
    buffer = ReceiveBuffer(max_frame_bytes=100 << 20)
    payload = bytes(range(256)) * 12_000  # about 3 MB: the large-frame buffer doubles twice
    stream = frame_prefix(len(payload)) + payload + frame_prefix(2) + b"ok"
    assert receive_all(buffer, stream, [100_000]) == [payload, b"ok"]


def test_a_grown_buffer_shrinks_back_once_receives_stay_small() -> None:
    buffer = ReceiveBuffer(max_frame_bytes=1 << 20, buffer_bytes=64 * 1024,
                           initial_bytes=16 * 1024)
    burst = b"".join(frame_prefix(1000) + bytes(1000) for _ in range(200))
    assert len(receive_all(buffer, burst, [1 << 20])) == 200
    assert buffer.capacity == 64 * 1024
    small = frame_prefix(10) + bytes(10)
    for _ in range(SHRINK_AFTER_QUIET_RECEIVES - 1):
        assert receive_all(buffer, small, [1 << 20]) == [bytes(10)]
    assert buffer.capacity == 64 * 1024  # not yet: a pause in a burst keeps it
    assert receive_all(buffer, small + small, [len(small)]) == [bytes(10)] * 2
    assert buffer.capacity == 16 * 1024
