"""Keys and tokens for tests/integration/test_jwt.py.

Tokens are made with PyJWT (Debian python3-jwt), an implementation
independent of node/jwt.c; the malicious ones are hand-crafted here
(alg none, HS256 keyed with a public key's PEM bytes, tampered segments,
'=' padding). Keys come from python3-cryptography; JWK sets are built from
the public numbers (RFC 7517/7518/8037), not by any library.
"""

import base64
import hashlib
import hmac
import json
import os
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

DROP = object()  # claims(..., exp=DROP) leaves the claim out


def b64u(data):
    """base64url without padding (RFC 7515 section 2)."""
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def uint_b64u(n, size=None):
    """An unsigned integer as big-endian bytes, base64url (RFC 7518 6)."""
    size = size or (n.bit_length() + 7) // 8
    return b64u(n.to_bytes(size, "big"))


def json_compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def public_pem(key):
    """SubjectPublicKeyInfo PEM of a private (or public) key."""
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def write_file(path, data, atomic=True):
    """Writes data (bytes or str); through a temp file and rename(2) when
    atomic, as an operator's tool would."""
    if isinstance(data, str):
        data = data.encode()
    tmp = path + ".tmp" if atomic else path
    with open(tmp, "wb") as f:
        f.write(data)
    if atomic:
        os.rename(tmp, path)
    return path


def jwk(key, kid=None, alg=None, use="sig"):
    """The public JWK (RFC 7517 4, RFC 7518 6, RFC 8037 2) of key."""
    pub = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        out = {"kty": "RSA", "n": uint_b64u(nums.n), "e": uint_b64u(nums.e)}
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        nums = pub.public_numbers()
        crv, size = {"secp256r1": ("P-256", 32),
                     "secp384r1": ("P-384", 48)}[pub.curve.name]
        out = {"kty": "EC", "crv": crv, "x": uint_b64u(nums.x, size),
               "y": uint_b64u(nums.y, size)}
    elif isinstance(pub, ed25519.Ed25519PublicKey):
        raw = pub.public_bytes(serialization.Encoding.Raw,
                               serialization.PublicFormat.Raw)
        out = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
    else:
        raise TypeError(pub)
    if use:
        out["use"] = use
    if kid is not None:
        out["kid"] = kid
    if alg is not None:
        out["alg"] = alg
    return out


def jwks(*keys):
    """A JWK set document: keys are (key, kid, alg) tuples."""
    return json.dumps({"keys": [jwk(k, kid, alg) for k, kid, alg in keys]},
                      indent=1)


def gen_rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def gen_ec(curve):
    return ec.generate_private_key(curve)


def gen_ed25519():
    return ed25519.Ed25519PrivateKey.generate()


def claims(sub="dev1", ttl=300, **kw):
    """A payload: sub, exp = now + ttl, iat = now, plus kw (DROP removes a
    claim)."""
    now = int(time.time())
    c = {"sub": sub, "exp": now + ttl, "iat": now}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not DROP}


def sign(key, alg, payload, kid=None, headers=None):
    """A PyJWT-made compact JWS."""
    h = dict(headers or {})
    if kid is not None:
        h["kid"] = kid
    tok = jwt.encode(payload, key, algorithm=alg, headers=h or None)
    return tok if isinstance(tok, str) else tok.decode()


def craft(header, payload, signer=None, signature=None):
    """A hand-made token: header and payload (dicts, or ready segments as
    str), signer(signing_input) -> bytes, or raw signature bytes."""
    h = header if isinstance(header, str) else b64u(json_compact(header))
    p = payload if isinstance(payload, str) else b64u(json_compact(payload))
    si = ("%s.%s" % (h, p)).encode()
    if signer is not None:
        signature = signer(si)
    return "%s.%s.%s" % (h, p, b64u(signature or b""))


def hs256_signer(secret):
    return lambda si: hmac.new(secret, si, hashlib.sha256).digest()


def segments(token):
    return token.split(".")


def with_payload(token, payload):
    """token with its payload segment replaced (signature kept)."""
    h, _, s = segments(token)
    return "%s.%s.%s" % (h, b64u(json_compact(payload)), s)


def flip_signature_bit(token, byte=10):
    h, p, s = segments(token)
    sig = bytearray(b64u_decode(s))
    sig[byte] ^= 0x01
    return "%s.%s.%s" % (h, p, b64u(bytes(sig)))


def padded(token):
    """Every segment padded with '=' to a multiple of 4 characters."""
    return ".".join(s + "=" * (-len(s) % 4) for s in segments(token))
