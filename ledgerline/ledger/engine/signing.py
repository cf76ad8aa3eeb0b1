"""Signed tree heads with Ed25519 (RFC 6962 section 3.5 layout, Ed25519 instead of ECDSA)."""

from __future__ import annotations

import base64
import functools
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

VERSION_V1 = 0
SIGNATURE_TYPE_TREE_HASH = 1


def tree_head_message(tree_size: int, root_hash: bytes, timestamp_ms: int) -> bytes:
    """version (1) | signature_type (1) | timestamp ms (8) | tree_size (8) | root_hash (32), big-endian."""
    if len(root_hash) != 32:
        raise ValueError("root hash must be 32 bytes")
    return struct.pack(">BBQQ", VERSION_V1, SIGNATURE_TYPE_TREE_HASH, timestamp_ms, tree_size) + root_hash


class SignedTreeHeadJson(TypedDict):
    tree_size: int
    root_hash: str  # hex
    timestamp_ms: int
    signature: str  # base64


@dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    signature: bytes

    def as_json(self) -> SignedTreeHeadJson:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp_ms": self.timestamp_ms,
            "signature": base64.b64encode(self.signature).decode(),
        }


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The log's signing key: read from `path`, or created there (mode 0600) on first use."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    try:
        os.link(tmp, path)  # fails if another process created the key meanwhile: then use theirs
    except FileExistsError:
        tmp.unlink()
        return load_or_create_key(path)
    tmp.unlink()
    return key


def public_key_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign_tree_head(key: Ed25519PrivateKey, tree_size: int, root_hash: bytes, timestamp_ms: int) -> SignedTreeHead:
    signature = key.sign(tree_head_message(tree_size, root_hash, timestamp_ms))
    return SignedTreeHead(tree_size, root_hash, timestamp_ms, signature)


@functools.lru_cache(maxsize=8)
def _public_key(public_pem: str) -> PublicKeyTypes:
    """Parsed once per key: `ledger verify` checks one tree head per append transaction, nearly all by one key."""
    return serialization.load_pem_public_key(public_pem.encode())


def verify_tree_head(public_pem: str, sth: SignedTreeHead) -> bool:
    try:
        public = _public_key(public_pem)
    except ValueError:  # not a PEM key at all
        return False
    if not isinstance(public, Ed25519PublicKey):
        return False
    try:
        public.verify(sth.signature, tree_head_message(sth.tree_size, sth.root_hash, sth.timestamp_ms))
    except InvalidSignature:
        return False
    return True
