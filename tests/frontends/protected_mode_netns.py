"""Run inside a network namespace (test_resp_protected_mode.py starts it with `unshare -rn`):
a real node listening on a non-loopback address of the namespace, clients from that address
and from 127.0.0.1. Prints what each client was answered, as JSON, for the test to check.

    python protected_mode_netns.py WORKDIR ADDRESS
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from replicator import config as config_mod
from replicator.config import Config, Member


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def command(*args: str) -> bytes:
    out = b"*%d\r\n" % len(args)
    for arg in args:
        out += b"$%d\r\n%s\r\n" % (len(arg.encode()), arg.encode())
    return out


def talk(source: str, port: int, target: str, *commands: tuple[str, ...]) -> str:
    """Connect from `source` to target:port, send the commands, return every byte until EOF or a pause."""
    with socket.socket() as sock:
        sock.bind((source, 0))
        sock.settimeout(10)
        sock.connect((target, port))
        for args in commands:
            sock.sendall(command(*args))
        got = b""
        sock.settimeout(1.0)
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except TimeoutError:
            got += b"<open>"  # the connection stayed open
        else:
            got += b"<closed>"
    return got.decode("utf-8", "replace")


def start(workdir: Path, name: str, address: str, **settings) -> tuple[subprocess.Popen, int]:
    resp = (address, free_port(address))
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
            if "PONG" in talk("127.0.0.1", resp[1], address, ("PING",)):
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
        seen["set_off"] = talk("127.0.0.1", port, address, ("CONFIG", "SET", "protected-mode", "no"))
        seen["outside_off"] = talk(address, port, address, ("PING",))
        proc, port = start(workdir, "unprotected", address, insecure_peers=True, protected_mode=False)
        procs.append(proc)
        seen["toml_off"] = talk(address, port, address, ("PING",), ("CONFIG", "GET", "protected-mode"))
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
