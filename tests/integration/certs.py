"""A throw-away PKI for the TLS tests, made with the openssl command line.

    pki = Pki()            # everything below, in a fresh temp dir
    pki.ca                 # CA certificate (trust anchor for both sides)
    pki.server_cert, pki.server_key    # 127.0.0.1 / localhost (SAN IP, DNS)
    pki.client_cert, pki.client_key    # CN=device-1, SAN DNS device-1.example
    pki.expired_cert, pki.expired_key  # by the CA, expired in 2020
    pki.revoked_cert, pki.revoked_key  # by the CA, revoked in pki.crl
    pki.other_ca                       # a second, unrelated CA
    pki.other_cert, pki.other_key      # CN=device-1 by the other CA
    pki.crl                            # the CA's CRL (revokes revoked_cert)
    pki.server_pair("ternd-2")         # another server cert by the CA
    pki.cleanup()

Keys are EC P-256 (fast to make, fine at Debian's security level 2).
Certificates are issued with `openssl ca`, which keeps the index that
`-revoke` and `-gencrl` need. Every openssl run is bounded by a timeout and
fails loudly with its stderr.
"""

import os
import shutil
import subprocess
import tempfile

OPENSSL = os.environ.get("OPENSSL", "openssl")

_CA_CONF = """\
[ ca ]
default_ca = ca_default

[ ca_default ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[ policy_any ]
commonName = supplied
organizationName = optional

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

_SERVER_EXT = """\
[ ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {san}
"""

_CLIENT_EXT = """\
[ ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {san}
"""


def _run(*args, cwd=None):
    r = subprocess.run([OPENSSL] + list(args), cwd=cwd,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("openssl %s -> exit %d: %s" % (
            " ".join(args), r.returncode,
            r.stderr.decode(errors="replace")))
    return r.stdout


class _Ca:
    """One CA with its `openssl ca` database in dir."""

    def __init__(self, dir, cn):
        self.dir = dir
        os.makedirs(os.path.join(dir, "issued"))
        self.conf = os.path.join(dir, "ca.cnf")
        with open(self.conf, "w") as f:
            f.write(_CA_CONF.format(dir=dir))
        open(os.path.join(dir, "index.txt"), "w").close()
        with open(os.path.join(dir, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(dir, "crlnumber"), "w") as f:
            f.write("01\n")
        self.key = os.path.join(dir, "ca.key")
        self.cert = os.path.join(dir, "ca.pem")
        _run("genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", self.key)
        _run("req", "-config", self.conf, "-new", "-x509", "-key", self.key,
             "-subj", "/CN=%s" % cn, "-days", "30", "-extensions", "v3_ca",
             "-out", self.cert)

    def issue(self, out_dir, name, cn, ext_template, san, dates=None):
        """A new key and certificate <name>.key/<name>.pem in out_dir.
        dates: (startdate, enddate) as YYYYMMDDHHMMSSZ. Returns (cert,
        key)."""
        key = os.path.join(out_dir, name + ".key")
        csr = os.path.join(out_dir, name + ".csr")
        cert = os.path.join(out_dir, name + ".pem")
        ext = os.path.join(out_dir, name + ".ext")
        with open(ext, "w") as f:
            f.write(ext_template.format(san=san))
        _run("genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", key)
        _run("req", "-config", self.conf, "-new", "-key", key,
             "-subj", "/CN=%s" % cn, "-out", csr)
        args = ["ca", "-batch", "-notext", "-config", self.conf, "-in", csr,
                "-out", cert, "-extfile", ext, "-extensions", "ext"]
        if dates:
            args += ["-startdate", dates[0], "-enddate", dates[1]]
        _run(*args)
        return cert, key

    def revoke(self, cert):
        _run("ca", "-config", self.conf, "-revoke", cert)

    def gencrl(self, out):
        _run("ca", "-config", self.conf, "-gencrl", "-crldays", "30",
             "-out", out)
        return out


class Pki:
    """Every certificate the TLS tests need, in one temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tern-pki-")
        try:
            self._make()
        except BaseException:
            self.cleanup()
            raise

    def _make(self):
        d = self.dir
        self._ca = _Ca(os.path.join(d, "ca"), "Tern Test CA")
        self._other = _Ca(os.path.join(d, "other-ca"), "Tern Other CA")
        self.ca = self._ca.cert
        self.other_ca = self._other.cert
        self.server_cert, self.server_key = self.server_pair("ternd-test")
        self.client_cert, self.client_key = self._ca.issue(
            d, "device-1", "device-1", _CLIENT_EXT,
            "DNS:device-1.example, email:device-1@example.com")
        self.expired_cert, self.expired_key = self._ca.issue(
            d, "expired", "device-expired", _CLIENT_EXT,
            "DNS:device-expired.example",
            dates=("20200101000000Z", "20200201000000Z"))
        self.revoked_cert, self.revoked_key = self._ca.issue(
            d, "revoked", "device-revoked", _CLIENT_EXT,
            "DNS:device-revoked.example")
        self.other_cert, self.other_key = self._other.issue(
            d, "other", "device-1", _CLIENT_EXT, "DNS:device-1.example")
        self._ca.revoke(self.revoked_cert)
        self.crl = self._ca.gencrl(os.path.join(d, "crl.pem"))

    def server_pair(self, name, cn=None):
        """A server certificate for 127.0.0.1 and localhost signed by the
        CA, as (cert, key) paths named after `name`."""
        return self._ca.issue(self.dir, name, cn or name, _SERVER_EXT,
                              "IP:127.0.0.1, DNS:localhost")

    def cleanup(self):
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


if __name__ == "__main__":
    p = Pki()
    try:
        for k in sorted(vars(p)):
            if not k.startswith("_"):
                print("%-14s %s" % (k, getattr(p, k)))
        print(_run("crl", "-in", p.crl, "-noout", "-text").decode())
    finally:
        p.cleanup()
