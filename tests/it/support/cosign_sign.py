#!/usr/bin/env python3
"""An independent cosign signer for chartpin's tests, built on the Python
`cryptography` package (never chartpin's code). It writes cosign
simple-signing payloads and signs them as cosign does:

  key KIND DIR            make DIR/key.pem (PKCS#8) and DIR/cosign.pub (SPKI PEM); KIND p256|ed25519
  sign DIR KIND [LOGDIR]  jobs on stdin -> [{payload, signature}] on stdout; with LOGDIR
                          also a Rekor bundle from LOGDIR's test log (made as for keyless)
  keyless DIR ID ISSUER   jobs on stdin -> [{payload, signature, certificate, bundle}];
                          DIR holds a test Fulcio-like CA (P-384 root, P-384 intermediate),
                          a Rekor-like log key (P-256) and their trusted_root.json,
                          made on first use

A job is {"reference": "host/repo", "digest": "sha256:…"} with optional
"payload_digest" (the digest the payload names, to make a payload for
another image) and "optional" (an object: the annotations `cosign sign -a
k=v` writes into the payload; absent, `null` as cosign writes). The payload
is in cosign's exact byte form: Go's encoding/json of sigstore's
SimpleContainerImage, no spaces, struct fields in declaration order (which
is also sorted order) and map keys sorted. ECDSA P-256 signs SHA-256 of the
payload (DER signature), Ed25519 signs the payload; base64 as in cosign's
annotation.
"""
import base64
import datetime
import hashlib
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

B64 = lambda b: base64.b64encode(b).decode()


def payload(job):
    return json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": job["reference"]},
                "image": {"docker-manifest-digest": job.get("payload_digest", job["digest"])},
                "type": "cosign container image signature",
            },
            "optional": job.get("optional"),
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def sign_with(key, data):
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def load(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def save(path, key):
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def spki(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def make_key(kind, d):
    os.makedirs(d, exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else ec.generate_private_key(ec.SECP256R1())
    save(os.path.join(d, "key.pem"), key)
    with open(os.path.join(d, "cosign.pub"), "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "chartpin-test"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def ca_cert(subject, issuer, key, signer, start, days):
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(signer, hashes.SHA384())
    )


def make_ca(d):
    if os.path.exists(os.path.join(d, "trusted_root.json")):
        return
    os.makedirs(d, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP384R1())
    inter_key = ec.generate_private_key(ec.SECP384R1())
    log_key = ec.generate_private_key(ec.SECP256R1())
    start = NOW - datetime.timedelta(days=1)
    root = ca_cert(name("test-root"), name("test-root"), root_key, root_key, start, 3650)
    inter = ca_cert(name("test-intermediate"), name("test-root"), inter_key, root_key, start, 3650)
    for n, k in [("root.pem", root_key), ("inter.pem", inter_key), ("log.pem", log_key)]:
        save(os.path.join(d, n), k)
    with open(os.path.join(d, "inter.crt"), "wb") as f:
        f.write(inter.public_bytes(serialization.Encoding.DER))
    at = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
    root_json = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            {
                "baseUrl": "https://rekor.test.invalid",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": B64(spki(log_key)), "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": {"start": at(start)}},
                "logId": {"keyId": B64(hashlib.sha256(spki(log_key)).digest())},
            }
        ],
        "certificateAuthorities": [
            {
                "subject": {"organization": "chartpin-test", "commonName": "test-root"},
                "uri": "https://fulcio.test.invalid",
                "certChain": {"certificates": [{"rawBytes": B64(inter.public_bytes(serialization.Encoding.DER))}, {"rawBytes": B64(root.public_bytes(serialization.Encoding.DER))}]},
                "validFor": {"start": at(start)},
            }
        ],
        "ctlogs": [],
        "timestampAuthorities": [],
    }
    with open(os.path.join(d, "trusted_root.json"), "w") as f:
        json.dump(root_json, f, indent=2)


def der_utf8(s):
    b = s.encode()
    assert len(b) < 128
    return bytes([0x0C, len(b)]) + b


def keyless(d, identity, issuer, jobs):
    make_ca(d)
    inter_key, log_key = load(os.path.join(d, "inter.pem")), load(os.path.join(d, "log.pem"))
    with open(os.path.join(d, "inter.crt"), "rb") as f:
        inter = x509.load_der_x509_certificate(f.read())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    san = x509.RFC822Name(identity) if "@" in identity and "://" not in identity else x509.UniformResourceIdentifier(identity)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(inter.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([san]), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), der_utf8(issuer)), critical=False)
        .sign(inter_key, hashes.SHA384())
    )
    cert_pem = leaf.public_bytes(serialization.Encoding.PEM)
    out = []
    for i, job in enumerate(jobs):
        p = payload(job)
        sig = sign_with(leaf_key, p)
        bundle = log_bundle(log_key, p, sig, cert_pem, 1000 + i)
        out.append({"payload": p.decode(), "signature": B64(sig), "certificate": cert_pem.decode(), "bundle": bundle})
    return out


def log_bundle(log_key, p, sig, signer_pem, index):
    """cosign's `dev.sigstore.cosign/bundle` annotation: a hashedrekord entry
    for payload `p`, signature `sig` by `signer_pem` (a certificate or a
    public key, PEM), and the log's signed entry timestamp over it."""
    body = json.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(p).hexdigest()}},
                "signature": {"content": B64(sig), "publicKey": {"content": B64(signer_pem)}},
            },
        },
        separators=(",", ":"),
    )
    log_id = hashlib.sha256(spki(log_key)).hexdigest()
    entry = {"body": B64(body.encode()), "integratedTime": int(NOW.timestamp()), "logID": log_id, "logIndex": index}
    # RFC 8785: keys sorted, no spaces (the values here need no other care).
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    return json.dumps({"SignedEntryTimestamp": B64(log_key.sign(canonical, ec.ECDSA(hashes.SHA256()))), "Payload": entry})


def sign(d, jobs, log_dir=None):
    """Key signatures; with `log_dir` (a test log, made on first use, and its
    trusted_root.json) each also gets a Rekor bundle naming the public key."""
    key = load(os.path.join(d, "key.pem"))
    log_key = None
    if log_dir:
        make_ca(log_dir)
        log_key = load(os.path.join(log_dir, "log.pem"))
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    out = []
    for i, j in enumerate(jobs):
        p = payload(j)
        sig = sign_with(key, p)
        signed = {"payload": p.decode(), "signature": B64(sig)}
        if log_key:
            signed["bundle"] = log_bundle(log_key, p, sig, pem, 2000 + i)
        out.append(signed)
    return out


def main():
    cmd = sys.argv[1]
    if cmd == "key":
        make_key(sys.argv[2], sys.argv[3])
        return
    jobs = json.load(sys.stdin)
    if cmd == "sign":
        out = sign(sys.argv[2], jobs, sys.argv[4] if len(sys.argv) > 4 else None)
    elif cmd == "keyless":
        out = keyless(sys.argv[2], sys.argv[3], sys.argv[4], jobs)
    else:
        sys.exit(f"unknown command {cmd}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
