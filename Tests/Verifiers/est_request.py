#!/usr/bin/env python3
"""An EST client's request side, written with Python's `cryptography` alone, so the tests check Fleetkey's EST server
against code that is not Fleetkey's.

  est_request.py export-key ELEMENT.se.json SLOT OUT.pem
      The private key of one slot of an emulated secure element, as PEM: for tests only (a real element never
      gives its keys away).
  est_request.py csr --auth-key PEM --o VENDOR --serial SERIAL --out REQ.b64 [--key-out PEM | --key-in PEM]
                     [--cn CN] [--no-binding] [--bind-with PEM]
      A PKCS#10 request for a new P-256 key (or --key-in), with the TLS key binding attribute of docs/est.md signed
      by --auth-key (or --bind-with), written as base64 DER (RFC 8951).
"""
import argparse
import base64
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

BINDING_OID = x509.ObjectIdentifier("2.25.5702272524311131528.1")
BINDING_CONTEXT = b"fleetkey-est-tls-key-binding-v1\x00"


def export_key(element, slot, out):
    with open(element) as f:
        state = json.load(f)
    raw = base64.b64decode(state["slots"][int(slot)]["privateKey"])
    curve = {32: ec.SECP256R1(), 48: ec.SECP384R1()}[len(raw)]
    key = ec.derive_private_key(int.from_bytes(raw, "big"), curve)
    with open(out, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def sign(key, message):
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    digest = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[key.curve.key_size]
    return key.sign(message, ec.ECDSA(digest))


def make_csr(args):
    if args.key_in:
        key = load_key(args.key_in)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        with open(args.key_out, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, args.o),
             x509.NameAttribute(NameOID.SERIAL_NUMBER, args.serial)]
    if args.cn:
        names.append(x509.NameAttribute(NameOID.COMMON_NAME, args.cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names))
    if not args.no_binding:
        spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        signer = load_key(args.bind_with or args.auth_key)
        builder = builder.add_attribute(BINDING_OID, sign(signer, BINDING_CONTEXT + spki), _tag=_ASN1Type.OctetString)
    csr = builder.sign(key, hashes.SHA256())
    with open(args.out, "wb") as f:
        f.write(base64.encodebytes(csr.public_bytes(serialization.Encoding.DER)))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "export-key":
        export_key(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["csr"])
    parser.add_argument("--auth-key", required=True)
    parser.add_argument("--bind-with")
    parser.add_argument("--o", required=True)
    parser.add_argument("--serial", required=True)
    parser.add_argument("--cn")
    parser.add_argument("--out", required=True)
    parser.add_argument("--key-out")
    parser.add_argument("--key-in")
    parser.add_argument("--no-binding", action="store_true")
    make_csr(parser.parse_args())


if __name__ == "__main__":
    main()
