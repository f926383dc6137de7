"""``nurture up`` as a user runs it: a real process, real ports, SIGTERM at the end."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
import pytest

NURTURE = Path(sys.executable).with_name("nurture")
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Up:
    """One ``nurture up`` process in a working folder, its output kept in a file."""

    def __init__(self, workdir: Path, *args: str, capture_port: int | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.capture_port = capture_port or free_port()
        self.log = workdir / f"up-{self.port}.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
        env |= {"NURTURE_CAPTURE_SMTP_PORT": str(self.capture_port), "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [str(NURTURE), "up", "--port", str(args[0] if args else self.port)],
                cwd=workdir,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.base = f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"nurture up exited with {self.process.returncode}:\n{self.output}")
            try:
                healthy = httpx.get(f"{self.base}/api/health", timeout=1).status_code == 200
                # The welcome panel is printed just before serving starts.
                if healthy and "Ctrl-C to stop" in self.output:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"nurture up was not healthy within {STARTUP_TIMEOUT} s:\n{self.output}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"nurture up did not stop within {STOP_TIMEOUT} s:\n{self.output}")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def running(workdir: Path) -> Iterator[list[Up]]:
    """Every ``Up`` started by a test; any left running is killed afterwards."""
    started: list[Up] = []
    yield started
    for up in started:
        if up.process.poll() is None:
            up.process.kill()
            up.process.wait()


def send_mail(port: int, subject: str) -> None:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "info@example.jp"
    message["To"] = "taro.yamada@example.jp"
    message.set_content("セミナーのご案内です。")
    asyncio.run(aiosmtplib.send(message, hostname="127.0.0.1", port=port))


def heartbeat_roles(workdir: Path) -> list[str]:
    with sqlite3.connect(workdir / "var" / "nurture.db") as connection:
        return [role for (role,) in connection.execute("SELECT role FROM process_heartbeats")]


def test_up_serves_everything_on_one_port_and_stops_cleanly(
    workdir: Path, running: list[Up]
) -> None:
    first = Up(workdir)
    running.append(first)
    first.wait_healthy()
    output = first.output
    key_match = re.search(r"API key: (nk_\S+)", output)
    assert key_match, output
    key = key_match.group(1)
    auth = {"Authorization": f"Bearer {key}"}

    for path in ("/docs", "/api/health", "/admin/mailbox"):
        assert f"{first.base}{path}" in output
        assert httpx.get(f"{first.base}{path}").status_code == 200
    assert f"127.0.0.1:{first.capture_port}" in output
    key_file = workdir / "var" / "api-key"
    assert key_file.read_text().strip() == key
    assert key_file.stat().st_mode & 0o777 == 0o600

    contacts = httpx.get(f"{first.base}/api/contacts", headers=auth)
    assert contacts.status_code == 200
    names = {(c["last_name"], c["first_name"]) for c in contacts.json()["items"]}
    assert {("山田", "太郎"), ("Johnson", "Alice")} <= names
    edited = httpx.patch(
        f"{first.base}/api/contacts/taro.yamada@example.jp",
        headers=auth,
        json={"first_name": "たろう"},
    )
    assert edited.status_code == 200

    send_mail(first.capture_port, "【ご案内】山田 太郎 様、セミナーのお知らせ")
    mailbox = httpx.get(f"{first.base}/api/mailbox", headers=auth).json()
    assert [m["subject"] for m in mailbox] == ["【ご案内】山田 太郎 様、セミナーのお知らせ"]
    assert "【ご案内】山田 太郎 様" in httpx.get(f"{first.base}/admin/mailbox").text
    assert heartbeat_roles(workdir) == ["up"]

    started_stop = time.monotonic()
    assert first.stop() == 0
    assert time.monotonic() - started_stop < STOP_TIMEOUT
    assert heartbeat_roles(workdir) == []  # the row goes with a clean shutdown

    second = Up(workdir)
    running.append(second)
    second.wait_healthy()
    again = httpx.get(f"{second.base}/api/contacts", headers=auth)  # the first key still works
    taro = next(c for c in again.json()["items"] if c["email"] == "taro.yamada@example.jp")

    assert "API key: nk_" not in second.output
    assert "Demo data added" not in second.output
    assert taro["first_name"] == "たろう"  # not reseeded over the user's edit
    assert len(again.json()["items"]) == len(contacts.json()["items"])
    assert key_file.read_text().strip() == key
    assert second.stop() == 0


def test_up_names_the_port_when_it_is_taken(workdir: Path, running: list[Up]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        up = Up(workdir, str(port))
        running.append(up)
        code = up.process.wait(timeout=STARTUP_TIMEOUT)

    assert code == 1
    assert f"port {port}" in up.output
    assert "--port" in up.output
    assert not (workdir / "var").exists()  # nothing was started or created
