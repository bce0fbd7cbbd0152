"""The guarded fetch of content URLs: only public addresses, each redirect vetted again, size capped, errors plain."""

from __future__ import annotations

import ast
import ipaddress
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Response

from bot.addresses import public_address
from bot.channels import open_channel
from bot.channels.http import MAX_ERROR_TEXT, excerpt, fetch_image, resolve_public
from bot.errors import FinalChannelError, TransientChannelError
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
REFUSED = "is not a public address: refused (BOT_FETCH_ALLOW_PRIVATE=1 allows it on an intranet)"

NOT_PUBLIC = [
    "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254", "127.0.0.1",
    "127.255.255.254", "169.254.169.254", "169.254.0.1", "172.16.0.1", "172.31.255.254", "192.0.0.8", "192.0.2.10",
    "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.254", "198.51.100.7", "203.0.113.9", "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "::", "::1", "::127.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::ffff:0.0.0.0",
    "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b:1::1", "100::1", "2001::1", "2001:db8::1", "2002:7f00:1::1",
    "2002:808:808::1", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%1", "fec0::1", "ff02::1", "ff0e::1",
]
PUBLIC = [
    "1.1.1.1", "8.8.8.8", "11.0.0.1", "93.184.216.34", "100.63.255.255", "100.128.0.1", "151.101.1.69",
    "172.15.255.255", "172.32.0.1", "192.169.0.1", "223.255.255.254",
    "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808",
]
NETWORKS = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4")]
ipv4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
inside = st.sampled_from(NETWORKS).flatmap(
    lambda n: st.integers(int(n.network_address), int(n.broadcast_address)).map(ipaddress.IPv4Address))


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_private_loopback_link_local_multicast_and_reserved_addresses_are_not_public(address: str) -> None:
    assert not public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_public(address: str) -> None:
    assert public_address(ipaddress.ip_address(address))


@given(inside)
def test_no_address_of_a_private_or_reserved_network_is_public(address: ipaddress.IPv4Address) -> None:
    assert not public_address(address)


@given(ipv4)
def test_an_ipv4_address_inside_ipv6_is_judged_as_itself(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))
    assert public_address(mapped) == public_address(nat64) == public_address(address)


@given(st.one_of(ipv4, st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)))
def test_whatever_is_public_is_global_and_neither_multicast_nor_reserved(address: ipaddress._BaseAddress) -> None:
    if public_address(address):  # type: ignore[arg-type]
        assert address.is_global and not (address.is_multicast or address.is_reserved or address.is_link_local)


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "017700000001", "127.1",
                                  "0x7f.1", "localhost", "::1", "::ffff:127.0.0.1", "0:0:0:0:0:ffff:7f00:1",
                                  "169.254.169.254", "2852039166", "0xa9.0xfe.0xa9.0xfe"])
def test_every_spelling_of_a_local_address_is_refused_after_resolution(host: str) -> None:
    with pytest.raises(FinalChannelError, match="not a public address"):
        resolve_public(host, 80, allow_private=False)
    assert resolve_public(host, 80, allow_private=True)  # an intranet's choice


# --- the fetch, against a local server ------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as running:
        yield running


def base(server: HTTPServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def redirect(location: str, status: int = 302) -> Response:
    return Response(status=status, headers={"Location": location})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1"])
def test_a_picture_on_this_machine_is_refused_before_any_request(make_settings: Callable[..., Settings],
                                                                 server: HTTPServer, host: str) -> None:
    server.expect_request("/photo.png").respond_with_data(PNG, content_type="image/png")
    with pytest.raises(FinalChannelError, match=REFUSED.replace("(", r"\(").replace(")", r"\)")):
        fetch_image(f"http://{host}:{server.port}/photo.png", make_settings(), 1_000_000)
    assert server.log == []


def test_every_hop_of_a_redirect_chain_is_vetted_again(make_settings: Callable[..., Settings],
                                                       server: HTTPServer) -> None:
    port = server.port
    server.expect_request("/a").respond_with_response(redirect("/b", 301))
    server.expect_request("/b").respond_with_response(redirect(f"http://localhost:{port}/c"))
    server.expect_request("/c").respond_with_response(redirect(f"http://127.0.0.1:{port}/d.png", 307))
    server.expect_request("/d.png").respond_with_data(PNG, content_type="image/png")
    hops: list[tuple[str, int]] = []

    def vet(host: str, port: int) -> list[str]:
        hops.append((host, port))
        return resolve_public(host, port, allow_private=True)

    assert fetch_image(f"{base(server)}/a", make_settings(), 1_000_000, vet=vet) == (PNG, "image/png")
    assert hops == [("127.0.0.1", port), ("127.0.0.1", port), ("localhost", port), ("127.0.0.1", port)]


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/internal", "http://169.254.169.254/latest/meta-data/",
                                    "http://[::1]:{port}/internal", "http://0x7f.1:{port}/internal",
                                    "http://localhost:{port}/internal"])
def test_a_redirect_from_a_public_host_to_an_internal_one_is_refused(make_settings: Callable[..., Settings],
                                                                     server: HTTPServer, target: str) -> None:
    port = server.port
    server.expect_request("/photo.png").respond_with_response(redirect(target.format(port=port)))
    server.expect_request("/internal").respond_with_data(b"the admin page", content_type="image/png")
    settings = make_settings()  # BOT_FETCH_ALLOW_PRIVATE=0
    hops: list[str] = []

    def vet(host: str, port: int) -> list[str]:
        hops.append(host)
        if host == "pictures.example":  # stands for a public host: vetted as one, and served here
            return ["127.0.0.1"]
        return resolve_public(host, port, settings.fetch_allow_private)

    with pytest.raises(FinalChannelError, match="is not a public address: refused"):
        fetch_image(f"http://pictures.example:{port}/photo.png", settings, 1_000_000, vet=vet)
    assert [request.path for request, _ in server.log] == ["/photo.png"]
    assert server.log[0][0].headers["Host"] == f"pictures.example:{port}"  # the name kept, the address pinned
    assert len(hops) == 2


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL", "ftp://example.org/x"])
def test_a_redirect_out_of_http_is_refused(make_settings: Callable[..., Settings], server: HTTPServer,
                                           target: str) -> None:
    server.expect_request("/photo.png").respond_with_response(redirect(target))
    with pytest.raises(FinalChannelError, match="only http and https"):
        fetch_image(f"{base(server)}/photo.png", make_settings(BOT_FETCH_ALLOW_PRIVATE="1"), 1_000_000)


def test_a_redirect_loop_stops_after_five_hops(make_settings: Callable[..., Settings], server: HTTPServer) -> None:
    server.expect_request("/loop").respond_with_response(redirect("/loop"))
    with pytest.raises(FinalChannelError, match="more than 5 redirects"):
        fetch_image(f"{base(server)}/loop", make_settings(BOT_FETCH_ALLOW_PRIVATE="1"), 1_000_000)
    assert len(server.log) == 6


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
def test_a_picture_larger_than_the_limit_is_refused(make_settings: Callable[..., Settings], server: HTTPServer,
                                                    declared: bool) -> None:
    chunk = b"\xff" * 65536

    def huge() -> Response:
        if declared:
            return Response(chunk * 40, content_type="image/jpeg")
        return Response((chunk for _ in range(4000)), content_type="image/jpeg")  # 250 MB, never all sent

    server.expect_request("/huge.jpg").respond_with_handler(lambda request: huge())
    with pytest.raises(FinalChannelError, match="larger than 1,000,000 bytes"):
        fetch_image(f"{base(server)}/huge.jpg", make_settings(BOT_FETCH_ALLOW_PRIVATE="1"), 1_000_000)


def test_what_is_not_a_picture_is_refused_and_its_body_never_kept(make_settings: Callable[..., Settings],
                                                                  server: HTTPServer) -> None:
    server.expect_request("/admin").respond_with_data("<html><body>root:x:0:0</body></html>", content_type="text/html")
    with pytest.raises(FinalChannelError) as refused:
        fetch_image(f"{base(server)}/admin", make_settings(BOT_FETCH_ALLOW_PRIVATE="1"), 1_000_000)
    assert str(refused.value) == f"image {base(server)}/admin: is text/html, not an image"


def certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` and its key, as files."""
    from datetime import datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.mark.parametrize("name, trusted", [("pictures.example", True), ("other.example", False)])
def test_over_https_the_certificate_is_checked_for_the_name_not_the_pinned_address(
        make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
        trusted: bool) -> None:
    import ssl

    cert_file, key_file = certificate(tmp_path, "pictures.example")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # trusted as a private CA would be
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    with HTTPServer(host="127.0.0.1", port=0, ssl_context=context, threaded=True) as server:
        server.expect_request("/photo.png").respond_with_data(PNG, content_type="image/png")
        url = f"https://{name}:{server.port}/photo.png"

        def fetch() -> tuple[bytes, str]:  # the name vetted as public, the server reached at 127.0.0.1
            return fetch_image(url, make_settings(), 1_000_000, vet=lambda host, port: ["127.0.0.1"])

        if trusted:
            assert fetch() == (PNG, "image/png")
            assert server.log[0][0].headers["Host"] == f"pictures.example:{server.port}"
        else:
            with pytest.raises(TransientChannelError, match="TLS certificate not trusted"):
                fetch()
            assert server.log == []


# --- what reaches a person is a short plain excerpt -----------------------------------------------------------


@given(st.text())
def test_an_excerpt_is_one_short_printable_line_without_markup(text: str) -> None:
    shown = excerpt(text)
    assert len(shown) <= MAX_ERROR_TEXT and shown.isprintable() and not {"<", ">"} & set(shown)


def test_an_excerpt_keeps_the_words_of_a_page_and_drops_its_markup_and_scripts() -> None:
    page = ("<html><head><title>502 Bad Gateway</title><style>h1{}</style></head><body><h1>Bad &amp; gone</h1>"
            "<script>var t='s3cret'</script><p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\u202e\x00</body></html>")
    assert excerpt(page) == "502 Bad Gateway Bad & gone alert(1)"
    assert excerpt("x" * 1000) == "x" * (MAX_ERROR_TEXT - 1) + "…"


# --- runtime checks that python -O keeps ----------------------------------------------------------------------


def test_no_channel_relies_on_assert() -> None:
    for path in sorted((ROOT / "bot" / "channels").glob("*.py")):
        found = [node.lineno for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Assert)]
        assert found == [], f"{path.name}: assert on lines {found} (gone under python -O)"


@pytest.mark.parametrize("kind, env", [
    ("bluesky", {"BOT_BLUESKY_BACKEND": "api", "BLUESKY_HANDLE": "desk.example.org", "BLUESKY_APP_PASSWORD": "pw"}),
    ("x", {"BOT_X_BACKEND": "api", "X_API_KEY": "k", "X_API_SECRET": "s", "X_ACCESS_TOKEN": "t",
           "X_ACCESS_TOKEN_SECRET": "ts"}),
])
def test_a_social_channel_handed_something_else_than_a_post_says_so(make_settings: Callable[..., Settings],
                                                                    kind: str, env: dict[str, str]) -> None:
    channel = open_channel(make_settings(**env), kind)
    assert channel is not None
    try:
        with pytest.raises(TypeError, match="carries posts only"):
            channel.send(["an email"])  # type: ignore[list-item]
        with pytest.raises(TypeError, match="carries posts only"):
            channel.reconcile("an email")  # type: ignore[arg-type]
    finally:
        channel.close()
