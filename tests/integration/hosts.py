"""Hosts of a test's own: Linux network namespaces on one private bridge.

``Lab(2)`` makes three network namespaces: the *lab*, which holds a bridge (``10.231.0.1/24``),
the broker and the test's own Kafka clients, and two *hosts*, each with its own loopback and one
cable (a veth pair) into the lab's bridge (``10.231.0.2``, ``10.231.0.3``). A worker started on a
host reaches the broker over that cable only, as a worker on another machine would; cutting the
cable (``cut``) is a network partition of that host. Nothing listens outside these namespaces:
the machine's own interfaces never see the lab's addresses.

Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2; ``Lab.available()`` says whether this
machine allows it and why not.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000
SUBNET = "10.231.0"


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns (network namespace)")


class Lab:
    def __init__(self, hosts: int) -> None:
        tag = uuid.uuid4().hex[:6]
        self.lab = f"sg{tag}-lab"
        self.hosts = [f"sg{tag}-h{i}" for i in range(1, hosts + 1)]
        self._made: list[str] = []

    @staticmethod
    def available() -> str | None:
        """None if network namespaces can be made here, else why not."""
        if shutil.which("ip") is None:
            return "iproute2's `ip` is not installed (apt-get install iproute2)"
        probe = f"sg{uuid.uuid4().hex[:6]}-probe"
        done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
        if done.returncode:
            return f"`ip netns add` is refused here: {done.stderr.strip()}"
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
        return None

    @property
    def broker_address(self) -> str:
        return f"{SUBNET}.1"

    def address(self, host: int) -> str:
        """The address of host ``host`` (1-based)."""
        return f"{SUBNET}.{host + 1}"

    def cable(self, host: int) -> str:
        return f"cable{host}"

    def build(self) -> Lab:
        _ip("netns", "add", self.lab)
        self._made.append(self.lab)
        _ip("-n", self.lab, "link", "set", "lo", "up")
        _ip("-n", self.lab, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.lab, "addr", "add", f"{self.broker_address}/24", "dev", "br0")
        _ip("-n", self.lab, "link", "set", "br0", "up")
        for i in range(1, len(self.hosts) + 1):
            self._plug_in(i)
        return self

    def _plug_in(self, i: int) -> None:
        host = self.hosts[i - 1]
        _ip("netns", "add", host)
        self._made.append(host)
        _ip("-n", host, "link", "set", "lo", "up")
        _ip(
            *("link", "add", self.cable(i), "netns", self.lab, "type", "veth"),
            *("peer", "name", "eth0", "netns", host),
        )
        _ip("-n", self.lab, "link", "set", self.cable(i), "master", "br0", "up")
        _ip("-n", host, "addr", "add", f"{self.address(i)}/24", "dev", "eth0")
        _ip("-n", host, "link", "set", "eth0", "up")

    def reboot(self, host: int) -> None:
        """Host ``host`` starts again with its disk and nothing of its kernel's network state:
        its namespace (sockets, send buffers still holding a dead process's requests, its cable)
        is deleted and made anew with the same address. Its processes must have ended."""
        name = self.hosts[host - 1]
        _ip("-n", self.lab, "link", "del", self.cable(host))  # both ends, now (not when the
        _ip("netns", "del", name)  # kernel gets round to freeing the namespace)
        self._made.remove(name)
        self._plug_in(host)

    def tear_down(self) -> None:
        for name in reversed(self._made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self._made.clear()

    def cut(self, host: int) -> None:
        """Unplug host ``host``'s cable: it and the lab no longer reach each other."""
        _ip("-n", self.lab, "link", "set", self.cable(host), "down")

    def mend(self, host: int) -> None:
        _ip("-n", self.lab, "link", "set", self.cable(host), "up")

    def on_host(self, host: int) -> list[str]:
        """The command prefix that runs a program on host ``host`` (``ip netns exec`` execs it:
        the program keeps the PID the test started)."""
        return ["ip", "netns", "exec", self.hosts[host - 1]]

    @contextmanager
    def inside(self) -> Iterator[None]:
        """Run the calling thread in the lab's network namespace. Threads it starts (librdkafka's)
        and processes it starts (the broker) live there too; the thread returns to its own
        namespace at the end."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        lab = os.open(f"/run/netns/{self.lab}", os.O_RDONLY)
        try:
            _setns(lab)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(lab)
            os.close(own)
