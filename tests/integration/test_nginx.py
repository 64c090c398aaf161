"""Scale-out through Debian's nginx with deploy/nginx/wlk.conf: two `wlk serve` instances on loopback
ports, concurrent clients through the proxy, one instance stopped mid-stream."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import ROOT, wer
from tests.server import Received, Server, joined_clips, pcm16, serve, stream_native, words_of

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists(),
                                                   reason="needs Debian's nginx")]  # fmt: skip
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proxy_config(upstreams: list[int], port: int, prefix: Path) -> Path:
    """nginx.conf around the committed deploy/nginx/wlk.conf, its upstreams and port made local."""
    conf = (ROOT / "deploy/nginx/wlk.conf").read_text()
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n" for p in upstreams)
    conf, n = re.subn(r"(?m)^    server wlk\d:8000[^\n]*\n", "", conf)
    assert n == 2, "wlk.conf's upstream lines changed: update this test"
    conf = conf.replace("    least_conn;\n", "    least_conn;\n" + servers)
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    (prefix / "wlk.conf").write_text(conf)
    main = prefix / "nginx.conf"
    main.write_text(
        f"""
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/wlk.conf;
}}
"""
    )
    return main


@contextmanager
def nginx(upstreams: list[int], tmp: Path) -> Iterator[str]:
    port = _free_port()
    prefix = tmp / "nginx"
    prefix.mkdir()
    conf = proxy_config(upstreams, port, prefix)
    check = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(prefix)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(prefix), "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), 0.5):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGQUIT if os.name == "posix" else signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _started(server: Server) -> int:
    text = httpx.get(server.http + "/metrics").text
    return sum(int(v) for v in re.findall(r"wlk_sessions_total\{[^}]*\} (\d+)", text))


def test_two_instances_behind_nginx_one_stopped_mid_stream(tmp_path: Path) -> None:
    clip, ref = joined_clips(tmp_path)
    audio = pcm16(clip)
    with ExitStack() as stack:
        a = stack.enter_context(serve("--max-sessions", "2", tmp=tmp_path))
        b = stack.enter_context(serve("--max-sessions", "2", tmp=tmp_path))
        proxy = stack.enter_context(nginx([a.port, b.port], tmp_path))
        url = f"ws://{proxy}/v1/stream"
        assert httpx.get(f"http://{proxy}/health").json()["status"] == "ok"

        async def scenario() -> tuple[list[Received], list[Received]]:
            start = {"format": "s16le"}
            clients = []
            for _ in range(4):  # paced at 4x real time: ~8 s each
                clients.append(asyncio.create_task(stream_native(url, audio, start, chunk=6400, pace=0.05)))
                await asyncio.sleep(0.2)
            await asyncio.sleep(3.0)
            assert _started(a) == 2 and _started(b) == 2, "least_conn spreads the sessions"
            a.proc.send_signal(signal.SIGTERM)  # instance a goes away mid-stream
            first = await asyncio.gather(*clients)
            later = await asyncio.gather(*[stream_native(url, audio, start, chunk=16000, pace=0.0) for _ in range(2)])
            return list(first), list(later)

        first, later = asyncio.run(scenario())
        closed = [r for r in first if r.close_code != 1000]
        finished = [r for r in first if r.close_code == 1000]
        assert len(closed) == 2 and all(r.close_code == 1012 for r in closed), [r.close_code for r in first]
        assert all(r.messages and r.messages[0]["type"] == "session" for r in closed)  # they had started
        for r in [*finished, *later]:
            assert r.messages[-1]["type"] == "end" and wer(ref, words_of(r.messages)) <= 0.15
        assert len(later) == 2 and _started(b) == 4  # new sessions go to the instance that is left
        assert a.proc.wait(30) == 130  # stopped as by Ctrl-C, after closing its sessions
