"""Redis 7.0 functions (FUNCTION *, FCALL, FCALL_RO) byte for byte against redis-server 7.0.

Lines are split as a shell would, then `\\n` in an argument becomes a newline (a library's code is
lines: its shebang, then Lua). FLUSHALL leaves libraries alone, so every case starts with FUNCTION
FLUSH. Cases avoid what legitimately differs: the order of several libraries or of several
functions of one library (Redis: hash order; here: name and registration order), FUNCTION DUMP's
bytes (Redis LZF-compresses the code; the payloads restore both ways, see the cross tests below),
REDIS_VERSION, and the budgets (Redis has a 500 ms load timeout and no memory limit).
"""

from __future__ import annotations

import os
import random
import shlex

import pytest
import redis
import trio
from resp_helpers import assert_same_as_redis

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def case_lines(text: str) -> list[list[str]]:
    return [
        [arg.replace("\\n", "\n") for arg in shlex.split(line)] for line in text.strip().splitlines() if line.strip()
    ]


CASES = {
    "function_load": """
        FUNCTION FLUSH
        FUNCTION LOAD "#!lua name=mylib\\nredis.register_function('myfunc', function(keys, args) return args[1] end)"
        FCALL myfunc 0 hello
        FCALL MYFUNC 0 hello
        FUNCTION LOAD "#!lua name=mylib\\nredis.register_function('myfunc', function(keys, args) return 2 end)"
        FUNCTION LOAD REPLACE "#!lua name=mylib\\nredis.register_function('myfunc', function(keys, args) return 2 end)"
        FUNCTION LOAD replace "#!lua name=mylib\\nredis.register_function('myfunc', function(keys, args) return 3 end)"
        FCALL myfunc 0
        FUNCTION LOAD "#!lua name=other\\nredis.register_function('MyFunc', function() return 1 end)"
        FUNCTION LOAD "#!lua name=other\\nredis.register_function('f2', function() return 1 end) redis.register_function('myfunc', function() return 1 end)"
        FCALL f2 0
        FUNCTION LOAD "#!LUA name=upper\\nredis.register_function('up', function() return 'up' end)"
        FCALL up 0
        FUNCTION LOAD "#!lua   name=spaced  \\nredis.register_function('sp', function() return 'sp' end)"
        FCALL sp 0
        FUNCTION LOAD "#!lua \\"name=quoted\\"\\nredis.register_function('qt', function() return 'qt' end)"
        FCALL qt 0
        FUNCTION LOAD "#!lua NAME=caps\\nredis.register_function('cp', function() return 'cp' end)"
        FUNCTION LOAD "#!lua name=n\\nredis.register_function('f', function() return 1 end)" extra
        FUNCTION LOAD REPLACE REPLACE "#!lua name=n2\\nredis.register_function('g2', function() return 1 end)"
        FUNCTION LOAD replace
        FUNCTION LOAD
    """,
    "function_load_errors": """
        FUNCTION FLUSH
        FUNCTION LOAD "return 1"
        FUNCTION LOAD ""
        FUNCTION LOAD "#!lua"
        FUNCTION LOAD "#!lua name=x"
        FUNCTION LOAD "#!lua\\nreturn 1"
        FUNCTION LOAD "#!lua name=x name=y\\nreturn 1"
        FUNCTION LOAD "#!lua name=x foo=bar\\nreturn 1"
        FUNCTION LOAD "#!lua name=a-b\\nreturn 1"
        FUNCTION LOAD "#!lua name=\\nreturn 1"
        FUNCTION LOAD "#!js name=x\\nreturn 1"
        FUNCTION LOAD "#! lua name=x\\nreturn 1"
        FUNCTION LOAD "#!lua name=\\"x\\nreturn 1"
        FUNCTION LOAD "#!lua name=x\\nreturn 1"
        FUNCTION LOAD "#!lua name=x\\n"
        FUNCTION LOAD "#!lua name=x\\nsyntax error here"
        FUNCTION LOAD "#!lua name=x\\nlocal a = 1 +"
        FUNCTION LOAD "#!lua name=x\\nerror('boom')"
        FUNCTION LOAD "#!lua name=x\\nlocal s = string.len('a')"
        FUNCTION LOAD "#!lua name=x\\nredis.call('set', 'k', 'v')"
        FUNCTION LOAD "#!lua name=x\\nx = 1"
        FUNCTION LOAD "#!lua name=x\\nredis.x = 1"
        FUNCTION LOAD "#!lua name=x\\nlocal t = nil; return t.x"
        FUNCTION LOAD "#!lua name=x\\nredis.register_function()"
        FUNCTION LOAD "#!lua name=x\\nredis.register_function('a', function() end, 3)"
        FUNCTION LOAD "#!lua name=x\\nredis.register_function('f')"
        FUNCTION LOAD "#!lua name=x\\nredis.register_function({}, function() end)"
        FUNCTION LOAD "#!lua name=x\\nredis.register_function(12, function() return 12 end)"
        FCALL 12 0
        FUNCTION LOAD "#!lua name=x2\\nredis.register_function('f', 'notafunction')"
        FUNCTION LOAD "#!lua name=x2\\nredis.register_function('bad-name', function() end)"
        FUNCTION LOAD "#!lua name=x2\\nredis.register_function('', function() end)"
        FUNCTION LOAD "#!lua name=x2\\nredis.register_function('d', function() end) redis.register_function('d', function() end)"
        FUNCTION LOAD "#!lua name=twins\\nredis.register_function('d', function() end) redis.register_function('D', function() end)"
        FUNCTION LOAD "#!lua name=x2\\nredis.register_function('a', function() end) redis.register_function('12', function() end)"
        FUNCTION LOAD "#!lua name=x2\\nredis.register_function('e', function() end) error('late')"
        FCALL e 0
        FUNCTION LOAD "#!lua name=x2\\nredis.log(redis.LOG_WARNING, 'loading') redis.register_function('logged', function() return 'ok' end)"
        FCALL logged 0
        FUNCTION LOAD "#!lua name=x3\\nredis.log(redis.LOG_WARNING)"
        FUNCTION LOAD "#!lua name=x3\\nreturn redis.setresp(3)"
        FUNCTION LOAD "#!lua name=x3\\nlocal x = 1 while x < 100 do x = x + 1 end redis.register_function('counted', function() return x end)"
        FCALL counted 0
    """,
    "register_named": """
        FUNCTION FLUSH
        FUNCTION LOAD "#!lua name=n\\nredis.register_function('x')"
        FUNCTION LOAD "#!lua name=n\\nredis.register_function{function_name='f'}"
        FUNCTION LOAD "#!lua name=n\\nredis.register_function{callback=function() end}"
        FUNCTION LOAD "#!lua name=n\\nredis.register_function{function_name=1, callback=function() return 'one' end}"
        FCALL 1 0
        FUNCTION LOAD "#!lua name=n2\\nredis.register_function{function_name={}, callback=function() end}"
        FUNCTION LOAD "#!lua name=n2\\nredis.register_function{function_name='f', callback='x'}"
        FUNCTION LOAD "#!lua name=n2\\nredis.register_function{function_name='f', callback=function() end, description={}}"
        FUNCTION LOAD "#!lua name=n2\\nredis.register_function{function_name='f', callback=function() end, flags='no-writes'}"
        FUNCTION LOAD "#!lua name=n2\\nredis.register_function{function_name='f', callback=function() end, flags={'bad'}}"
        FUNCTION LOAD "#!lua name=n2\\nredis.register_function{function_name='f', callback=function() end, flags={{}}}"
        FUNCTION LOAD "#!lua name=n2\\nredis.register_function{function_name='f', callback=function() end, other=1}"
        FUNCTION LOAD "#!lua name=n2\\nredis.register_function{function_name='f', callback=function() end, [true]=1}"
        FUNCTION LOAD "#!lua name=n2\\nredis.register_function{FUNCTION_NAME='nf', CALLBACK=function() return 'nf' end, DESCRIPTION='described', FLAGS={'NO-WRITES', 'allow-oom'}}"
        FCALL nf 0
        FUNCTION LIST LIBRARYNAME n2
        FUNCTION LOAD "#!lua name=n3\\nredis.register_function{function_name='all', callback=function() return 1 end, flags={'no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}, description='every flag'}"
        FUNCTION LIST LIBRARYNAME n3
        FUNCTION LOAD "#!lua name=n4\\nredis.register_function{function_name='noflags', callback=function() return 1 end, flags={}}"
        FUNCTION LIST LIBRARYNAME n4 WITHCODE
    """,
    "fcall": """
        FUNCTION FLUSH
        FUNCTION LOAD "#!lua name=lib\\nredis.register_function('echo', function(keys, args) return {keys[1], args[1], #keys, #args} end)"
        FCALL echo 1 k a b
        FCALL echo 0
        FCALL echo 2 k1 k2
        FCALL echo x
        FCALL echo -1
        FCALL echo 5 a
        FCALL echo 99999999999999999999
        FCALL echo 01 a
        FCALL nosuch 0
        FCALL nosuch x
        FCALL echo
        FCALL
        FUNCTION LOAD "#!lua name=lib2\\nredis.register_function('setget', function(keys, args) redis.call('set', keys[1], args[1]) return redis.call('get', keys[1]) end)"
        FCALL setget 1 k v
        GET k
        FUNCTION LOAD "#!lua name=lib3\\nredis.register_function('err', function() error('oops') end)\\nredis.register_function('err2', function() return redis.call('nosuch') end)\\nredis.register_function('err3', function() return KEYS end)\\nredis.register_function('err4', function() x = 1 end)\\nredis.register_function('err5', function() return redis.error_reply('MY error') end)\\nredis.register_function('err6', function() error({err='TABLE err'}) end)\\nredis.register_function('reg', function() redis.register_function('z', function() end) end)"
        FCALL err 0
        FCALL err2 0
        FCALL err3 0
        FCALL err4 0
        FCALL err5 0
        FCALL err6 0
        FCALL reg 0
        FUNCTION LOAD "#!lua name=lib4\\nlocal r = redis.register_function\\nr('late', function() r('z', function() end) end)"
        FCALL late 0
        FUNCTION LOAD "#!lua name=lib5\\nredis.register_function('conv', function() return {1, 'a', true, false, {ok='fine'}, {double=1.5}, 3.7} end)"
        FCALL conv 0
        FUNCTION LOAD "#!lua name=lib6\\nredis.register_function('resp3', function() redis.setresp(3) return redis.call('hgetall', 'nokey') end)"
        FCALL resp3 0
        FUNCTION LOAD "#!lua name=lib7\\nredis.register_function('many', function() return 1, 2 end)"
        FCALL many 0
        FUNCTION LOAD "#!lua name=lib8\\nredis.register_function('nothing', function() end)"
        FCALL nothing 0
        FUNCTION LOAD "#!lua name=lib9\\nredis.register_function('inner', function() return redis.call('fcall', 'nothing', 0) end)"
        FCALL inner 0
        FUNCTION LOAD "#!lua name=lib10\\nredis.register_function('pc', function() return redis.pcall('incr', 'k') end)"
        FCALL pc 0
        FUNCTION LOAD "#!lua name=lib11\\nredis.register_function('g', function() return cjson.encode({1, 2}) end)"
        FCALL g 0
    """,
    "fcall_ro_and_flags": """
        FUNCTION FLUSH
        FUNCTION LOAD "#!lua name=rw\\nredis.register_function('writer', function(keys) return redis.call('set', keys[1], 'w') end)\\nredis.register_function{function_name='reader', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}\\nredis.register_function{function_name='sneaky', callback=function(keys) return redis.call('set', keys[1], 's') end, flags={'no-writes'}}\\nredis.register_function{function_name='psneaky', callback=function(keys) return redis.pcall('set', keys[1], 's') end, flags={'no-writes'}}"
        FCALL_RO writer 1 k
        FCALL writer 1 k
        FCALL_RO reader 1 k
        FCALL reader 1 k
        FCALL sneaky 1 k
        FCALL_RO sneaky 1 k
        FCALL_RO psneaky 1 k
        GET k
        FCALL_RO nosuch 0
        FCALL_RO reader x
        FCALL_RO reader -1
        FCALL_RO reader 3 a
        FCALL_RO
    """,
    "function_list": """
        FUNCTION FLUSH
        FUNCTION LIST
        FUNCTION LOAD "#!lua name=alpha\\nredis.register_function('fa', function() return 1 end)"
        FUNCTION LIST
        FUNCTION LIST WITHCODE
        FUNCTION LIST withcode
        FUNCTION LOAD "#!lua name=beta\\nredis.register_function{function_name='fb', callback=function() return 1 end, description='the b'}"
        FUNCTION LIST LIBRARYNAME alpha
        FUNCTION LIST LIBRARYNAME b*
        FUNCTION LIST LIBRARYNAME BETA
        FUNCTION LIST LIBRARYNAME nomatch
        FUNCTION LIST LIBRARYNAME b* WITHCODE
        FUNCTION LIST WITHCODE LIBRARYNAME al?ha
        FUNCTION LIST LIBRARYNAME
        FUNCTION LIST WITHCODE LIBRARYNAME
        FUNCTION LIST WITHCODE WITHCODE
        FUNCTION LIST LIBRARYNAME a LIBRARYNAME b
        FUNCTION LIST foo
        FUNCTION STATS
        FUNCTION DELETE alpha
        FUNCTION DELETE alpha
        FUNCTION DELETE BETA
        FUNCTION DELETE
        FUNCTION DELETE a b
        FUNCTION STATS
        FUNCTION LIST
        FCALL fa 0
        FCALL fb 0
    """,
    "function_misc": """
        FUNCTION FLUSH
        FUNCTION STATS
        FUNCTION STATS extra
        FUNCTION KILL
        FUNCTION KILL extra
        FUNCTION HELP
        FUNCTION HELP extra
        FUNCTION DUMP
        FUNCTION DUMP extra
        FUNCTION FLUSH SYNC
        FUNCTION FLUSH ASYNC
        FUNCTION FLUSH async
        FUNCTION FLUSH bad
        FUNCTION FLUSH SYNC extra
        FUNCTION NOSUCH
        FUNCTION
        FUNCTION LOAD "#!lua name=fl\\nredis.register_function('ff', function() return 1 end)"
        FUNCTION FLUSH
        FCALL ff 0
        FUNCTION STATS
    """,
    "function_restore_errors": """
        FUNCTION FLUSH
        FUNCTION RESTORE abc
        FUNCTION RESTORE abc foo
        FUNCTION RESTORE abc FLUSH extra
        FUNCTION RESTORE "" APPEND
        FUNCTION RESTORE
        FUNCTION RESTORE "\\x0a\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
    """,
    "functions_in_multi": """
        FUNCTION FLUSH
        MULTI
        FUNCTION LOAD "#!lua name=m\\nredis.register_function{function_name='inc', callback=function(keys) return redis.call('incr', keys[1]) end, flags={'allow-oom'}}"
        FCALL inc 1 c
        FCALL inc 1 c
        FCALL nosuch 0
        EXEC
        GET c
        MULTI
        FUNCTION LIST
        FUNCTION STATS
        FCALL_RO inc 1 c
        EXEC
        EVAL "return redis.call('fcall', 'inc', 1, 'c')" 0
        EVAL "return redis.call('function', 'list')" 0
    """,
    "struct": """
        EVAL "return struct.pack('>i', 258)" 0
        EVAL "return struct.pack('<i', -2)" 0
        EVAL "return struct.pack('bBhHlLTiI', -1, 255, -2, 65535, -3, 4, 5, -6, 7)" 0
        EVAL "return struct.pack('>i3I5i16', -1, 2, -3)" 0
        EVAL "return struct.pack('>f<d', 1.5, -2.25)" 0
        EVAL "return struct.pack('>f', 1e300)" 0
        EVAL "return struct.pack('!4bi!2bh', 1, 2, 3, 4)" 0
        EVAL "return struct.pack('! b d', 1, 2)" 0
        EVAL "return struct.pack('c3xs', 'abcdef', 'zz')" 0
        EVAL "return struct.pack('c0', 'whole')" 0
        EVAL "return struct.pack('i', '0x10')" 0
        EVAL "return struct.pack('i', ' 12 ')" 0
        EVAL "return struct.pack('i', 1e100)" 0
        EVAL "return struct.pack('i', -1e100)" 0
        EVAL "return struct.pack('I', 2^63)" 0
        EVAL "return struct.pack('L', 2^64)" 0
        EVAL "return struct.pack('i', 3.99)" 0
        EVAL "return struct.pack('z', 1)" 0
        EVAL "return struct.pack('>i', 'x')" 0
        EVAL "return struct.pack('>i')" 0
        EVAL "return struct.pack('>ii', 1)" 0
        EVAL "return struct.pack('c5', 'ab')" 0
        EVAL "return struct.pack('s')" 0
        EVAL "return struct.pack('s', {})" 0
        EVAL "return struct.pack('s', struct.size)" 0
        EVAL "return struct.pack('s', redis.call)" 0
        EVAL "return struct.pack('s', cjson.null)" 0
        EVAL "return struct.pack('s', print)" 0
        EVAL "return struct.pack('!3i', 1)" 0
        EVAL "return struct.pack('i33', 1)" 0
        EVAL "return struct.pack('i99999999999', 1)" 0
        EVAL "return struct.pack(1)" 0
        EVAL "return struct.pack()" 0
        EVAL "return struct.pack('')" 0
        EVAL "local ok, e = pcall(struct.pack, 'z') return e" 0
        EVAL "local ok, e = pcall(struct.unpack, 'i', 'a') return e" 0
        EVAL "return {struct.unpack('>I2', struct.pack('>I2', 258))}" 0
        EVAL "return {struct.unpack('bBhHlLTiI', struct.pack('bBhHlLTiI', -1, 255, -2, 65535, -3, 4, 5, -6, 7))}" 0
        EVAL "return {struct.unpack('>i3I5i16', struct.pack('>i3I5i16', -1, 2, -3))}" 0
        EVAL "return {struct.unpack('<i16', string.rep('\\255', 16))}" 0
        EVAL "return {struct.unpack('>f<d', struct.pack('>f<d', 1.5, -2.25))}" 0
        EVAL "return {struct.unpack('bc0', struct.pack('b', 3) .. 'abcdef')}" 0
        EVAL "return {struct.unpack('c0', 'abc')}" 0
        EVAL "return {struct.unpack('s', 'abc')}" 0
        EVAL "return {struct.unpack('sb', 'ab' .. string.char(0) .. 'c')}" 0
        EVAL "return {struct.unpack('b', 'abc', 2)}" 0
        EVAL "return {struct.unpack('b', 'abc', 4)}" 0
        EVAL "return {struct.unpack('b', 'a', 0)}" 0
        EVAL "return {struct.unpack('b', 'a', -1)}" 0
        EVAL "return {struct.unpack('b', 'a', 'x')}" 0
        EVAL "return {struct.unpack('>i', 'ab')}" 0
        EVAL "return {struct.unpack('c2000000000', 'ab')}" 0
        EVAL "return {struct.unpack('!4 b i', 'a...bcde')}" 0
        EVAL "return {struct.unpack('z', 'a')}" 0
        EVAL "return {struct.unpack('x', 'a')}" 0
        EVAL "return #{struct.unpack(string.rep('b', 7997), string.rep('a', 7997))}" 0
        EVAL "return #{struct.unpack(string.rep('b', 7998), string.rep('a', 7998))}" 0
        EVAL "return struct.size('bhilfdxTc3')" 0
        EVAL "return struct.size('!8bd')" 0
        EVAL "return struct.size('zq')" 0
        EVAL "return struct.size('s')" 0
        EVAL "return struct.size('c0')" 0
        EVAL "return struct.size('i40')" 0
        EVAL "return struct.size('z#')" 0
        EVAL "return struct.size('c2000000000c2000000000')" 0
        EVAL "return struct.size()" 0
    """,
    "cmsgpack_pack": """
        EVAL "return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649)" 0
        EVAL "return cmsgpack.pack(2^53, -2^53, 2^63, -2^63, 2^64, 1e300, -1e300, 1.5, 0.1, 1/0, -1/0)" 0
        EVAL "return cmsgpack.pack('', 'abc', string.rep('x', 31), string.rep('y', 32), string.rep('z', 256), string.rep('w', 65536))" 0
        EVAL "return cmsgpack.pack(true, false, nil, {}, function() end)" 0
        EVAL "return cmsgpack.pack({1, 2, 3}, {a = 1}, {1, nil, 3}, {[1] = 'a', [3] = 'c'}, {[0] = 'z'}, {[1.5] = 1})" 0
        EVAL "local t = {} for i = 1, 20 do t[i] = i end return cmsgpack.pack(t)" 0
        EVAL "local t = {} for i = 1, 70000 do t[i] = 1 end return #cmsgpack.pack(t)" 0
        EVAL "local t = {} t[1] = t return cmsgpack.pack(t)" 0
        EVAL "local t = {x = 1} t.self = t return #cmsgpack.pack(t)" 0
        EVAL "return cmsgpack.pack({{{{{{{{{{{{{{{{{{{{1}}}}}}}}}}}}}}}}}}})" 0
        EVAL "return cmsgpack.pack({[{1}] = 2})" 0
        EVAL "return cmsgpack.pack()" 0
        EVAL "local ok, e = pcall(cmsgpack.pack) return e" 0
        EVAL "return cmsgpack._VERSION" 0
        EVAL "return cmsgpack._NAME" 0
    """,
    "cmsgpack_unpack": """
        EVAL "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, 4}, true))}" 0
        EVAL "return cmsgpack.unpack(cmsgpack.pack({a = {b = {1, 2}}})).a.b[2]" 0
        EVAL "return {cmsgpack.unpack(cmsgpack.pack(1.5, 0.1, -1e300))}" 0
        EVAL "return {cmsgpack.unpack(cmsgpack.pack(2^63, -2^63, 4294967296))}" 0
        EVAL "return {cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255')}" 0
        EVAL "return {cmsgpack.unpack('\\208\\200\\209\\255\\000\\210\\128\\000\\000\\000\\204\\200\\205\\255\\000\\206\\128\\000\\000\\000')}" 0
        EVAL "return {cmsgpack.unpack('\\192\\194\\195\\255\\224')}" 0
        EVAL "return cmsgpack.unpack('')" 0
        EVAL "return cmsgpack.unpack('\\193')" 0
        EVAL "return cmsgpack.unpack('\\146\\001')" 0
        EVAL "return cmsgpack.unpack('\\217\\005ab')" 0
        EVAL "return cmsgpack.unpack('\\219\\255\\255\\255\\255ab')" 0
        EVAL "return cmsgpack.unpack('\\221\\255\\255\\255\\255\\001')" 0
        EVAL "return cmsgpack.unpack('\\129\\192\\001')" 0
        EVAL "return cmsgpack.unpack('\\129\\001\\192')[1]" 0
        EVAL "return cmsgpack.unpack('\\202\\127\\192\\000\\000')" 0
        EVAL "local t = cmsgpack.unpack('\\130\\161a\\001\\161a\\002') return t.a" 0
        EVAL "return cmsgpack.unpack()" 0
        EVAL "return cmsgpack.unpack({})" 0
        EVAL "return cmsgpack.unpack(12)" 0
        EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}" 0
        EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 1)}" 0
        EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}" 0
        EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)}" 0
        EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 4)}" 0
        EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), -1)}" 0
        EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 'x')}" 0
        EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2^40)}" 0
        EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}" 0
        EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)}" 0
        EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)}" 0
        EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 1)}" 0
        EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), -1)}" 0
        EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3))}" 0
        EVAL "local ok, e = pcall(cmsgpack.unpack, '\\193') return e" 0
        EVAL "local ok, e = pcall(cmsgpack.unpack, string.rep('\\001', 7999)) return {tostring(ok), e}" 0
        EVAL "local ok, e = pcall(cmsgpack.unpack, string.rep('\\001', 8000)) return {tostring(ok), e}" 0
        EVAL "local ok, e = pcall(cmsgpack.unpack, string.rep('\\001', 7997), 1, 2) return {tostring(ok), e}" 0
        EVAL "local ok, e = pcall(cmsgpack.unpack, string.rep('\\001', 7998), 1, 2) return {tostring(ok), e}" 0
        EVAL "return #{cmsgpack.unpack_limit(string.rep('\\001', 8005), 7998)}" 0
        EVAL "return #{cmsgpack.unpack_limit(string.rep('\\001', 8005), 7999)}" 0
        EVAL "local ok, e = pcall(cmsgpack.unpack, string.rep('\\145', 3999) .. '\\001') return {tostring(ok), type(e)}" 0
        EVAL "local ok, e = pcall(cmsgpack.unpack, string.rep('\\145', 4000) .. '\\001') return {tostring(ok), e}" 0
        EVAL "local ok, e = pcall(cmsgpack.unpack, string.rep('\\145', 3999) .. '\\144') return {tostring(ok), type(e)}" 0
        EVAL "local ok, e = pcall(cmsgpack.unpack, string.rep('\\145', 4000) .. '\\144') return {tostring(ok), e}" 0
        EVAL "local ok, e = pcall(cmsgpack.unpack, string.rep('\\129\\001', 3999) .. '\\001') return {tostring(ok), type(e)}" 0
        EVAL "local ok, e = pcall(cmsgpack.unpack, string.rep('\\129\\001', 4000) .. '\\001') return {tostring(ok), e}" 0
        EVAL "local ok, e = pcall(cmsgpack.unpack, string.rep('\\145', 100000)) return {tostring(ok), e}" 0
        EVAL "return cmsgpack.unpack(string.rep('\\145', 4000) .. '\\001')" 0
    """,
    "cjson_errors": """
        EVAL "return cjson.encode()" 0
        EVAL "return cjson.encode(1, 2)" 0
        EVAL "return cjson.encode(function() end)" 0
        EVAL "return cjson.decode()" 0
        EVAL "return cjson.decode(1, 2)" 0
        EVAL "return cjson.decode({})" 0
        EVAL "return cjson.decode(true)" 0
        EVAL "return cjson.decode(12)" 0
        EVAL "local ok, e = pcall(cjson.encode, function() end) return e" 0
        EVAL "local ok, e = pcall(cjson.encode) return e" 0
        EVAL "local ok, e = pcall(cjson.decode, {}) return e" 0
        EVAL "local ok, e = pcall(cjson.decode) return e" 0
        EVAL "local t = {} t.cjson = cjson local ok, e = pcall(function() return t.cjson.encode(print) end) return e" 0
    """,
    "libraries_in_functions": """
        FUNCTION FLUSH
        FUNCTION LOAD "#!lua name=bin\\nredis.register_function('roundtrip', function(keys, args) return {cmsgpack.unpack(cmsgpack.pack(args[1], tonumber(args[2])))} end)\\nredis.register_function('size', function(keys, args) return struct.size(args[1]) end)\\nredis.register_function('bad', function(keys, args) return struct.pack(args[1]) end)"
        FCALL roundtrip 0 hello 42
        FCALL size 0 >iihd
        FCALL bad 0 q
        FUNCTION LOAD "#!lua name=atload\\nlocal p = cmsgpack.pack(1)"
    """,
    "functions_in_databases": """
        FUNCTION FLUSH
        FUNCTION LOAD "#!lua name=db\\nredis.register_function('where', function(keys) redis.call('set', keys[1], 'here') return redis.call('get', keys[1]) end)"
        SELECT 3
        FCALL where 1 k
        GET k
        SELECT 0
        GET k
        FUNCTION LIST LIBRARYNAME db
    """,
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name], parse=case_lines)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis_resp3(name, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name], protocol=3, parse=case_lines)


LIBRARIES = [
    "#!lua name=counter\n"
    "local function bump(keys, args) return redis.call('incrby', keys[1], args[1] or 1) end\n"
    "redis.register_function('bump', bump)\n"
    "redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end,"
    " flags={'no-writes'}, description='read the counter'}",
    "#!lua name=text\nredis.register_function('shout', function(keys, args) return string.upper(args[1]) end)",
]


def client(port: int, **kw) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, **kw)


def by_name(listing: list) -> dict:
    """FUNCTION LIST (RESP3) keyed by library, each library's functions sorted (Redis: hash order)."""
    out = {}
    for entry in listing:
        entry[b"functions"] = sorted(entry[b"functions"], key=lambda fn: fn[b"name"])
        out[entry[b"library_name"]] = entry
    return out


async def in_thread(fn, *args):
    with trio.fail_after(60):
        return await trio.to_thread.run_sync(fn, *args)


@pytest.mark.parametrize("direction", ["redis_to_ours", "ours_to_redis"])
async def test_function_dump_restores_across(port, oracle_port, direction):
    """FUNCTION DUMP of one server RESTOREs on the other (Redis' payload compresses the code with
    LZF, ours does not: each side reads both), the same libraries and functions appear, with the
    same flags and description, and they run."""
    source, target = (oracle_port, port) if direction == "redis_to_ours" else (port, oracle_port)

    def scenario():
        src, dst = client(source, protocol=3), client(target, protocol=3)
        for r in (src, dst):
            r.function_flush()
        for code in LIBRARIES:
            src.function_load(code)
        payload = src.function_dump()
        assert dst.function_restore(payload) is True
        assert by_name(dst.function_list(withcode=True)) == by_name(src.function_list(withcode=True))
        assert dst.fcall("bump", 1, "n", 5) == 5
        assert dst.fcall_ro("peek", 1, "n") == b"5"
        assert dst.fcall("shout", 0, "hi") == b"HI"
        with pytest.raises(redis.ResponseError, match="Library (counter|text) already exists"):
            dst.function_restore(payload)
        assert dst.function_restore(payload, "REPLACE") is True
        dst.function_delete("text")
        assert dst.function_restore(payload, "FLUSH") is True
        assert sorted(by_name(dst.function_list())) == [b"counter", b"text"]
        corrupt = payload[:-1] + bytes([payload[-1] ^ 1])
        with pytest.raises(redis.ResponseError, match="DUMP payload version or checksum are wrong"):
            dst.function_restore(corrupt)
        for r in (src, dst):
            r.function_flush()

    await in_thread(scenario)


async def test_dump_of_nothing_and_of_one_small_library_is_redis_bytes(port, oracle_port):
    """Code of at most 20 bytes is never compressed by Redis: the payloads are then equal."""

    def scenario():
        ours, theirs = client(port), client(oracle_port)
        for r in (ours, theirs):
            r.function_flush()
        assert ours.function_dump() == theirs.function_dump()
        for r in (ours, theirs):  # a library under 20 bytes cannot register a function: none loads
            with pytest.raises(redis.ResponseError, match="No functions registered"):
                r.function_load("#!lua name=a\n")

    await in_thread(scenario)


@pytest.mark.parametrize("protocol", [2, 3])
async def test_redis_py_function_load_and_fcall(port, protocol):
    def scenario():
        r = client(port, protocol=protocol)
        r.function_flush()
        assert r.function_load(LIBRARIES[0]) == b"counter"
        with pytest.raises(redis.ResponseError, match="Library 'counter' already exists"):
            r.function_load(LIBRARIES[0])
        assert r.function_load(LIBRARIES[0], replace=True) == b"counter"
        assert r.fcall("bump", 1, "hits") == 1
        assert r.fcall("bump", 1, "hits", 10) == 11
        assert r.fcall_ro("peek", 1, "hits") == b"11"
        with pytest.raises(redis.ResponseError, match="Can not execute a script with write flag using \\*_ro command"):
            r.fcall_ro("bump", 1, "hits")
        [library] = r.function_list(library="count*")
        if protocol == 2:
            library = dict(zip(library[0::2], library[1::2], strict=True))
        assert library[b"library_name"] == b"counter" and library[b"engine"] == b"LUA"
        assert r.function_list(library="nomatch*") == []
        with pytest.raises(redis.ResponseError, match="NOTBUSY"):
            r.function_kill()
        with r.pipeline(transaction=True) as pipe:
            pipe.fcall("bump", 1, "hits")
            pipe.fcall("bump", 1, "hits")
            assert pipe.execute() == [12, 13]
        with pytest.raises(redis.ResponseError, match="Error registering functions: ERR FUNCTION LOAD timeout"):
            r.function_load("#!lua name=spin\nwhile true do end")
        with pytest.raises(redis.ResponseError, match="Error registering functions: ERR script exceeded its memory"):
            r.function_load("#!lua name=hog\nlocal t = {} local i = 0 while true do i = i + 1 t[i] = i end")
        assert r.fcall("bump", 1, "hits") == 14  # the node kept serving
        assert r.function_delete("counter") in (True, b"OK")  # redis-py parses OK by protocol
        with pytest.raises(redis.ResponseError, match="Function not found"):
            r.fcall("bump", 1, "hits")

    await in_thread(scenario)


# --- randomized: cmsgpack and struct against redis-server ------------------------------------------
def _lua_value(rng, depth: int = 0) -> str:
    """A Lua expression: numbers of every msgpack width, floats, strings around the length
    thresholds, booleans, nils, arrays (dense and sparse), maps, nested tables."""
    choices = [
        lambda: str(rng.choice([0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, 2**32 - 1, 2**32, -(2**31)])),
        lambda: str(rng.randint(-(2**40), 2**40)),
        lambda: rng.choice(["2^53", "-2^53", "2^63", "-2^63", "2^64", "1/0", "-1/0", "0.1", "1e300", "-1.5", "3.25"]),
        lambda: repr(rng.uniform(-1e6, 1e6)),
        lambda: repr("s" * rng.choice([0, 1, 31, 32, 255, 256])),
        lambda: rng.choice(["true", "false", "nil"]),
    ]
    if depth < 3:
        choices += [
            lambda: "{" + ", ".join(_lua_value(rng, depth + 1) for _ in range(rng.randrange(5))) + "}",
            lambda: "{" + ", ".join(f"k{i} = {_lua_value(rng, depth + 1)}" for i in range(rng.randrange(4))) + "}",
            lambda: "{[1] = 1, [3] = " + _lua_value(rng, depth + 1) + "}",
        ]
    return rng.choice(choices)()


_MSGPACK_BYTES = [0x00, 0x7F, 0x80, 0x81, 0x90, 0x91, 0x92, 0xA0, 0xA3, 0xC0, 0xC1, 0xC2, 0xC3, 0xCA, 0xCB]
_MSGPACK_BYTES += [0xCC, 0xCD, 0xCE, 0xCF, 0xD0, 0xD1, 0xD2, 0xD3, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0, 0xFF]

UNPACKED = (
    "local r = {pcall(cmsgpack.%s, ARGV[1]%s)} "
    "if not r[1] then return r[2] end "
    "if table.maxn(r) < 2 then return 'nothing' end "
    "return cmsgpack.pack(unpack(r, 2, table.maxn(r)))"
)


@pytest.mark.parametrize("protocol", [2, 3])
async def test_random_cmsgpack_and_struct_as_redis(port, oracle_port, protocol):
    seed = int(os.environ.get("FUNCTIONS_SEED", random.randrange(1 << 32)))
    print(f"seed {seed} (replay: FUNCTIONS_SEED={seed})")
    rng = random.Random(seed)
    lines: list[list[str]] = []
    for _ in range(60):
        values = ", ".join(_lua_value(rng) for _ in range(rng.randint(1, 3)))
        lines.append(["EVAL", f"return cmsgpack.pack({values})", "0"])
        lines.append(["EVAL", f"return cmsgpack.pack(cmsgpack.unpack(cmsgpack.pack({values})))", "0"])
    for _ in range(120):
        data = bytes(
            rng.choice(_MSGPACK_BYTES) if rng.random() < 0.6 else rng.randrange(256) for _ in range(rng.randrange(12))
        )
        extra = rng.choice(["", "", f", {rng.randint(-1, 12)}", f", {rng.randint(-1, 4)}, {rng.randint(-1, 12)}"])
        function = "unpack" if not extra else ("unpack_one" if extra.count(",") == 1 else "unpack_limit")
        lines.append(["EVAL", UNPACKED % (function, extra), "0", data.decode("latin-1")])
    for _ in range(120):
        fmt = "".join(rng.choice("bBhHlLTiIfdxcs<>! 0123456789") for _ in range(rng.randint(1, 6)))
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(24)))
        lines.append(
            ["EVAL", "return {pcall(struct.pack, ARGV[1], 1, -2, 3.5, 'abcdef', 70000, -1e10, 'xy')}", "0", fmt]
        )
        lines.append(["EVAL", "return {pcall(struct.unpack, ARGV[1], ARGV[2])}", "0", fmt, data.decode("latin-1")])
        lines.append(["EVAL", "return {pcall(struct.size, ARGV[1])}", "0", fmt])
    lines = [[arg.encode("latin-1") for arg in line] for line in lines]
    await assert_same_as_redis(port, oracle_port, "", protocol=protocol, parse=lambda _text: lines)
