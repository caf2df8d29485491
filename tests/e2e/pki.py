"""pki.py — test certificates made with Debian's `openssl` command: CAs,
server certificates with IP addresses in their subjectAltName, client
certificates, and an expired one (`openssl ca -startdate/-enddate` in the
past: no clock faking needed). The same commands as the README's recipe.

    pki = Pki(tmpdir)
    ca = pki.ca("ca1")                                  # ca.crt, ca.key paths
    server = pki.cert("server", ca, ips=["198.18.0.2"])  # .crt/.key, SAN IP
    client = pki.cert("dash", ca)                        # CN=dash,O=mydev-e2e
    old = pki.cert("old", ca, expired=True)              # valid 2020-01-01..02
    grpc.ssl_channel_credentials(ca.pem(), client.key_pem(), client.pem())
"""
import os
import subprocess


def _openssl(*args, cwd=None):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, cwd=cwd,
                       timeout=60)
    assert r.returncode == 0, "openssl %s:\n%s" % (" ".join(args), r.stderr)
    return r.stdout


class Cert:
    """A certificate and its key, as files."""

    def __init__(self, crt, key):
        self.crt, self.key = crt, key

    def pem(self):
        with open(self.crt, "rb") as f:
            return f.read()

    def key_pem(self):
        with open(self.key, "rb") as f:
            return f.read()

    def serial(self):
        return _openssl("x509", "-in", self.crt, "-noout", "-serial").strip().split("=")[1]


class Pki:
    """Certificates under dir (created)."""

    def __init__(self, dir):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def ca(self, name):
        """A self-signed CA (CN=NAME test CA), 2048-bit RSA, 3 days."""
        crt, key = self.path(name + ".crt"), self.path(name + ".key")
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                 "-days", "3", "-subj", "/O=mydev-e2e/CN=%s test CA" % name)
        return Cert(crt, key)

    def cert(self, name, ca, ips=(), expired=False):
        """A certificate signed by ca: CN=name, O=mydev-e2e; with ips, a server
        certificate (subjectAltName IP:...); expired: valid 2020-01-01 to
        2020-01-02 only."""
        crt, key, csr = self.path(name + ".crt"), self.path(name + ".key"), self.path(name + ".csr")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                 "-subj", "/O=mydev-e2e/CN=%s" % name)
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            if ips:
                f.write("subjectAltName=%s\n" % ",".join("IP:" + ip for ip in ips))
                f.write("extendedKeyUsage=serverAuth\n")
            else:
                f.write("extendedKeyUsage=clientAuth\n")
        if not expired:
            _openssl("x509", "-req", "-in", csr, "-CA", ca.crt, "-CAkey", ca.key,
                     "-CAcreateserial", "-out", crt, "-days", "2", "-sha256", "-extfile", ext)
            return Cert(crt, key)
        # `openssl ca` takes explicit start and end dates.
        cadir = self.path(name + ".ca")
        os.makedirs(os.path.join(cadir, "new"), exist_ok=True)
        open(os.path.join(cadir, "index.txt"), "w").close()
        with open(os.path.join(cadir, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(cadir, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = new\n"
                    "serial = serial\ndefault_md = sha256\npolicy = p\n[p]\n"
                    "commonName = supplied\norganizationName = optional\n")
        _openssl("ca", "-batch", "-config", "ca.cnf", "-cert", ca.crt, "-keyfile", ca.key,
                 "-in", csr, "-out", crt, "-startdate", "20200101000000Z",
                 "-enddate", "20200102000000Z", "-extfile", ext, "-notext", cwd=cadir)
        return Cert(crt, key)
