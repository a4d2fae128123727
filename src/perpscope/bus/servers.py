"""Local nats-server processes on loopback (tests, the bench, trying the bus out): one node or a
three-node JetStream cluster with routes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

NATS_SERVER = shutil.which("nats-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nats-server did not listen on {port} within {timeout_s} s")


@dataclass
class NatsNode:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class NatsServers:
    nodes: list[NatsNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def stop(self) -> None:
        for n in self.nodes:
            n.kill()

    def __enter__(self) -> NatsServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_nats(workdir: Path, *, nodes: int = 1, log: Path | None = None) -> NatsServers:
    """``nodes`` == 1: a single JetStream server; else a cluster ``perpscope`` with full-mesh routes."""

    if NATS_SERVER is None:
        raise RuntimeError("nats-server is not installed")
    ports = [free_port() for _ in range(nodes)]
    cports = [free_port() for _ in range(nodes)] if nodes > 1 else []
    out = NatsServers()
    sink = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - lives as long as the servers
    try:
        for i in range(nodes):
            name = f"n{i}"
            cmd = [NATS_SERVER, "-js", "-sd", str(workdir / name), "-a", "127.0.0.1", "-p", str(ports[i])]
            cmd += ["-n", name]
            if nodes > 1:
                routes = ",".join(f"nats://127.0.0.1:{p}" for j, p in enumerate(cports) if j != i)
                cmd += ["--cluster_name", "perpscope", "--cluster", f"nats://127.0.0.1:{cports[i]}"]
                cmd += ["--routes", routes]
            proc = subprocess.Popen(cmd, stdout=sink, stderr=sink)
            out.nodes.append(NatsNode(name, ports[i], proc))
        for n in out.nodes:
            _wait_port(n.port)
    except BaseException:
        out.stop()
        raise
    return out
