"""The production recipe of docs/deployment.md, started the way it says: the systemd units' ExecStart and
Environment lines, the EnvironmentFile made from deploy/griddesk.env.example, deploy/nginx/griddesk.conf in
front with TLS, and the `griddesk` command for the one-off steps. Only the places change: /srv, /etc, /var
and /run paths move into a temporary folder, the ports to free loopback ones, WeChat to the local fake.

No systemd here, so the test plays its part: it makes the state and runtime folders, reads the
EnvironmentFile, and stops the web unit as KillMode=mixed does (SIGTERM to gunicorn's master alone).
"""

from __future__ import annotations

import datetime as dt
import getpass
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.simulator import message_xml, read_reply, sign
from tests.cli import run_in_process
from tests.conftest import TEST_AES_KEY, command_env, database_url
from tests.e2e.test_command_line import ROOT, free_port, wait_until_up
from tests.e2e.test_production import wait_for_log
from tests.fakewechat import FakeWeChat

DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
ENV_EXAMPLE = DEPLOY / "griddesk.env.example"
NGINX_SITE = DEPLOY / "nginx" / "griddesk.conf"
WRAPPER = DEPLOY / "griddesk"
# Debian's nginx is in /usr/sbin, which a non-root PATH may lack.
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
TEMPLATE_ID = "tpl-default"
PASSWORD = "deploy test 2026"
STOP_SECONDS = 30
LOOPBACK = ipaddress.ip_address("127.0.0.1")
LEAK = "卫生间水管漏水了"

needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx; .ci/run installs it)"
)


@dataclass
class Unit:
    """What the test needs of a systemd service unit: its folder, environment and commands."""

    working_directory: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    environment_files: list[str] = field(default_factory=list)
    exec_start: list[list[str]] = field(default_factory=list)
    exec_start_post: list[list[str]] = field(default_factory=list)


def read_unit(text: str) -> Unit:
    """The [Service] section of a unit file, with systemd's quoting and %% / $$ escapes undone."""
    unit, section = Unit(), ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        if section != "Service":
            continue
        if key == "WorkingDirectory":
            unit.working_directory = value
        elif key == "Environment":
            unit.environment |= dict(word.split("=", 1) for word in shlex.split(value))
        elif key == "EnvironmentFile":
            unit.environment_files.append(value.removeprefix("-"))
        elif key in ("ExecStart", "ExecStartPost"):
            command = [word.replace("%%", "%").replace("$$", "$") for word in shlex.split(value)]
            (unit.exec_start if key == "ExecStart" else unit.exec_start_post).append(command)
    return unit


def read_environment_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them (comments and blank lines skipped)."""
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.strip().split("=", 1) for line in lines)


@dataclass
class Layout:
    """Where the production paths and ports of the recipe land in this test."""

    folder: Path
    web_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    https_port: int = field(default_factory=free_port)

    def places(self) -> dict[str, str]:
        """Production text -> this test's, replaced in this order in every file of the recipe."""
        f = self.folder
        return {
            "/srv/griddesk/app": str(ROOT),
            "/etc/letsencrypt/live/griddesk.example.org": str(f / "tls"),
            "/etc/griddesk": str(f / "etc"),
            "/var/lib/griddesk": str(f / "state"),
            "/run/griddesk": str(f / "run"),
            "/var/backups/griddesk": str(f / "backups"),
            "/var/log/nginx": str(f / "log"),
            "/var/www/letsencrypt": str(f / "acme"),
            "griddesk.example.org": "127.0.0.1",
            # The web unit's port is the one nginx forwards to (each is asserted to be in its file).
            "--port 8000": f"--port {self.web_port}",
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{self.web_port};",
            "listen 80;": f"listen 127.0.0.1:{self.http_port};",
            "listen [::]:80;": "",
            "listen 443 ssl;": f"listen 127.0.0.1:{self.https_port} ssl;",
            "listen [::]:443 ssl;": "",
            "user=griddesk": f"user={getpass.getuser()}",
        }

    def place(self, path: Path) -> str:
        """The file at `path` with the production places replaced by this test's."""
        text = path.read_text()
        for production, here in self.places().items():
            text = text.replace(production, here)
        return text

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"


def test_the_recipe_names_the_ports_and_places_the_test_moves() -> None:
    web = (UNITS / "griddesk-web.service").read_text()
    site = NGINX_SITE.read_text()
    # nginx forwards to the port the web unit listens on, and the web unit listens on loopback alone
    # (X-Forwarded-For is trusted: only nginx may reach it).
    assert "--host 127.0.0.1 --port 8000" in web and "server 127.0.0.1:8000;" in site
    assert "listen 80;" in site and "listen 443 ssl;" in site
    everything = "".join(p.read_text() for p in (*UNITS.iterdir(), ENV_EXAMPLE, NGINX_SITE, WRAPPER))
    for production in Layout(Path("/nowhere")).places():
        assert production in everything, f"{production!r} is no longer in deploy/: update this test's Layout"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units_without_a_warning(tmp_path: Path) -> None:
    layout = Layout(tmp_path)  # placed, so the programs they start exist on this machine
    for unit in UNITS.iterdir():
        (tmp_path / unit.name).write_text(layout.place(unit))
    units = sorted(str(tmp_path / unit.name) for unit in UNITS.iterdir())
    checked = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True, timeout=60
    )
    # An unknown key is only a warning to systemd (and then silently ignored): none may be here.
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


def test_docs_name_every_file_of_the_recipe() -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text()
    files = [p.relative_to(ROOT).as_posix() for p in DEPLOY.rglob("*") if p.is_file()]
    assert files and all(name in guide for name in files), [n for n in files if n not in guide]


def test_the_environment_file_as_shipped_stops_start_up_until_filled_in(tmp_path: Path) -> None:
    shipped = read_environment_file(ENV_EXAMPLE)
    env = command_env() | shipped | {"GRIDDESK_DATABASE_URL": database_url(tmp_path / "x.db")}
    ran = run_in_process(env, "migrate")
    assert ran.returncode == 2 and "GRIDDESK_WECHAT_APPID" in ran.stderr, ran.stderr
    assert "CHANGE-ME" in ran.stderr  # no secret is in the file, so showing the placeholder is safe


@dataclass
class Deployment:
    """The recipe running: where to reach it, the fake WeChat, the logs, and the units read."""

    layout: Layout
    fake: FakeWeChat
    env: dict[str, str]
    token: str
    cert: Path
    logs: Path
    units: dict[str, Unit]

    def post_message(self, openid: str, text: str, msg_id: int) -> str | None:
        """A resident's text as WeChat sends it, signed and encrypted, to nginx over TLS; the reply shown."""
        body = message_xml(openid, "text", {"Content": text}, msg_id=msg_id)
        signed = sign(self.token, body, aes_key=TEST_AES_KEY, appid=self.fake.appid)
        response = requests.post(
            f"{self.layout.https}/wechat",
            params=signed.params,
            data=signed.body.encode(),
            verify=self.cert,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return read_reply(response.text, token=self.token, aes_key=TEST_AES_KEY, appid=self.fake.appid)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Everything docs/deployment.md sets up, started from the recipe's files; all stopped at the end."""
    assert NGINX is not None, "the tests that use this fixture are skipped without nginx"
    folder = tmp_path_factory.mktemp("deployment")
    layout, logs = Layout(folder), folder / "log"
    for name in ("etc", "state/media", "run", "backups", "log", "tls", "acme", "bin", "nginx"):
        (folder / name).mkdir(parents=True)  # what systemd (StateDirectory=...) and the install steps make
    with ExitStack() as stack:
        fake = FakeWeChat(templates=[TEMPLATE_ID]).start()
        stack.callback(fake.stop)
        token = "deploy-test-token"
        env_file = write_environment_file(layout, fake, token)
        units = {p.stem: read_unit(layout.place(p)) for p in UNITS.glob("*.service")}
        for unit in units.values():
            assert unit.environment_files == [str(env_file)]
        base = command_env()  # this environment without GRIDDESK_*: the settings come from the recipe
        env = base | read_environment_file(env_file)

        wrapper = folder / "bin" / "griddesk"
        wrapper.write_text(layout.place(WRAPPER))
        wrapper.chmod(0o755)
        griddesk(base, wrapper, "migrate")
        griddesk(base, wrapper, "community", "load", "config/demo.toml")
        griddesk(
            base,
            wrapper,
            "staff",
            "add",
            "--name",
            "赵建国",
            "--login",
            "zhao",
            "--role",
            "leader",
            "--password-stdin",
            stdin=f"{PASSWORD}\n",
        )

        web_unit = units["griddesk-web"]
        web = stack.enter_context(started(web_unit, env, logs / "web.log", whole_group=False))
        wait_until_up(layout.web_port, web, logs / "web.log")
        stack.enter_context(started(units["griddesk-scheduler"], env, logs / "scheduler.log"))
        wait_for_log(logs / "scheduler.log", "GridDesk scheduler:", seconds=60)
        cert = make_certificate(folder / "tls")
        stack.enter_context(running_nginx(layout))
        yield Deployment(layout, fake, env, token, cert, logs, units)
    for name in ("web.log", "scheduler.log"):
        assert "Traceback" not in (logs / name).read_text(), (logs / name).read_text()
    assert "GridDesk scheduler stopped" in (logs / "scheduler.log").read_text()
    assert "Shutting down: Master" in (logs / "web.log").read_text()  # gunicorn stopped, not killed


def write_environment_file(layout: Layout, fake: FakeWeChat, token: str) -> Path:
    """/etc/griddesk/griddesk.env as the docs make it: the example with every CHANGE-ME filled in, plus
    what only this test needs (the test database, the fake WeChat, a faster dispatcher)."""
    filled = {
        "GRIDDESK_WECHAT_APPID": fake.appid,
        "GRIDDESK_WECHAT_SECRET": fake.secret,
        "GRIDDESK_WECHAT_TOKEN": token,
        "GRIDDESK_WECHAT_AES_KEY": TEST_AES_KEY,
        "GRIDDESK_COMMUNITY_NAME": "幸福里社区",
        "GRIDDESK_COMMUNITY_DUTY_PHONE": "010-12345678",
    }
    test_only = {
        "GRIDDESK_DATABASE_URL": database_url(layout.folder / "griddesk.db"),
        "GRIDDESK_CONSOLE_BASE_URL": layout.https,
        "GRIDDESK_DELIVERY_CONSOLE_URL": f"{layout.https}/console",
        "GRIDDESK_DELIVERY_API_BASE_URL": fake.mp_base_url,
        "GRIDDESK_DELIVERY_REQUEST_TIMEOUT_SECONDS": "2",
        "GRIDDESK_TEMPLATES_DEFAULT_ID": TEMPLATE_ID,
        "GRIDDESK_DISPATCHER_INTERVAL_SECONDS": "0.5",
    }
    lines = []
    for line in layout.place(ENV_EXAMPLE).splitlines():
        key, _, value = line.partition("=")
        if value == "CHANGE-ME":
            assert key in filled, f"{key} is new in {ENV_EXAMPLE.name}: give it a value in this test"
            line = f"{key}={filled[key]}"
        if key not in test_only:
            lines.append(line)
    lines += [f"{key}={value}" for key, value in test_only.items()]
    path = layout.folder / "etc" / "griddesk.env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o640)
    return path


def griddesk(env: dict[str, str], wrapper: Path, *args: str, stdin: str | None = None) -> str:
    """The `griddesk` command as an administrator types it (a process: what it reads is the point)."""
    ran = subprocess.run(
        [str(wrapper), *args], env=env, input=stdin, text=True, capture_output=True, timeout=300, cwd="/"
    )
    assert ran.returncode == 0, f"griddesk {shlex.join(args)}:\n{ran.stdout}{ran.stderr}"
    return ran.stdout


@contextmanager
def started(
    unit: Unit, env: dict[str, str], log: Path, whole_group: bool = True
) -> Iterator[subprocess.Popen]:
    """A service unit's ExecStart in its folder with its environment; stopped as systemd stops it."""
    [command] = unit.exec_start
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=unit.working_directory,
            env=env | unit.environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop(process, whole_group)


def stop(process: subprocess.Popen, whole_group: bool) -> None:
    """SIGTERM (to the main process alone for KillMode=mixed), then SIGKILL to all that is left."""
    try:
        if whole_group:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # systemd ends the whole control group in the end
    process.wait()


@contextmanager
def running_nginx(layout: Layout) -> Iterator[None]:
    """nginx with the repository's site file (in an http block of its own, as Debian's nginx.conf has)."""
    folder = layout.folder
    site = folder / "griddesk.conf"
    site.write_text(layout.place(NGINX_SITE))
    temp = folder / "nginx"
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""  # root's workers else run as nobody
    config = folder / "nginx.conf"
    config.write_text(
        f"""{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/log/nginx.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {site};
}}
"""
    )
    log = folder / "log" / "nginx.out"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                NGINX,
                "-p",
                str(folder),
                "-e",
                str(folder / "log" / "nginx.log"),
                "-c",
                str(config),
                "-g",
                "daemon off;",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(layout.https_port, process, log)
            yield
        finally:
            # SIGQUIT: nginx's graceful stop.
            try:
                process.send_signal(signal.SIGQUIT)
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    """Wait until something listens on the loopback port; fail with nginx's logs if it ended or never did."""
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nginx did not come up:\n{log.read_text()}\n{(log.parent / 'nginx.log').read_text()}")


def make_certificate(folder: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 where certbot would leave one; returns the chain's path."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    chain = folder / "fullchain.pem"
    chain.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return chain


def sign_in(deployment: Deployment, login: str, password: str) -> requests.Session:
    """Sign in to the console through nginx with the real form; returns the browser's session.

    Each call names the certificate: a Session's own `verify` loses to REQUESTS_CA_BUNDLE when that is set.
    """
    browser = requests.Session()
    page = browser.get(f"{deployment.layout.https}/console/signin", verify=deployment.cert, timeout=10)
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {"login": login, "password": password, "csrf_token": token.group(1)}
    landed = browser.post(
        f"{deployment.layout.https}/console/signin", data=form, verify=deployment.cert, timeout=10
    )
    assert landed.status_code == 200 and landed.url.startswith(f"{deployment.layout.https}/console/")
    return browser


def log_once_it_has(log: Path, words: str, seconds: float = 10) -> str:
    """The log once it has `words`: nginx writes a request's line after the client has its answer."""
    deadline = time.monotonic() + seconds
    while True:
        text = log.read_text() if log.exists() else ""
        if words in text:
            return text
        assert time.monotonic() < deadline, f"{log.name} never logged {words!r}: {text!r}"
        time.sleep(0.05)


def wait_for_push(fake: FakeWeChat, openid: str, words: str, seconds: float = 60) -> dict:
    """The first message the fake delivered to `openid` that mentions `words`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for sent in fake.sent_to(openid):
            if words in json.dumps(sent.payload, ensure_ascii=False):
                return sent.payload
        time.sleep(0.2)
    raise AssertionError(f"no push to {openid} mentioning {words!r}: {fake.sent}")


@needs_nginx
@pytest.mark.slow
def test_a_resident_is_answered_through_nginx_the_scheduler_pushes_and_the_leader_sees_it(deployment) -> None:
    reply = deployment.post_message("demo-resident-zhang", LEAK, msg_id=7001)
    assert reply is not None and "网格员王芳" in reply, reply
    # nginx logged the request, but not its query string, where WeChat puts the resident's openid.
    access = log_once_it_has(deployment.logs / "griddesk.access.log", '"POST /wechat" 200')
    assert "demo-resident-zhang" not in access, access

    push = wait_for_push(deployment.fake, "demo-worker-wang", "3号楼")
    assert push["template_id"] == TEMPLATE_ID  # the scheduler's dispatcher sent it, through the live API

    browser = sign_in(deployment, "zhao", PASSWORD)
    assert all(cookie.secure for cookie in browser.cookies), "the console's cookies must be Secure behind TLS"
    board = browser.get(f"{deployment.layout.https}/console/tickets", verify=deployment.cert, timeout=10)
    assert board.status_code == 200 and LEAK in board.text, board.text


@needs_nginx
@pytest.mark.slow
def test_nginx_logs_no_one_time_sign_in_link_of_any_community(deployment) -> None:
    for path in ("/console/go/first-secret-token", "/c/heping/console/go/second-secret-token"):
        requests.get(f"{deployment.layout.https}{path}", verify=deployment.cert, timeout=10)
    access = log_once_it_has(deployment.logs / "griddesk.access.log", '"GET /c/heping/console/go/..."')
    assert '"GET /console/go/..."' in access and "secret-token" not in access, access


@needs_nginx
@pytest.mark.slow
def test_nginx_moves_plain_http_to_https_and_refuses_large_bodies(deployment) -> None:
    layout = deployment.layout
    moved = requests.get(f"http://127.0.0.1:{layout.http_port}/console/", allow_redirects=False, timeout=10)
    assert moved.status_code == 301 and moved.headers["Location"] == "https://127.0.0.1/console/"
    big = requests.post(f"{layout.https}/wechat", data=b"x" * 100_000, verify=deployment.cert, timeout=10)
    # Refused by nginx (client_max_body_size), never reaching a web thread: its own page, not GridDesk's.
    assert big.status_code == 413 and "<center>nginx</center>" in big.text, big.text


@needs_nginx
@pytest.mark.slow
def test_the_backup_unit_copies_the_database_and_the_media(deployment) -> None:
    unit = deployment.units["griddesk-backup"]
    photo = deployment.layout.folder / "state" / "media" / "photo-1.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    for command in unit.exec_start + unit.exec_start_post:
        ran = subprocess.run(
            command,
            cwd=unit.working_directory,
            env=deployment.env | unit.environment,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, f"{shlex.join(command)}:\n{ran.stdout}{ran.stderr}"
    backups = deployment.layout.folder / "backups"
    database = [p for p in backups.iterdir() if p.suffix in (".db", ".dump")]
    [media] = backups.glob("griddesk-media-*.tar.gz")
    assert len(database) == 1 and database[0].stat().st_size > 0
    listed = subprocess.run(["tar", "-tzf", str(media)], capture_output=True, text=True, check=True).stdout
    assert "media/photo-1.jpg" in listed.split()
