"""Ports the harness picks for its servers come from below the kernel's ephemeral range.

A Temporal dev server picks its internal ports with `bind(0)`, from the ephemeral
range; a frontend port picked there too was once picked again by the server for one
of its own services, and the server died ("bind: address already in use")."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from devstack.mailcatcher import PORTS_FROM
from devstack.mailcatcher import distinct_free_ports
from devstack.mailcatcher import free_port


def ephemeral_low() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_a_free_port_is_below_the_ephemeral_range_and_can_be_bound() -> None:
    for _ in range(50):
        port = free_port()
        assert PORTS_FROM <= port < ephemeral_low()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_someone_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        other = free_port()  # never `busy`: that one can't be bound
        picks = iter([busy, busy, other])
        monkeypatch.setattr(random, "randrange", lambda *_: next(picks))

        assert free_port() == other


def test_distinct_free_ports_are_all_different() -> None:
    ports = distinct_free_ports(40)
    assert len(set(ports)) == 40
