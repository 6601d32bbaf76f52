"""Server-side TLS with Telegraf's options (plugins/common/tls ServerConfig): a certificate and
key (optionally encrypted), client certificates required and verified against
tls_allowed_cacerts, the accepted versions and TLS 1.2 cipher suites, and the DNS names a
client certificate must carry.

Python's ssl cannot restrict TLS 1.3 suites; tls_cipher_suites applies to TLS 1.2 and below.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from agent.plugin.options import Option

TLS_SERVER_OPTIONS: Tuple[Option, ...] = (
    Option("tls_cert", "str", "", "server certificate (PEM); with tls_key, serve HTTPS"),
    Option("tls_key", "str", "", "server private key (PEM)"),
    Option("tls_key_pwd", "str", "", "password of an encrypted tls_key", secret=True),
    Option("tls_allowed_cacerts", "str_list", [], "CA certificates (PEM files); when set, "
           "clients must present a certificate signed by one of them"),
    Option("tls_cipher_suites", "str_list", [], "TLS 1.2 cipher suites by IANA name, or "
           "secure / all; empty: Python's secure default"),
    Option("tls_min_version", "str", "", "TLS10, TLS11, TLS12 (default) or TLS13",
           choices=("", "TLS10", "TLS11", "TLS12", "TLS13")),
    Option("tls_max_version", "str", "", "TLS10, TLS11, TLS12 or TLS13 (default: the newest)",
           choices=("", "TLS10", "TLS11", "TLS12", "TLS13")),
    Option("tls_allowed_dns_names", "str_list", [], "with tls_allowed_cacerts: a client "
           "certificate must name one of these DNS names"),
)

# Go's crypto/tls names (Telegraf's) of the TLS 1.2 suites, and OpenSSL's names for them.
_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
}
_SECURE = [name for name in _SUITES if "_CBC_" not in name and not name.startswith("TLS_RSA")]


def tls_enabled(options: Dict[str, Any]) -> bool:
    """Telegraf serves TLS when any of cert, key or allowed CAs is set."""
    return bool(options["tls_cert"] or options["tls_key"] or options["tls_allowed_cacerts"])


def check_tls_options(options: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(key, problem) for `agent check`: pairs that belong together, names, versions."""
    problems = []
    if tls_enabled(options) and not (options["tls_cert"] and options["tls_key"]):
        missing = "tls_key" if options["tls_cert"] else "tls_cert"
        problems.append((missing, "TLS needs both tls_cert and tls_key"))
    if options["tls_allowed_dns_names"] and not options["tls_allowed_cacerts"]:
        problems.append(("tls_allowed_dns_names", "needs tls_allowed_cacerts (client "
                         "certificates are only read when they are required)"))
    for suite in options["tls_cipher_suites"]:
        if suite not in ("secure", "all") and suite.upper() not in _SUITES:
            problems.append(("tls_cipher_suites", f"unknown or unsupported suite {suite!r} "
                             f"(use secure, all or one of {', '.join(_SECURE)})"))
    low, high = options["tls_min_version"], options["tls_max_version"]
    if low and high and low > high:
        problems.append(("tls_min_version", f"{low} is above tls_max_version {high}"))
    return problems


def server_context(options: Dict[str, Any]):
    """An ssl.SSLContext for a server, or None without TLS; OSError/ssl.SSLError if the
    files cannot be read."""
    if not tls_enabled(options):
        return None
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(options["tls_cert"], options["tls_key"],
                            password=options["tls_key_pwd"] or None)
    if options["tls_allowed_cacerts"]:
        for path in options["tls_allowed_cacerts"]:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"could not read certificate {path!r}")
            context.load_verify_locations(cafile=path)
        context.verify_mode = ssl.CERT_REQUIRED
    versions = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
    context.minimum_version = versions[options["tls_min_version"] or "TLS12"]
    if options["tls_max_version"]:
        context.maximum_version = versions[options["tls_max_version"]]
    suites = _openssl_suites(options["tls_cipher_suites"])
    if suites:
        context.set_ciphers(suites)
    return context


def _openssl_suites(names: List[str]) -> str:
    chosen: List[str] = []
    for name in names:
        group = _SECURE if name == "secure" else list(_SUITES) if name == "all" else [name]
        chosen += [n.upper() for n in group if n.upper() not in chosen]
    return ":".join(_SUITES[n] for n in chosen)


def allowed_peer(certificate: Optional[dict], allowed_names: List[str]) -> Tuple[bool, str]:
    """Whether a verified client certificate (SSLSocket.getpeercert()) carries one of the
    allowed DNS names; the names it has, for the log."""
    names = [value for kind, value in (certificate or {}).get("subjectAltName", ())
             if kind == "DNS"]
    return any(name in allowed_names for name in names), ", ".join(names) or "none"
