"""Authentication as kube-apiserver does it over plain HTTP: --token-auth-file bearer
tokens, --anonymous-auth, 401 with kube's Status, against a real `cpd serve` on both
loops with real kubectl and the real Python client; the token file's parsing and the
authenticator chain as units."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from cp.auth import (
    ALL_AUTHENTICATED,
    ANONYMOUS_USER,
    AuthenticationConfig,
    AuthenticationError,
    AuthenticationMetrics,
    Authenticator,
    TokenFileAuthenticator,
    TokenFileError,
    UserInfo,
    new_authenticator,
    parse_token_file,
)
from cp.auth._csv import CsvError, read_records
from cp.cli import build_parser
from cp.cli import main as cli_main
from cp.endpoints import ApiServerApp
from cp.endpoints.http import Request
from cp.meta.status import ApiError
from cp.registry import BUILTIN, Registry
from tests.api.conftest import KUBECTL, START_DEADLINE, ApiServer, _read_address, stop_server

UNAUTHORIZED = (
    b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
    b'"message":"Unauthorized","reason":"Unauthorized","code":401}'
)
TOKENS = 'admin-token,admin,uid-1,"system:masters,ops"\nalice-token,alice@example.com,uid-2\n'
ADMIN = {"Authorization": "Bearer admin-token"}
WRONG = {"Authorization": "Bearer not-a-token"}
HEALTH_AND_INFO = ("/healthz", "/livez", "/readyz", "/version", "/metrics", "/openapi/v2")


# --- the token file -------------------------------------------------------------------


def test_token_file_records() -> None:
    tokens = parse_token_file(
        b"\n"
        b't1,alice,u1,"dev,ops"\r\n'  # quoted groups, CRLF
        b"\n"
        b"t2,bob,u2\n"  # no groups
        b"t3,carol,u3,admins,ignored,columns\n"  # columns past the fourth are ignored
        b'"t,4","dave ""the"" user",u4,\n'  # quoted commas and quotes; empty group column
        b"t5, spaced ,u5"  # no final newline; whitespace belongs to the field
    )
    assert tokens == {
        "t1": UserInfo("alice", "u1", ("dev", "ops")),
        "t2": UserInfo("bob", "u2"),
        "t3": UserInfo("carol", "u3", ("admins",)),
        # kube splits the fourth column on every comma: "" is one group named "".
        "t,4": UserInfo('dave "the" user', "u4", ("",)),
        "t5": UserInfo(" spaced ", "u5"),
    }


def test_token_file_duplicates_warn_and_the_later_wins(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cp.auth.tokenfile"):
        tokens = parse_token_file(b"t,first,1\nt,second,2\n", "f.csv")
    assert tokens == {"t": UserInfo("second", "2")}
    assert "duplicate token has been found in token file 'f.csv', line 2" in caplog.text


def test_token_file_empty_token_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="cp.auth.tokenfile"):
        tokens = parse_token_file(b",nobody,0\nt,alice,1\n", "f.csv")
    assert tokens == {"t": UserInfo("alice", "1")}
    assert "empty token has been found in token file 'f.csv', line 1" in caplog.text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"t,alice,1\nt2,bob\n",
            "token file 'f.csv' line 2: must have at least 3 columns "
            "(token, user name, user uid), found 2",
        ),
        # A line of spaces is not blank (Go's reader): a record of one field.
        (b"t,alice,1\n   \n", "line 2: must have at least 3 columns"),
        (b't,ali"ce,1\n', "token file 'f.csv' line 1, column 6: bare \" in non-quoted field"),
        (b'"t"x,alice,1\n', 'line 1, column 3: extraneous or missing " in quoted field'),
        (b't,alice,1\n"t2,bob,2\n', "line 2, column 1: quoted field is never closed"),
    ],
)
def test_bad_token_file_names_the_line(data: bytes, message: str) -> None:
    with pytest.raises(TokenFileError, match=None) as caught:
        parse_token_file(data, "f.csv")
    assert message in str(caught.value)


def test_records_spanning_lines_report_where_they_start() -> None:
    assert list(read_records('a,"multi\nline",c\nd,e,f\n')) == [
        (1, ["a", "multi\nline", "c"]),
        (3, ["d", "e", "f"]),
    ]
    with pytest.raises(CsvError) as caught:
        list(read_records('a,"x\ny"z,c\n'))
    assert (caught.value.line, caught.value.column) == (2, 2)


def test_token_matches_the_bytes_sent() -> None:
    """A non-ASCII token matches the header's bytes (decoded latin-1); names are UTF-8."""
    tokens = parse_token_file("tök,jürgen,1\n".encode())
    header_value = "tök".encode().decode("latin-1")
    assert tokens[header_value].name == "jürgen"


def test_unreadable_token_file(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError, match="cannot be read: No such file or directory"):
        TokenFileAuthenticator.from_file(tmp_path / "missing.csv")


# --- the authenticator chain ----------------------------------------------------------


def _chain(tmp_path: Path, anonymous: bool = True, tokens: str = TOKENS) -> Authenticator:
    path = tmp_path / "tokens.csv"
    path.write_text(tokens)
    return new_authenticator(AuthenticationConfig(str(path), anonymous=anonymous))


def test_token_users_get_system_authenticated(tmp_path: Path) -> None:
    auth = _chain(tmp_path)
    user = auth.authenticate({"authorization": "Bearer admin-token"})
    assert user == UserInfo("admin", "uid-1", ("system:masters", "ops", ALL_AUTHENTICATED))
    # Remembered per user object, and still the same answer.
    assert auth.authenticate({"authorization": "Bearer admin-token"}) == user
    # The scheme is case-insensitive; surrounding whitespace is trimmed.
    assert auth.authenticate({"authorization": "  bearer alice-token "}).name == (
        "alice@example.com"
    )


def test_groups_already_naming_the_virtual_groups_are_left_alone(tmp_path: Path) -> None:
    auth = _chain(
        tmp_path, tokens='t,bot,1,"system:unauthenticated"\nu,svc,2,system:authenticated\n'
    )
    assert auth.authenticate({"authorization": "Bearer t"}).groups == ("system:unauthenticated",)
    assert auth.authenticate({"authorization": "Bearer u"}).groups == (ALL_AUTHENTICATED,)


@pytest.mark.parametrize(
    "header",
    [None, "", "Basic YWxpY2U6cGFzcw==", "Bearer", "Bearer  admin-token", "Token admin-token"],
)
def test_no_usable_credentials_is_anonymous(tmp_path: Path, header: str | None) -> None:
    """As kube's bearer authenticator: these carry no bearer token at all."""
    headers = {} if header is None else {"authorization": header}
    assert _chain(tmp_path).authenticate(headers) is ANONYMOUS_USER
    assert _chain(tmp_path, anonymous=False).authenticate(headers) is None


def test_an_unknown_token_is_an_error_even_with_anonymous(tmp_path: Path) -> None:
    for anonymous in (True, False):
        with pytest.raises(AuthenticationError, match="invalid bearer token"):
            _chain(tmp_path, anonymous).authenticate({"authorization": "Bearer nope"})


def test_without_authenticators() -> None:
    assert new_authenticator(AuthenticationConfig()).authenticate({}) is ANONYMOUS_USER
    # Bearer tokens mean nothing when no token file is configured.
    assert (
        new_authenticator(AuthenticationConfig()).authenticate({"authorization": "Bearer x"})
        is ANONYMOUS_USER
    )
    assert new_authenticator(AuthenticationConfig(anonymous=False)).authenticate({}) is None


def test_metrics_bucket_user_names() -> None:
    metrics = AuthenticationMetrics()
    for name in ("admin", "alice@example.com", "system:anonymous", "system:anonymous"):
        metrics.success(UserInfo(name))
    metrics.errors += 2
    assert metrics.render().splitlines()[2:5] == [
        'authenticated_user_requests{username="admin"} 1',
        'authenticated_user_requests{username="email_id"} 1',
        'authenticated_user_requests{username="other"} 2',
    ]
    assert 'authentication_attempts{result="error"} 2' in metrics.render()
    assert 'authentication_attempts{result="success"} 4' in metrics.render()
    assert "failure" not in metrics.render()


def test_the_authorization_header_is_dropped_once_authenticated(tmp_path: Path) -> None:
    app = ApiServerApp(
        Registry(BUILTIN),
        live_checks=[],
        ready_checks=[],
        version=b"{}",
        authenticator=_chain(tmp_path),
    )
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api",
        "headers": [(b"accept", b"application/json"), (b"authorization", b"Bearer admin-token")],
    }
    request = Request(scope, None)  # type: ignore[arg-type]
    app._authenticate(request)
    assert request.user is not None and request.user.name == "admin"
    assert "authorization" not in request.headers
    assert scope["headers"] == [(b"accept", b"application/json")]
    refused = Request(dict(scope, headers=[(b"authorization", b"Bearer no")]), None)  # type: ignore[arg-type]
    with pytest.raises(ApiError) as caught:
        app._authenticate(refused)
    assert caught.value.code == 401 and refused.user is None


# --- flags ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], True),
        (["--anonymous-auth"], True),
        (["--anonymous-auth=false"], False),
        (["--anonymous-auth=0"], False),
        (["--anonymous-auth=True"], True),
        (["--anonymous-auth", "false"], False),
    ],
)
def test_anonymous_auth_flag(argv: list[str], expected: bool) -> None:
    assert build_parser().parse_args(["serve", *argv]).anonymous_auth is expected


def test_anonymous_auth_flag_rejects_other_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "--anonymous-auth=maybe"])
    assert exited.value.code == 2
    assert "expected true or false, got 'maybe'" in capsys.readouterr().err


def test_kubeconfig_with_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["kubeconfig", "--server", "http://h:1", "--token", 'a"b: #c']) == 0
    users = yaml.safe_load(capsys.readouterr().out)["users"]
    assert users == [{"name": "cp", "user": {"token": 'a"b: #c'}}]
    assert cli_main(["kubeconfig"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["users"] == [{"name": "cp", "user": {}}]


def _cpd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cp", *args], capture_output=True, text=True, timeout=30
    )


def test_help_describes_the_flags() -> None:
    out = _cpd("serve", "--help").stdout
    assert "--token-auth-file PATH" in out and "--anonymous-auth [BOOL]" in out
    assert "--token TOKEN" in _cpd("kubeconfig", "--help").stdout


def test_a_bad_token_file_stops_the_server(tmp_path: Path) -> None:
    bad = tmp_path / "tokens.csv"
    bad.write_text("t,alice,1\nt2,bob\n")
    result = _cpd("serve", "--port", "0", "--token-auth-file", str(bad))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"cpd: error: token file '{bad}' line 2: must have at least 3 columns "
        "(token, user name, user uid), found 2"
    )
    assert "serving on" not in result.stdout
    missing = _cpd("serve", "--port", "0", "--token-auth-file", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1
    assert "cannot be read: No such file or directory" in missing.stderr


def test_a_bad_token_file_stops_the_workers_parent(tmp_path: Path) -> None:
    """Checked once by the parent: no worker is started (nor the unreachable Redis
    contacted)."""
    bad = tmp_path / "tokens.csv"
    bad.write_text('t,"alice\n')
    result = _cpd(
        "serve",
        "--port",
        "0",
        "--workers",
        "2",
        "--storage",
        "redis://127.0.0.1:1/0",
        "--token-auth-file",
        str(bad),
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"cpd: error: token file '{bad}' line 1, column 3: quoted field is never closed"
    )


# --- a real server --------------------------------------------------------------------


def _start(loop: str, tmp: Path, *extra: str) -> ApiServer:
    """conftest's start_server, but waiting for /readyz with a token: with
    --anonymous-auth=false an anonymous probe never becomes ready."""
    tokens = tmp / "tokens.csv"
    tokens.write_text(TOKENS)
    log = open(tmp / f"cpd-{loop}.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [sys.executable, "-m", "cp", "serve", "--port", "0", "--loop", loop]
        + ["--token-auth-file", str(tokens), *extra],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    deadline = time.monotonic() + START_DEADLINE
    try:
        url = _read_address(process, deadline)
        with httpx.Client(timeout=2, headers=ADMIN) as probe:
            while probe.get(url + "/readyz").status_code != 200:
                if time.monotonic() > deadline:
                    raise TimeoutError("cpd did not become ready in time")
                time.sleep(0.02)  # bounded poll of a condition (readiness)
    except BaseException:
        process.kill()
        process.wait()
        raise
    # The kubeconfig carries the admin token, which kubectl will not send (see below).
    kubeconfig = tmp / f"kubeconfig-{loop}"
    kubeconfig.write_text(
        subprocess.run(
            [sys.executable, "-m", "cp", "kubeconfig", "--server", url, "--token", "admin-token"],
            check=True,
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout
    )
    return ApiServer(url, loop, process, kubeconfig)


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def open_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """Tokens from a file, anonymous requests allowed (the default)."""
    server = _start(request.param, tmp_path_factory.mktemp("authn-open"))
    yield server
    assert stop_server(server) == 0


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def closed_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """Tokens from a file, --anonymous-auth=false."""
    server = _start(
        request.param, tmp_path_factory.mktemp("authn-closed"), "--anonymous-auth=false"
    )
    yield server
    assert stop_server(server) == 0


def _kubectl(server: ApiServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        server.kubectl_argv(*args),
        capture_output=True,
        text=True,
        timeout=30,
    )


def _attempts(server: ApiServer) -> dict[str, int]:
    text = httpx.get(server.url + "/metrics", headers=ADMIN).text
    counts = {"success": 0, "failure": 0, "error": 0}
    for line in text.splitlines():
        if line.startswith("authentication_attempts{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels.split('"')[1]] = int(value)
    return counts


def _assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.content == UNAUTHORIZED
    assert response.headers["content-type"] == "application/json"


def test_valid_token(open_server: ApiServer, namespace: str) -> None:
    with httpx.Client(base_url=open_server.url, headers=ADMIN, timeout=10) as http:
        assert http.get("/api/v1/namespaces").status_code == 200
        created = http.post("/api/v1/namespaces", json={"metadata": {"name": namespace}})
        assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    "path", ["/api", "/api/v1/namespaces", "/api/v1/namespaces?watch=1", "/healthz", "/no/such"]
)
def test_wrong_token_is_401_even_with_anonymous(open_server: ApiServer, path: str) -> None:
    _assert_unauthorized(httpx.get(open_server.url + path, headers=WRONG, timeout=10))


def test_anonymous_and_non_bearer_credentials_are_served(open_server: ApiServer) -> None:
    for headers in ({}, {"Authorization": "Basic YWxpY2U6cGFzcw=="}, {"Authorization": "Bearer"}):
        assert httpx.get(open_server.url + "/api/v1/namespaces", headers=headers).status_code == 200


def test_401s_are_counted(open_server: ApiServer) -> None:
    before = _attempts(open_server)
    _assert_unauthorized(httpx.get(open_server.url + "/api", headers=WRONG))
    httpx.get(open_server.url + "/api")
    after = _attempts(open_server)
    assert after["error"] == before["error"] + 1
    # The anonymous request and the first /metrics read.
    assert after["success"] == before["success"] + 2
    # As in kube-apiserver, a 401 is not in apiserver_request_total (authentication runs
    # before the handlers that count requests).
    text = httpx.get(open_server.url + "/metrics", headers=ADMIN).text
    assert 'code="401"' not in text
    assert 'authenticated_user_requests{username="admin"}' in text
    assert 'authenticated_user_requests{username="other"}' in text


def test_python_client(open_server: ApiServer, namespace: str, tmp_path: Path) -> None:
    def core(token: str) -> client.CoreV1Api:
        configuration = client.Configuration()
        configuration.host = open_server.url
        configuration.api_key = {"authorization": token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        return client.CoreV1Api(client.ApiClient(configuration))

    with pytest.raises(ApiException) as refused:
        core("not-a-token").list_namespace()
    assert refused.value.status == 401
    assert refused.value.body.encode() == UNAUTHORIZED
    assert core("alice-token").list_namespace().items
    # `cpd kubeconfig --token` works for the Python client, which sends tokens over HTTP.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        _cpd("kubeconfig", "--server", open_server.url, "--token", "not-a-token").stdout
    )
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    with pytest.raises(ApiException) as again:
        client.CoreV1Api(api_client).list_namespace()
    assert again.value.status == 401


def test_kubectl_sends_no_token_over_http(open_server: ApiServer) -> None:
    """client-go reads a kubeconfig's credentials only for https servers, so kubectl
    reaches a plain-HTTP server as system:anonymous, token or not: with a wrong token in
    its kubeconfig it still succeeds."""
    kubeconfig = open_server.kubeconfig.with_name("kubeconfig-wrong-" + open_server.loop)
    kubeconfig.write_text(
        _cpd("kubeconfig", "--server", open_server.url, "--token", "not-a-token").stdout
    )
    result = subprocess.run(
        [
            KUBECTL,
            "--kubeconfig",
            str(kubeconfig),
            "--cache-dir",
            str(open_server.kubectl_cache),
            "get",
            "--raw",
            "/api/v1/namespaces",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", ["/api", "/apis", "/api/v1/namespaces", *HEALTH_AND_INFO])
def test_without_anonymous_everything_needs_a_token(closed_server: ApiServer, path: str) -> None:
    """/healthz, /livez, /readyz are not exempt from authentication in kube-apiserver."""
    _assert_unauthorized(httpx.get(closed_server.url + path, timeout=10))
    assert httpx.get(closed_server.url + path, headers=ADMIN, timeout=10).status_code == 200


def test_without_anonymous_failures_are_counted(closed_server: ApiServer) -> None:
    before = _attempts(closed_server)
    _assert_unauthorized(httpx.get(closed_server.url + "/api"))
    _assert_unauthorized(httpx.get(closed_server.url + "/api", headers=WRONG))
    after = _attempts(closed_server)
    assert (after["failure"], after["error"]) == (before["failure"] + 1, before["error"] + 1)


def test_kubectl_without_anonymous(closed_server: ApiServer) -> None:
    """kubectl's own words for a 401 (it sends no token over HTTP, see above)."""
    raw = _kubectl(closed_server, "get", "--raw", "/api/v1/namespaces")
    assert raw.returncode == 1
    assert raw.stderr == "error: You must be logged in to the server (Unauthorized)\n"
    # Commands that start with discovery word it as client-go does for any 401 there.
    listed = _kubectl(closed_server, "get", "namespaces")
    assert listed.returncode == 1
    assert listed.stderr.splitlines()[-1] == (
        "error: You must be logged in to the server "
        "(the server has asked for the client to provide credentials)"
    )
    created = _kubectl(closed_server, "create", "configmap", "x", "-n", "default")
    assert created.returncode == 1
    assert created.stderr == "error: failed to create configmap: Unauthorized\n"
