import msgspec
import pytest

from replicator.codec import Codec, CodecError, FrameReader, decode_result, encode_result
from replicator.runtime.messages import MESSAGE_TYPES, ForwardReply, ForwardRequest, Hello
from statemachines import ReplyError

codec = Codec(MESSAGE_TYPES)


def test_frames_survive_any_split():
    frames = b"".join(codec.encode(m) for m in (Hello("c", 1, "raft"), ForwardRequest(1, 2, 7, ("kv",), (b"\x00x",))))
    for cut in range(len(frames) + 1):
        reader = FrameReader()
        bodies = reader.feed(frames[:cut]) + reader.feed(frames[cut:])
        assert [codec.decode(b) for b in bodies] == [
            Hello("c", 1, "raft"),
            ForwardRequest(1, 2, 7, ("kv",), (b"\x00x",)),
        ]


def test_oversized_frame_is_refused_before_buffering():
    reader = FrameReader(max_frame_bytes=1024)
    with pytest.raises(CodecError, match="exceeds the limit"):
        reader.feed(b"\x7f\xff\xff\xff")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xc1",  # never-used msgpack byte
        msgspec.msgpack.encode([999, {}]),  # unknown tag
        msgspec.msgpack.encode([65, {"src": "one"}]),  # wrong field type
        msgspec.msgpack.encode("hello"),
    ],
)
def test_malformed_bodies_raise_codec_error(body):
    with pytest.raises(CodecError):
        codec.decode(body)


def test_results_round_trip_with_errors():
    value = [b"bulk", "OK", 42, -1.5, None, ReplyError("WRONGTYPE nope"), {b"f": [1, 2]}]
    assert decode_result(encode_result(value)) == value
    reply = ForwardReply(2, 1, 9, results=(encode_result(ReplyError("ERR x")), b""), errors=("", "TRYAGAIN x"))
    back = codec.decode(codec.encode(reply)[4:])
    assert decode_result(back.results[0]) == ReplyError("ERR x") and back.errors == ("", "TRYAGAIN x")


def test_results_quoting_client_bytes_cross_the_wire():
    """A forwarded write's answer may quote raw client bytes (an error naming an argument that
    is not UTF-8): encoding it once raised and stopped the leader's apply loop (RESP fuzz,
    RESP_FUZZ_SEED=1804481451). Errors come back byte for byte; other text loses only the
    undecodable characters."""
    quoted = b"\xa4\xff".decode("utf-8", "surrogateescape")
    error = ReplyError(f"ERR unknown subcommand '{quoted}'")
    assert decode_result(encode_result(error)) == error
    assert decode_result(encode_result([error, "x" + quoted, {quoted: 1}])) == [
        error,
        "x\ufffd\ufffd",
        {"\ufffd\ufffd": 1},
    ]
    assert decode_result(encode_result(ReplyError("ERR \ud800 lone"))) == ReplyError("ERR ? lone")
