"""The site's reverse proxy: nginx.conf for TLS in front of the API replicas, and its certificate.

What the API needs from a proxy is in deploy/README.md: /live is a server-sent event stream
(unbuffered, idle reads of at least 30 s), HTTPS, and the X-Forwarded-* headers uvicorn
trusts from the proxy's address (FORWARDED_ALLOW_IPS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from ops.pki import PkiError, init_pki
from ops.site.layout import DeployError, HostName, ProxyLayout

CONF_FILE: Final = "nginx.conf"
CERTS_DIR: Final = "certs"
# Requests are JSON and form posts (config pushes, kiosk steps, sign-ins), all far below this;
# nginx refuses anything bigger before it reaches a replica.
MAX_BODY: Final = "1m"
MAX_UPLOAD: Final = "200m"  # cloud.api.body_limit.UPLOADS, for a roster file
UPLOAD_READ_TIMEOUT: Final = "300s"  # a 300,000-row XLSX takes ~40 s to import; margin
# The stream sends a keep-alive every 15 s; an hour lets a desk watch without reconnecting.
LIVE_READ_TIMEOUT: Final = "1h"
_TEMP_KINDS: Final = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
# Set here once for every response: pages also get them from the app (cloud/web/render.py),
# so the app's copy is hidden rather than sent twice. The app's Content-Security-Policy
# stays the app's: it knows its own scripts.
_SECURITY_HEADERS: Final = (
    ("Strict-Transport-Security", '"max-age=31536000"'),
    ("X-Content-Type-Options", '"nosniff"'),
    ("X-Frame-Options", '"DENY"'),
    ("Referrer-Policy", '"same-origin"'),
)


def _main_context(layout: ProxyLayout) -> list[str]:
    lines = ["worker_processes auto;", f"error_log {layout.error_log} warn;", ""]
    if layout.user is not None:
        lines.insert(0, f"user {layout.user};")
    return [*lines, "events {", "    worker_connections 1024;", "}", ""]


def _http_settings(layout: ProxyLayout) -> list[str]:
    temp = [f"{kind}_temp_path {layout.temp_dir / kind};" for kind in _TEMP_KINDS]
    return [
        "server_tokens off;",
        "default_type application/octet-stream;",
        *temp,
        # $upstream_addr says which replica answered each request.
        "log_format yizhan '$remote_addr [$time_local] \"$request\" $status $body_bytes_sent '",
        "                  'rt=$request_time upstream=$upstream_addr';",
        f"access_log {layout.access_log} yizhan;",
        f"client_max_body_size {MAX_BODY};",
        "",
        "upstream yizhan_api {",
        *(f"    server {server};" for server in layout.upstreams),
        "    keepalive 16;",
        "}",
        "",
    ]


def _redirect_server(domain: HostName, layout: ProxyLayout) -> list[str]:
    return [
        "server {",
        f"    listen {layout.http_listen};",
        f"    server_name {domain};",
        f"    return 301 https://{domain}{layout.port_suffix}$request_uri;",
        "}",
        "",
    ]


def _proxy_headers(domain: HostName, layout: ProxyLayout) -> list[str]:
    # The site's own name, never the client's Host header: links and redirects the app
    # builds cannot be pointed at another host by a forged header.
    host = f"{domain}{layout.port_suffix}"
    return [
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',  # keeps the upstream connections alive
        f"proxy_set_header Host {host};",
        # Overwritten, not appended: nginx is the edge, so a client's own value means nothing.
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        f"proxy_set_header X-Forwarded-Host {host};",
        f"proxy_set_header X-Forwarded-Port {layout.public_https_port};",
        "proxy_set_header X-Real-IP $remote_addr;",
    ]


def _tls_server(domain: HostName, layout: ProxyLayout) -> list[str]:
    certs = layout.config_dir / CERTS_DIR
    headers = [f"proxy_hide_header {name};" for name, _ in _SECURITY_HEADERS]
    headers += [f"add_header {name} {value} always;" for name, value in _SECURITY_HEADERS]
    body = [
        # "listen … http2" rather than "http2 on" (1.25.1+): Debian 12's nginx 1.22, which
        # the stack test runs, knows only this form; 1.27 accepts it with a notice.
        f"listen {layout.https_listen} ssl http2;",
        f"server_name {domain};",
        f"ssl_certificate {certs / 'server.pem'};",
        f"ssl_certificate_key {certs / 'server.key'};",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_session_cache shared:yizhan_tls:10m;",
        "ssl_session_timeout 1d;",
        "ssl_session_tickets off;",
        "",
        *headers,
        "",
        *_proxy_headers(domain, layout),
        "",
        "location / {",
        "    proxy_pass http://yizhan_api;",
        "}",
        # The dashboard's server-sent events: each event must leave as soon as it is written.
        "location = /live {",
        "    proxy_pass http://yizhan_api;",
        "    proxy_buffering off;",
        "    proxy_cache off;",
        f"    proxy_read_timeout {LIVE_READ_TIMEOUT};",
        "}",
        # A union's roster file (cloud.api.body_limit.UPLOADS): the one larger body.
        "location = /api/v1/members/import {",
        f"    client_max_body_size {MAX_UPLOAD};",
        "    proxy_pass http://yizhan_api;",
        "    proxy_request_buffering off;",
        f"    proxy_read_timeout {UPLOAD_READ_TIMEOUT};",
        "}",
        # Scrapers reach api:8000 on the private network; the internet has no use for it.
        "location = /metrics {",
        "    return 404;",
        "}",
    ]
    return ["server {", *(f"    {line}" if line else "" for line in body), "}"]


def render_nginx_conf(domain: HostName, *, layout: ProxyLayout) -> str:
    """nginx.conf for the proxy: HTTPS to the API replicas, plain HTTP only to redirect.

    It holds neither ``pid`` nor ``daemon``: the command line sets them (the container's
    ``-g 'daemon off;'``, a test's own pid file), and nginx refuses a directive set twice.
    """
    http = [
        *_http_settings(layout),
        *_redirect_server(domain, layout),
        *_tls_server(domain, layout),
    ]
    lines = [
        f"# Written by `yizhan deploy cloud` for {domain}; regenerate the site rather than edit",
        "# it. To use a real certificate, replace certs/server.pem (with its chain) and",
        "# certs/server.key, then restart the proxy.",
        *_main_context(layout),
        "http {",
        *(f"    {line}" if line else "" for line in http),
        "}",
    ]
    return "\n".join(lines) + "\n"


def write_proxy_certs(certs_dir: Path, domain: HostName, *, ca_key: Path, force: bool) -> None:
    """A development CA and a certificate for `domain`, so the proxy starts; replace them."""
    try:
        files = init_pki(certs_dir, server_names=[str(domain)], force=force)
    except PkiError as exc:
        raise DeployError(str(exc)) from exc
    ca_key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    files.ca_key.replace(ca_key)
