"""compose.yaml's services as host processes: a site rendered for host paths and free ports.

Each service runs the command compose gives it, with the container's paths swapped for the
host's and its ports for free ones; everything else comes from the site's generated files.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from ops.broker.process import find_mosquitto, free_port
from ops.broker.security import find_dynsec_plugin
from ops.site.layout import BrokerLayout, ProxyLayout, ServiceLayout, SiteLayout
from tests.deploy.compose import command
from tests.helpers import wait_for

T = TypeVar("T")
STOP_TIMEOUT_S: Final = 15.0
_NGINX_FALLBACK: Final = Path("/usr/sbin/nginx")
_LOG_TAIL: Final = 30


def find_nginx() -> Path | None:
    found = shutil.which("nginx")
    if found is not None:
        return Path(found)
    return _NGINX_FALLBACK if os.access(_NGINX_FALLBACK, os.X_OK) else None


@dataclass(frozen=True, slots=True)
class Ports:
    """A free port for everything compose publishes or the replicas listen on."""

    mqtt_plain: int
    mqtt_tls: int
    http: int
    https: int
    api: tuple[int, int]
    metrics: tuple[int, int]

    @classmethod
    def free(cls) -> Ports:
        return cls(
            mqtt_plain=free_port(),
            mqtt_tls=free_port(),
            http=free_port(),
            https=free_port(),
            api=(free_port(), free_port()),
            metrics=(free_port(), free_port()),
        )


def _user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def host_layout(site: Path, work: Path, ports: Ports, *, database_url: str) -> SiteLayout:
    """The layout of `site` for processes on this machine, state and temp files in `work`."""
    binary = find_mosquitto()
    assert binary is not None, "require_secure_mosquitto() comes first"
    return SiteLayout(
        broker=BrokerLayout(
            config_dir=site / "mosquitto",
            data_dir=work / "mosquitto-data",
            runtime_dir=work / "mosquitto-run",
            binary=binary,
            plugin=find_dynsec_plugin(binary),
            run_as=_user(),
            plain_port=ports.mqtt_plain,
            tls_bind="127.0.0.1",
            tls_port=ports.mqtt_tls,
            log_to_stdout=False,
        ),
        services=ServiceLayout(
            ca_file=site / "mosquitto" / "certs" / "ca.pem",
            database_url=database_url,
            forwarded_allow_ips="127.0.0.1",
        ),
        proxy=ProxyLayout(
            config_dir=site / "proxy",
            temp_dir=work / "nginx-temp",
            # nginx's workers drop to `user` only when started as root; as anyone else it
            # would ignore the directive with a warning.
            user=_user() if os.geteuid() == 0 else None,
            http_listen=f"127.0.0.1:{ports.http}",
            https_listen=f"127.0.0.1:{ports.https}",
            public_https_port=ports.https,
            upstreams=tuple(f"127.0.0.1:{port}" for port in ports.api),
            access_log=str(work / "nginx-access.log"),
            error_log=str(work / "nginx-error.log"),
        ),
    )


def with_value(argv: list[str], option: str, value: str) -> list[str]:
    """`argv` with the value after `option` replaced."""
    at = argv.index(option)
    return [*argv[: at + 1], value, *argv[at + 2 :]]


def yizhan_argv(service: str) -> list[str]:
    """The compose service's `yizhan …` command, run by this interpreter."""
    argv = command(service)
    assert argv[0] == "yizhan", f"{service} does not run yizhan"
    return [sys.executable, "-m", "yizhan", *argv[1:]]


def _on_host(arg: str, container: Path, host: Path) -> str:
    path = Path(arg)
    return str(host / path.relative_to(container)) if path.is_relative_to(container) else arg


def broker_argv(site: Path) -> list[str]:
    """compose's `sh /etc/yizhan/mosquitto/start.sh`, with the site's own start.sh."""
    container = BrokerLayout().config_dir
    return [_on_host(arg, container, site / "mosquitto") for arg in command("mosquitto")]


def proxy_argv(site: Path, work: Path, nginx: Path) -> list[str]:
    """compose's nginx command with the host's conf, plus a prefix, pid and error log."""
    argv = command("proxy")
    conf = Path(argv[argv.index("-c") + 1]).relative_to(ProxyLayout().config_dir)
    argv = with_value(argv, "-c", str(site / "proxy" / conf))
    daemon = argv[argv.index("-g") + 1]
    argv = with_value(argv, "-g", f"{daemon} pid {work / 'nginx.pid'};")
    # -p and -e: nginx opens its compiled-in prefix and error log before reading the conf.
    return [str(nginx), "-p", str(work), "-e", str(work / "nginx-error.log"), *argv[1:]]


def accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path) -> str:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-_LOG_TAIL:])


class Services:
    """Started processes, each logging to its own file; all stopped by `stop_all`."""

    def __init__(self, logs: Path, env: Mapping[str, str]) -> None:
        self.logs = logs
        self.env = dict(env)
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        logs.mkdir(parents=True, exist_ok=True)

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self, name: str, argv: list[str], *, env: Mapping[str, str] | None = None) -> None:
        """Start a long-running service; ``env`` (default: the stack's) is its environment."""
        with self.log(name).open("wb") as out:
            self._running[name] = subprocess.Popen(
                argv,
                env=dict(self.env if env is None else env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def run(
        self,
        name: str,
        argv: list[str],
        *,
        stdin: str = "",
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Run a one-shot command (like compose's migrate job) and require exit code 0."""
        done = subprocess.run(
            argv,
            env=dict(self.env if env is None else env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.log(name).write_text(done.stdout + done.stderr, encoding="utf-8")
        assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stderr}"

    def check_alive(self) -> None:
        for name, process in self._running.items():
            code = process.poll()
            if code is not None:
                raise AssertionError(f"{name} exited with {code}:\n{_tail(self.log(name))}")

    def wait(self, predicate: Callable[[], T], *, timeout: float, message: str) -> T:
        """wait_for, failing at once (with the log) when a service has died meanwhile."""

        def alive_and(predicate: Callable[[], T] = predicate) -> T:
            self.check_alive()
            return predicate()

        return wait_for(alive_and, timeout=timeout, interval=0.1, message=message)

    def stop_all(self) -> None:
        """SIGTERM in reverse start order (the broker outlives its clients), then SIGKILL."""
        for process in reversed(self._running.values()):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._running.clear()


def service_env(site_env: Mapping[str, str]) -> dict[str, str]:
    """This environment without any YZ_CLOUD_* of its own, plus the site's .env."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("YZ_CLOUD_")}
    return {**inherited, **site_env}


def upstreams_used(access_log: Path) -> set[str]:
    """The replicas nginx sent requests to, from its access log."""
    text = access_log.read_text(encoding="utf-8") if access_log.exists() else ""
    return set(re.findall(r"upstream=(\S+)", text))
