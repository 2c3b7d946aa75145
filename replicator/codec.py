"""The wire encoding of peer messages: length-prefixed msgpack frames (never pickle).

A frame is a 4-byte big-endian length, then a msgpack array [tag, message].
Tags are stable numbers declared next to each message family (Raft 1-31,
ZAB 32-63, runtime 64-95), so renaming a class never changes the wire.
Decoding validates every field's type: a peer (or a stranger) that sends
anything else gets a CodecError and loses its connection, nothing more.

Client results (which travel back to a follower that forwarded a write) use
their own small encoding: plain msgpack, with ReplyError as extension type 1.
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

from statemachines import ReplyError, Result

FRAME_HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 256 << 20  # a snapshot chunk plus headroom; larger frames are hostile
# Until a peer has proven the cluster secret it may send only handshake messages
# (well under 1 KiB), so a stranger can never make a node hold more than a few KiB:
# the frame limit before the handshake, and also the most a connection reads at once.
HANDSHAKE_FRAME_BYTES = 4 << 10


class CodecError(Exception):
    pass


class Codec:
    """Encodes and decodes one protocol's messages plus the runtime's own."""

    def __init__(self, tags: dict[int, type]) -> None:
        self._tag_of = {cls: tag for tag, cls in tags.items()}
        self._decoders = {tag: msgspec.msgpack.Decoder(cls) for tag, cls in tags.items()}
        self._encoder = msgspec.msgpack.Encoder()
        self._envelope = msgspec.msgpack.Decoder(tuple[int, msgspec.Raw])

    def encode(self, msg: Any) -> bytes:
        body = self._encoder.encode((self._tag_of[type(msg)], msg))
        return FRAME_HEADER.pack(len(body)) + body

    def decode(self, body: bytes | memoryview) -> Any:
        try:
            tag, raw = self._envelope.decode(body)
            decoder = self._decoders.get(tag)
            if decoder is None:
                raise CodecError(f"unknown message tag {tag}")
            return decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise CodecError(f"malformed message: {exc}") from None


class FrameReader:
    """Splits a byte stream into frame bodies (sans-I/O: feed bytes, take frames).

    `max_frame_bytes` may be raised between feeds (the transport raises it once a
    peer has proven itself); a frame announced above it is refused at its header,
    before any of its body is buffered."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self.max_frame_bytes = max_frame_bytes

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames = []
        pos = 0
        buf = self._buf
        while len(buf) - pos >= 4:
            (size,) = FRAME_HEADER.unpack_from(buf, pos)
            if size > self.max_frame_bytes:
                raise CodecError(f"frame of {size} bytes exceeds the limit of {self.max_frame_bytes}")
            if len(buf) - pos - 4 < size:
                break
            frames.append(bytes(buf[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        if pos:
            del buf[:pos]
        return frames


_REPLY_ERROR_EXT = 1


def _utf8(text: str) -> bytes:
    """A result's text as bytes: the raw client bytes an error may quote come back as they were
    (surrogateescape, as the RESP writer does); any other lone surrogate becomes U+FFFD."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, ReplyError):
        return msgspec.msgpack.Ext(_REPLY_ERROR_EXT, _utf8(obj.message))
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise NotImplementedError(f"cannot encode result of type {type(obj).__name__}")


def _ext_hook(code: int, data: memoryview) -> Any:
    if code == _REPLY_ERROR_EXT:
        return ReplyError(bytes(data).decode("utf-8", "surrogateescape"))
    raise CodecError(f"unknown result extension {code}")


_result_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_result_decoder = msgspec.msgpack.Decoder(ext_hook=_ext_hook)


def encode_result(result: Result) -> bytes:
    """A machine's result for the wire (a forwarded write's answer). Never raises for text: a
    status string holding client bytes (lone surrogates) is sent with them replaced, since a
    result that cannot be encoded would stop the leader's apply loop (found by the RESP fuzzer)."""
    try:
        return _result_encoder.encode(result)
    except UnicodeEncodeError:
        return _result_encoder.encode(_encodable(result))


def _encodable(value: Any) -> Any:
    if isinstance(value, str):
        return _utf8(value).decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [_encodable(item) for item in value]
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    return value


def decode_result(data: bytes) -> Result:
    try:
        return _result_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CodecError(f"malformed result: {exc}") from None
