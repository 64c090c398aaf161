"""`wlk serve`: bind, load the models (``/health`` says 503 until they are in), serve with uvicorn.

Starlette + uvicorn: the smallest well-kept ASGI pair that has WebSockets, multipart uploads and static
files; FastAPI would add pydantic models we do not need (our messages are declared in ``protocols``).
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from wlk_cli.config import Settings
from wlk_cli.errors import UsageError, WlkError

TOKEN_ENV = "WLK_API_TOKEN"
DRAIN_S = 20.0  # at shutdown, how long the streams (and their final passes) get to end


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    max_sessions: int = 0
    """0: what this machine holds in real time for the model and policy (hub.default_max_sessions)."""
    pcm_input: bool = False
    api_token: str | None = None
    allowed_origins: tuple[str, ...] = ()
    max_frame_bytes: int = 1 << 20
    max_upload_mb: int = 200
    max_session_s: float = 4 * 3600.0
    idle_s: float = 60.0
    debug: bool = False

    def check(self) -> ServeOptions:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise UsageError("ssl: give both --ssl-certfile and --ssl-keyfile, or neither")
        for p in (self.ssl_certfile, self.ssl_keyfile):
            if p is not None and not p.is_file():
                raise UsageError(f"ssl: {p} is not a file")
        if not 0 <= self.port <= 65535:
            raise UsageError(f"port: {self.port} is out of range (0 to 65535)")
        for name, value, lo in (
            ("max_sessions", self.max_sessions, 0),
            ("max_frame_bytes", self.max_frame_bytes, 1024),
            ("max_upload_mb", self.max_upload_mb, 1),
            ("max_session_s", self.max_session_s, 1),
            ("idle_timeout", self.idle_s, 1),
        ):
            if value < lo:
                raise UsageError(f"{name}: {value} is below {lo}")
        self.api_token = self.api_token or os.environ.get(TOKEN_ENV) or None
        return self


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise WlkError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def urls(host: str, port: int, tls: bool) -> list[str]:
    shown = f"[{host}]" if ":" in host else host
    http, ws = ("https", "wss") if tls else ("http", "ws")
    base = f"{shown}:{port}"
    return [
        f"page:        {http}://{base}/",
        f"WhisperLiveKit protocol: {ws}://{base}/asr",
        f"native stream: {ws}://{base}/v1/stream",
        f"OpenAI API:  {http}://{base}/v1  (POST /v1/audio/transcriptions)",
        f"health:      {http}://{base}/health   metrics: {http}://{base}/metrics",
    ]


def run_serve(settings: Settings, opts: ServeOptions) -> None:
    """Serve until SIGINT/SIGTERM (open sessions are closed cleanly)."""
    import uvicorn

    from wlk_cli.server.hub import Hub, Limits, default_max_sessions, limit_malloc_arenas
    from wlk_cli.server.routes import build_app
    from wlk_cli.server.security import Access

    opts.check()
    limit_malloc_arenas()  # before any thread: see hub.limit_malloc_arenas
    sock = _listen(opts.host, opts.port)
    port = sock.getsockname()[1]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    device = "cuda" if settings.device == "cuda" else "cpu"
    if settings.device == "auto":
        from wlk_cli.asr.faster_whisper import _pick_device

        device = _pick_device("auto")
    max_sessions = opts.max_sessions or default_max_sessions(settings, cpus, device)
    limits = Limits(
        max_sessions=max_sessions,
        max_frame_bytes=opts.max_frame_bytes,
        max_upload_bytes=opts.max_upload_mb << 20,
        max_session_s=opts.max_session_s,
        idle_s=opts.idle_s,
    )
    hub = Hub(None, settings, limits, pcm_input=opts.pcm_input)
    app = build_app(hub, Access(opts.api_token, opts.allowed_origins))
    tls = opts.ssl_certfile is not None
    config = uvicorn.Config(
        app,
        ws_max_size=opts.max_frame_bytes,
        log_level="info" if opts.debug else "warning",
        access_log=opts.debug,
        lifespan="off",
        ssl_certfile=str(opts.ssl_certfile) if opts.ssl_certfile else None,
        ssl_keyfile=str(opts.ssl_keyfile) if opts.ssl_keyfile else None,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)

    def say(text: str) -> None:
        print(f"wlk serve: {text}", file=sys.stderr, flush=True)

    if opts.host not in ("127.0.0.1", "localhost", "::1") and not opts.api_token:
        say(f"warning: listening on {opts.host} without --api-token: anyone who can reach it may use it")
    say(f"loading {settings.model} ({settings.policy}, up to {max_sessions} sessions)...")
    failure: list[WlkError] = []

    def load() -> None:
        try:
            hub.load(max_sessions)
            for line in urls(opts.host, port, tls):
                say(line)
        except WlkError as e:
            failure.append(e)
            server.should_exit = True

    threading.Thread(target=load, name="wlk-load", daemon=True).start()
    # uvicorn shuts down on SIGINT/SIGTERM (open streams get close 1012), then raises the signal again
    # under the handlers it found: SIGTERM then ends the command as Ctrl-C does (exit 130)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run(sockets=[sock])
    finally:
        if not hub.drain(DRAIN_S):  # a stream still in the model: leave without tearing it down
            say(f"the streams did not end within {DRAIN_S:.0f} s: stopped")
            sys.stdout.flush()
            os._exit(130)
    if failure:
        raise failure[0]
