"""Fixtures for the Flower adapters. Test modules that need flwr start with `pytest.importorskip("flwr")`."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import TINY_EXPERIMENT, deep_update

# Two rounds of LoRA and FedARA on the tiny BERT, 2 clients, both sampled every round.
FLOWER_EXPERIMENT: dict[str, Any] = deep_update(
    TINY_EXPERIMENT,
    {
        "federation": {"num_clients": 2, "clients_per_round": 2, "rounds": 2},
        "methods": [
            {"method": "lora", "r": 4},
            {"method": "fedara", "r0": 4, "r_target": 2, "t_init": 0, "t_final": 0},
        ],
        "runtime": {"round_timeout_s": 180, "wait_for_nodes_s": 120},
    },
)


@pytest.fixture
def flower_config(tmp_path: Path):
    """flower_config(updates) -> path of FLOWER_EXPERIMENT updated with `updates`."""

    def _write(updates: dict[str, Any] | None = None, name: str = "exp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(deep_update(FLOWER_EXPERIMENT, updates or {}), sort_keys=False))
        return path

    return _write


def make_tls(folder: Path) -> Path:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost: ca.pem, server.pem, server.key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgebench test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder


def make_node_key(folder: Path, name: str) -> tuple[Path, Path]:
    """An EC P-384 key pair in OpenSSH format (what `ssh-keygen -t ecdsa -b 384` writes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private = folder / name
    public = folder / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    return private, public


@pytest.fixture
def procs(tmp_path: Path):
    """Processes started by a loopback test, all stopped at its end (a survivor fails the test)."""
    from tests.fl.flower.deploy import Processes

    processes = Processes(tmp_path)
    try:
        yield processes
    finally:
        processes.stop()
        left = processes.survivors()
        assert not left, f"processes survived the test: {left}"
