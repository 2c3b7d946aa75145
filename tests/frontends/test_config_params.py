"""config_params: every CONFIG SET value, however hostile, is a value or Redis' error text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from frontends.resp.config_params import PARAMS, memtoull, parse_set

NAMES = [param.name.encode() for param in PARAMS] + [p.alias.encode() for p in PARAMS if p.alias]
VALUE_BYTES = st.sampled_from(list(b"0123456789-+%kKmMgGbB yesno{}.xX\0\t"))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(NAMES), st.lists(VALUE_BYTES, max_size=40).map(bytes) | st.binary(max_size=60))
def test_parse_set_answers_every_value(name, value):
    result = parse_set([name, value])
    assert isinstance(result, str) or (len(result) == 1 and isinstance(result[0][1], bytes))


def test_memtoull_is_redis_arithmetic():
    assert memtoull(b"1gb") == 1 << 30
    assert memtoull(b"") == 0 and memtoull(b"kb") == 0  # strtoull("") is 0
    assert memtoull(b"-1") is None and memtoull(b"1tb") is None
    assert memtoull(b"9" * 40) == (1 << 64) - 1  # strtoull saturates
    assert memtoull(b"18446744073709551615kb") == ((1 << 64) - 1) * 1024 % (1 << 64)  # and the product wraps
    assert memtoull(b"1" * 128) is None  # beyond Redis' buffer
