"""Certificates for the Node TLS scenarios, made at test time: a CA and leaves that are valid, expired
(relative to now), for the wrong host, signed by an unknown CA, or self-signed. Prints one JSON object."""

from __future__ import annotations

import datetime
import ipaddress
import json

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

now = datetime.datetime.now(datetime.UTC)
ca = trustme.CA()
days = datetime.timedelta(days=1)


def pair(leaf: trustme.LeafCert) -> dict[str, str]:
    return {"cert": leaf.cert_chain_pems[0].bytes().decode(), "key": leaf.private_key_pem.bytes().decode()}


def self_signed() -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - days)
        .not_valid_after(now + days)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {"cert": cert.public_bytes(serialization.Encoding.PEM).decode(), "key": pem.decode()}


print(
    json.dumps(
        {
            "ca": ca.cert_pem.bytes().decode(),
            "valid": pair(ca.issue_cert("127.0.0.1")),
            "expired": pair(ca.issue_cert("127.0.0.1", not_before=now - 3 * days, not_after=now - days)),
            "wrongHost": pair(ca.issue_cert("wrong-host.invalid")),
            "unknownCa": pair(trustme.CA().issue_cert("127.0.0.1")),
            "selfSigned": self_signed(),
        }
    )
)
