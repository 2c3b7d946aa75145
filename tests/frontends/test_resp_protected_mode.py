"""Protected mode (frontends/resp/protected.py): Redis' DENIED for clients of other hosts while a
node has no password; the decision always, a real node from a non-loopback address inside a
network namespace this test creates (skipped, saying why, where the machine cannot make one)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from resp_helpers import real_redis

from frontends.resp.protected import DENIED, is_loopback, refuses
from replicator.config import ConfigError, from_dict

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
NAMESPACE_ADDRESS = "10.77.0.1"  # exists only inside the test's namespace


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # a local IPv4 client seen through a dual-stack listener
        (None, True),  # a Unix socket
        ("10.0.0.1", False),
        ("192.168.1.5", False),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("2001:db8::1", False),
        ("localhost", False),  # a name: not resolved, not trusted
        ("not an address", False),
    ],
)
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    "protected, password, bound, client, denied",
    [
        (True, False, "0.0.0.0", "10.0.0.7", True),
        (True, False, "::", "2001:db8::7", True),
        (True, False, "::", "::ffff:10.0.0.7", True),
        (True, False, "10.0.0.1", "10.0.0.7", True),
        (True, False, "0.0.0.0", "127.0.0.1", False),
        (True, False, "::", "::1", False),
        (True, False, "::", "::ffff:127.0.0.1", False),
        (True, False, "0.0.0.0", None, False),  # Unix socket
        (True, True, "0.0.0.0", "10.0.0.7", False),  # a password: AUTH decides
        (False, False, "0.0.0.0", "10.0.0.7", False),  # protected-mode no
        (True, False, "127.0.0.1", "127.0.0.2", False),  # listening on loopback only
        (True, False, "::1", "::1", False),
    ],
)
def test_decision(protected, password, bound, client, denied):
    assert refuses(protected_mode=protected, password_set=password, bound_host=bound, client_host=client) is denied


def test_toml_setting():
    base = {
        "node_id": 1,
        "members": [{"id": 1, "peer": "127.0.0.1:7101", "resp": "127.0.0.1:7001"}],
        "data_dir": "d",
        "resp": "127.0.0.1:7001",
        "peer": "127.0.0.1:7101",
    }
    assert from_dict(base).protected_mode is True
    assert from_dict({**base, "protected_mode": False}).protected_mode is False
    with pytest.raises(ConfigError, match="protected_mode: expected true or false"):
        from_dict({**base, "protected_mode": "no"})


def test_denied_text_is_redis_byte_for_byte():
    """A real redis-server 7.0 in protected mode, asked from 127.0.0.2 (Redis trusts exactly 127.0.0.1
    and ::1), answers the bytes we send."""
    with real_redis("--protected-mode", "yes") as port:
        if port is None:
            pytest.skip("redis-server is not installed")
        with socket.socket() as sock:
            sock.settimeout(5)
            try:
                sock.bind(("127.0.0.2", 0))
            except OSError as exc:
                pytest.skip(f"cannot use 127.0.0.2 as a source address here: {exc}")
            sock.connect(("127.0.0.1", port))  # Redis answers at once, and resets a request it did not read
            got = b""
            while chunk := sock.recv(65536):
                got += chunk
    assert got == DENIED


def _namespace_command() -> list[str] | str:
    """unshare -rn with loopback up and NAMESPACE_ADDRESS on it, or why that cannot be done here."""
    if sys.platform != "linux":
        return "network namespaces are Linux's"
    unshare, ip = shutil.which("unshare"), shutil.which("ip") or "/usr/sbin/ip"
    if unshare is None or not os.path.exists(ip):
        return "needs unshare and ip (util-linux, iproute2)"
    setup = f"{ip} link set lo up && {ip} addr add {NAMESPACE_ADDRESS}/32 dev lo"
    probe = subprocess.run([unshare, "-rn", "sh", "-c", setup], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"this machine cannot create a network namespace (unshare -rn): {probe.stderr.strip()}"
    return [unshare, "-rn", "sh", "-c", setup + ' && exec "$@"', "sh"]


def test_node_refuses_other_hosts_in_a_namespace(tmp_path):
    """A real node bound to a non-loopback address: a client from it is DENIED (and closed) until a
    password is set or protected-mode is off; a client from 127.0.0.1 is served and can fix it."""
    namespace = _namespace_command()
    if isinstance(namespace, str):
        pytest.skip(namespace)
    run = subprocess.run(
        [*namespace, sys.executable, str(HERE / "protected_mode_netns.py"), str(tmp_path), NAMESPACE_ADDRESS],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    denied = DENIED.decode() + "<closed>"
    assert seen["outside"] == denied
    assert seen["local"] == "+PONG\r\n*2\r\n$14\r\nprotected-mode\r\n$3\r\nyes\r\n<open>"
    assert seen["set_password"] == "+OK\r\n<open>"
    assert seen["outside_with_password"] == ("-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n<open>")
    assert seen["outside_password_removed"] == denied
    assert seen["rejected_connections"] == "rejected_connections:2"  # Redis' stat_rejected_conn
    assert seen["set_off"] == "+OK\r\n<open>"
    assert seen["outside_off"] == "+PONG\r\n<open>"
    assert seen["toml_off"] == "+PONG\r\n*2\r\n$14\r\nprotected-mode\r\n$2\r\nno\r\n<open>"
    assert seen["tls_outside"] == denied  # after the TLS handshake, as Redis' clientAcceptHandler
    assert seen["tls_local"] == "+PONG\r\n<open>"
    warning = "protected mode: no password is set, so clients from other hosts than this one are refused"
    assert warning in (tmp_path / "protected.log").read_text()
    assert warning not in (tmp_path / "unprotected.log").read_text()
