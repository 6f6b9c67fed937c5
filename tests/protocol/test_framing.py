from __future__ import annotations

import pytest

from flowlog.protocol.framing import (
    FrameDecoder,
    FrameTooLargeError,
    InvalidFrameLengthError,
    frame_prefix,
)


def test_many_frames_in_one_feed() -> None:
    decoder = FrameDecoder(max_frame_bytes=100)
    decoder.feed(frame_prefix(3) + b"abc" + frame_prefix(0) + frame_prefix(2) + b"de" + b"\x00")
    frames = [decoder.next_frame() for _ in range(3)]
    assert [None if frame is None else bytes(frame) for frame in frames] == [b"abc", b"", b"de"]
    assert decoder.next_frame() is None and decoder.buffered_bytes == 1


def test_frame_split_across_feeds_byte_by_byte() -> None:
    decoder = FrameDecoder(max_frame_bytes=1 << 20)
    payload = bytes(range(256)) * 40
    for byte in frame_prefix(len(payload)) + payload:
        assert decoder.next_frame() is None
        decoder.feed(bytes([byte]))
    assert decoder.next_frame() == payload
    assert decoder.next_frame() is None


def test_empty_frame_at_the_end_of_the_buffer() -> None:
    decoder = FrameDecoder(max_frame_bytes=10)
    decoder.feed(frame_prefix(0))
    assert decoder.next_frame() == b""


def test_oversized_frame_is_refused() -> None:
    decoder = FrameDecoder(max_frame_bytes=10)
    decoder.feed(frame_prefix(11))
    with pytest.raises(FrameTooLargeError, match="11 bytes exceeds the limit of 10"):
        decoder.next_frame()


def test_negative_length_is_refused() -> None:
    decoder = FrameDecoder(max_frame_bytes=10)
    decoder.feed(b"\xff\xff\xff\xfe")
    with pytest.raises(InvalidFrameLengthError, match="negative"):
        decoder.next_frame()


def test_truncated_frame_waits_for_more() -> None:
    decoder = FrameDecoder(max_frame_bytes=10)
    decoder.feed(frame_prefix(5) + b"ab")
    assert decoder.next_frame() is None
    decoder.feed(bytearray(b"cde"))
    assert decoder.next_frame() == b"abcde"


def test_prefix_rejects_bad_lengths() -> None:
    with pytest.raises(ValueError, match="outside"):
        frame_prefix(-1)
