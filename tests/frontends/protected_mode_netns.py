"""Run inside a network namespace (test_resp_protected_mode.py starts it with `unshare -rn`):
a real node listening on a non-loopback address of the namespace, clients from that address
and from 127.0.0.1. Prints what each client was answered, as JSON, for the test to check.

    python protected_mode_netns.py WORKDIR ADDRESS
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from replicator import config as config_mod
from replicator.certs import make_ca, make_cert, write_issued
from replicator.config import Config, Member
from replicator.tls import TlsSettings


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def command(*args: str) -> bytes:
    out = b"*%d\r\n" % len(args)
    for arg in args:
        out += b"$%d\r\n%s\r\n" % (len(arg.encode()), arg.encode())
    return out


def talk(source: str, port: int, target: str, *commands: tuple[str, ...], tls: ssl.SSLContext | None = None) -> str:
    """Connect from `source` to target:port (over TLS with `tls`), send the commands, return every
    byte until EOF or a pause."""
    with socket.socket() as plain:
        plain.bind((source, 0))
        plain.settimeout(10)
        plain.connect((target, port))
        sock = tls.wrap_socket(plain, server_hostname=target) if tls is not None else plain
        for args in commands:
            sock.sendall(command(*args))
        got = b""
        sock.settimeout(1.0)
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except TimeoutError:
            got += b"<open>"  # the connection stayed open
        except ssl.SSLError as exc:  # a TLS connection closed without close_notify
            got += b"<closed>" if "EOF" in str(exc) else str(exc).encode()
        else:
            got += b"<closed>"
    return got.decode("utf-8", "replace")


def start(workdir: Path, name: str, address: str, tls=None, **settings) -> tuple[subprocess.Popen, int]:
    resp = (address, free_port(address))
    if tls is not None:  # the RESP port speaks TLS only
        settings["tls"] = TlsSettings(port=resp[1], cert_file=tls[0], key_file=tls[1], auth_clients="no")
    member = Member(id=1, peer=("127.0.0.1", free_port("127.0.0.1")), resp=resp)
    cfg = Config(node_id=1, members=(member,), data_dir=workdir / name, resp=resp, peer=member.peer, **settings)
    path = workdir / f"{name}.toml"
    path.write_text(config_mod.to_toml(cfg))
    log = open(workdir / f"{name}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "replicator", "serve", "--config", str(path)], stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if "PONG" in talk("127.0.0.1", resp[1], address, ("PING",), tls=tls and tls[2]):
                return proc, resp[1]
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"node {name} did not start: {(workdir / f'{name}.log').read_text()[-2000:]}")
        time.sleep(0.1)


def main() -> None:
    workdir, address = Path(sys.argv[1]), sys.argv[2]
    seen: dict[str, str] = {}
    procs = []
    try:
        proc, port = start(workdir, "protected", address, insecure_peers=True)
        procs.append(proc)
        seen["outside"] = talk(address, port, address, ("PING",))
        seen["local"] = talk("127.0.0.1", port, address, ("PING",), ("CONFIG", "GET", "protected-mode"))
        seen["set_password"] = talk("127.0.0.1", port, address, ("CONFIG", "SET", "requirepass", "pw"))
        seen["outside_with_password"] = talk(address, port, address, ("PING",), ("AUTH", "pw"), ("PING",))
        talk("127.0.0.1", port, address, ("AUTH", "pw"), ("CONFIG", "SET", "requirepass", ""))
        seen["outside_password_removed"] = talk(address, port, address, ("PING",))
        stats = talk("127.0.0.1", port, address, ("INFO", "stats"))
        seen["rejected_connections"] = next(
            line for line in stats.splitlines() if line.startswith("rejected_connections:")
        )
        seen["set_off"] = talk("127.0.0.1", port, address, ("CONFIG", "SET", "protected-mode", "no"))
        seen["outside_off"] = talk(address, port, address, ("PING",))
        proc, port = start(workdir, "unprotected", address, insecure_peers=True, protected_mode=False)
        procs.append(proc)
        seen["toml_off"] = talk(address, port, address, ("PING",), ("CONFIG", "GET", "protected-mode"))
        ca = make_ca("namespace CA")
        write_issued(ca, workdir / "ca.crt", workdir / "ca.key")
        write_issued(make_cert(ca, "node", hosts=(address, "127.0.0.1")), workdir / "n.crt", workdir / "n.key")
        client_tls = ssl.create_default_context(cafile=str(workdir / "ca.crt"))
        tls = (workdir / "n.crt", workdir / "n.key", client_tls)
        proc, port = start(workdir, "tls", address, tls=tls, insecure_peers=True)
        procs.append(proc)
        seen["tls_outside"] = talk(address, port, address, ("PING",), tls=client_tls)
        seen["tls_local"] = talk("127.0.0.1", port, address, ("PING",), tls=client_tls)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
