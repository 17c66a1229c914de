"""Worker "hosts" on this machine: network namespaces of their own, each joined to the root namespace
by a veth pair, so a Celery worker started in one reaches PostgreSQL, Redis and S3 only over its
network interface, as a worker machine reaches them over the LAN.

Host k of a set is 10.200.<i>.2 on its `eth0`; the root side of its veth pair is 10.200.<i>.1, its
`gateway`, where it finds every service (<i> is a subnet this run claims; see _claim_subnet).

The machine's PostgreSQL and Redis listen on 127.0.0.1 only and are shared with other test runs:
changing PostgreSQL's listen_addresses needs a restart that would cut their connections. So a relay
in this process listens on each gateway address with the service's own port and forwards to
127.0.0.1: a host's bytes to PostgreSQL cross its veth to 10.200.<i>.1:5432, and the server sees a
local client (its pg_hba and Redis's protected mode need no change). Each relay counts the
connections it carried, so a test can show the traffic went that way. The S3 server is one we start
ourselves: it binds the gateway addresses directly (tests/scaleout/rclone.py).

Needs root and iproute2's `ip netns`. Without them `Hosts` raises HostsUnavailable with the reason.
Everything is removed on exit, after a failure too; namespaces that a killed run left behind (named
after its pid) are removed by the next run.

    with Hosts(2, relay=[("127.0.0.1", 5432), ("127.0.0.1", 6379)]) as hosts:
        subprocess.Popen(hosts[0].command(["celery", ...]), env={"DATABASE_URL": hosts[0].url(db_url), ...})
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

NAME_PREFIX = "clhost"
LOCK_DIR = Path("/tmp/customlabels-hosts")
_STALE_NAME = re.compile(rf"^{NAME_PREFIX}-(\d+)-\d+$")


class HostsUnavailable(RuntimeError):
    """Network namespaces cannot be made here; the message says why and what to do."""


@dataclass(frozen=True)
class Host:
    name: str  # the network namespace
    address: str  # the host's own address, on its eth0
    gateway: str  # the root side of its veth pair, where it reaches every service

    def command(self, args: list[str]) -> list[str]:
        """`args` run inside this host. `ip netns exec` execs them, so the pid is the command's own."""
        return ["ip", "netns", "exec", self.name, *args]

    def url(self, url: str) -> str:
        """A service URL on this machine (127.0.0.1, localhost) as the host reaches it: the same port
        on its gateway address, where a relay or the server itself listens."""
        parts = urlsplit(url)
        userinfo, _, _ = parts.netloc.rpartition("@")
        netloc = f"{self.gateway}:{parts.port}" if parts.port else self.gateway
        return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc}" if userinfo else netloc))


class Relay:
    """Forwards each TCP connection accepted on `listen` to `target`, one thread per direction, and
    counts connections by the peer's address. A connection ends as a whole when either side ends it,
    so a killed worker's database session ends (and its transaction rolls back) at once."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]):
        self.listen, self.target = listen, target
        self.connections: Counter[str] = Counter()
        self._server = socket.create_server(listen)
        self._server.settimeout(0.5)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"relay {listen}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, peer = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections[peer[0]] += 1
                self._open.update((client, upstream))
            pair = (client, upstream)
            threading.Thread(target=self._pump, args=(client, upstream, pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, pair), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, pair: tuple[socket.socket, socket.socket]) -> None:
        buffer = bytearray(256 * 1024)
        view = memoryview(buffer)
        try:
            while n := source.recv_into(buffer):
                sink.sendall(view[:n])
        except OSError:
            pass
        finally:
            self._end(pair)

    def _end(self, pair: tuple[socket.socket, ...]) -> None:
        with self._lock:
            for sock in pair:
                if sock in self._open:
                    self._open.discard(sock)
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    sock.close()

    def close(self) -> None:
        self._stopping.set()
        self._server.close()
        self._thread.join(5)
        with self._lock:
            still_open = list(self._open)
        self._end(tuple(still_open))


def _run(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode:
        raise HostsUnavailable(f"`ip {' '.join(args)}` failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _remove_stale_namespaces() -> None:
    """Namespaces of ours whose run is gone (a run killed with SIGKILL cleans nothing up)."""
    for line in _run("netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        match = _STALE_NAME.match(name)
        if match and not _pid_alive(int(match[1])):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def _claim_subnet() -> tuple[int, object]:
    """A subnet index no other live run holds (an exclusive lock on a file per index, released when
    this process ends however it ends) and no interface of the machine has an address in."""
    LOCK_DIR.mkdir(exist_ok=True)
    taken = _run("-4", "-o", "addr", "show")
    for index in range(1, 255):
        if f" 10.200.{index}." in taken:
            continue
        lock = open(LOCK_DIR / f"subnet-{index}.lock", "w")  # noqa: SIM115 - held until Hosts closes it
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return index, lock
    raise HostsUnavailable("every subnet 10.200.<i>.0/24 is taken on this machine")


def check_available() -> None:
    """Raise HostsUnavailable unless this process can make network namespaces."""
    if os.geteuid() != 0:
        raise HostsUnavailable(
            "Worker hosts are network namespaces (`ip netns add`), which only root can make: run the "
            "scale-out tests as root, as CI does."
        )
    if shutil.which("ip") is None:
        raise HostsUnavailable("Worker hosts need iproute2's `ip`: apt-get install iproute2")


class Hosts:
    """`count` hosts, each with relays on its gateway to the (address, port) services in `relay`."""

    def __init__(self, count: int, *, relay: list[tuple[str, int]] = ()):
        self.count = count
        self.relay_targets = list(relay)
        self.hosts: list[Host] = []
        self.relays: dict[tuple[str, int], Relay] = {}  # by (gateway, port)
        self._locks: list = []

    def __enter__(self) -> Hosts:
        check_available()
        try:
            _remove_stale_namespaces()
            for k in range(1, self.count + 1):
                self._host_add(k)
            for host in self.hosts:
                for target in self.relay_targets:
                    self.relays[(host.gateway, target[1])] = Relay((host.gateway, target[1]), target)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getitem__(self, k: int) -> Host:
        return self.hosts[k]

    def __iter__(self):
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def _host_add(self, k: int) -> None:
        index, lock = _claim_subnet()
        self._locks.append(lock)
        name = f"{NAME_PREFIX}-{os.getpid()}-{k}"
        host = Host(name=name, address=f"10.200.{index}.2", gateway=f"10.200.{index}.1")
        outside, inside = f"clh{index}", f"clh{index}p"
        # Listed before any of it exists, so close() removes whatever part of it was made.
        self.hosts.append(host)
        _run("netns", "add", name)
        _run("link", "add", outside, "type", "veth", "peer", "name", inside)
        _run("link", "set", inside, "netns", name)
        _run("addr", "add", f"{host.gateway}/24", "dev", outside)
        _run("link", "set", outside, "up")
        _run("-n", name, "link", "set", inside, "name", "eth0")
        _run("-n", name, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _run("-n", name, "link", "set", "eth0", "up")
        _run("-n", name, "link", "set", "lo", "up")

    def connections(self, host: Host, port: int) -> int:
        """How many connections the relay to `port` carried from `host`."""
        relay = self.relays.get((host.gateway, port))
        return relay.connections[host.address] if relay else 0

    def close(self) -> None:
        for relay in self.relays.values():
            relay.close()
        self.relays.clear()
        for host in self.hosts:
            subprocess.run(["ip", "netns", "delete", host.name], capture_output=True)
            # A veth pair whose namespace end could not be moved stays in the root namespace.
            outside = f"clh{host.gateway.split('.')[2]}"
            subprocess.run(["ip", "link", "delete", outside], capture_output=True)
        self.hosts.clear()
        for lock in self._locks:
            lock.close()
        self._locks.clear()
