"""Synthetic Go modules for scale measurements: names, versions and module zips (standard library only).

Used by scripts/make-synthetic-store (a whole store of N module versions) and by the scale
section of scripts/bench (a fresh module to import into such a store, and a random sample of
names that exist in it). Everything is a pure function of (N, versions per path, seed), so
the bench can name modules of a store without listing it.

Shapes: N versions are ceil(N / V) module paths x V versions (the last path may have fewer).
Paths are spread over hosts the way a real organisation's dependencies are: mostly
github.com/<owner>/<repo> (a few with /vN major suffixes or nested modules), gitlab.com
groups, bitbucket.org, vanity hosts (golang.org/x/..., k8s.io/...), gopkg.in/pkg.vN and
corporate hosts (go.<corp>.com/<team>/<svc>). Owners are picked with a skew, so a few own many
repositories and most own one or two, and some owners have upper-case letters (escaped as
"!x" on disk). Versions are tagged releases of the path's major version, some pre-releases
and some pseudo-versions (which, as on a real proxy, are not in @v/list).

Each version's zip holds a go.mod (the same bytes as its .mod file) and one .go file, named
<path>@<version>/... and written the way scripts/make-corpus writes zips (deflate, fixed entry
times, S_IFREG|0644 external attributes); here the bytes are assembled in memory, not via
zipfile, because writing a million of them is the point and zipfile costs several times more.
"""

import datetime
import json
import math
import os
import stat
import struct
import zlib

# Bump when anything below changes what a given (N, V, seed) produces: stores made by an
# older generator are then rebuilt by the bench instead of reused.
GEN_VERSION = 1

_SYL = ("ba be bi bo bu da de di do du fa fe fi fo ga ge go ha he hi ho ka ke ki ko ku la le li lo "
        "lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to "
        "tu va ve vi vo za ze zo").split()
_SUBS = ("api", "sdk", "client", "tools", "cmd/cli", "pkg/util", "otel", "v3compat", "plugins/auth", "proto")
_VANITY = ("golang.org/x", "k8s.io", "go.uber.org", "cloud.google.com/go", "go.opentelemetry.io/contrib",
           "google.golang.org", "sigs.k8s.io", "go.etcd.io")
_CORPS = ("acme", "initech", "globex", "umbrella", "hooli", "vandelay", "wonka", "stark", "wayne", "tyrell")
_EPOCH = datetime.datetime(2019, 1, 1, tzinfo=datetime.timezone.utc)

_DOS_TIME, _DOS_DATE = 0, (0 << 9) | (1 << 5) | 1  # 1980-01-01 00:00:00, as make-corpus writes
_EXT_ATTR = (stat.S_IFREG | 0o644) << 16
_MADE_BY = (3 << 8) | 20


def escape(s):
    """Go's module path/version escaping: upper-case letters become '!' + lower case."""
    return "".join("!" + c.lower() if c.isupper() else c for c in s)


def _mix(x, salt):
    """A 32-bit integer hash (deterministic across runs, unlike hash())."""
    x = (x * 0x9E3779B1 + salt * 0x85EBCA77 + 0x165667B1) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    x = (x * 0x297A2D39) & 0xFFFFFFFF
    return x ^ (x >> 15)


def _word(i, cap=False):
    """A pronounceable name, distinct for each i >= 0 (bijective base-len(_SYL) numbering)."""
    parts = []
    i += 1
    while i > 0:
        i -= 1
        parts.append(_SYL[i % len(_SYL)])
        i //= len(_SYL)
    if len(parts) == 1:
        parts.append("x")
    return "".join(p.capitalize() for p in parts) if cap else "".join(parts)


class Shape:
    """The module paths and versions of a synthetic store of n versions."""

    def __init__(self, n, per_path=5, seed=1):
        if n < 1 or per_path < 1:
            raise ValueError("n and versions per path must be >= 1")
        self.n, self.per_path, self.seed = n, per_path, seed
        self.paths = math.ceil(n / per_path)
        self.owners = max(1, self.paths // 4)

    def key(self):
        return {"n": self.n, "per_path": self.per_path, "seed": self.seed, "generator": GEN_VERSION}

    def _owner(self, p, salt):
        x = _mix(p, self.seed * 7 + salt) / 2 ** 32
        o = int(self.owners * x ** 1.7)  # skewed: low ids own many repositories
        return _word(o + 1000, cap=_mix(o, self.seed + 99) % 12 == 0)

    def path(self, p):
        """(module path, major version) of path number p."""
        h = _mix(p, self.seed) % 1000
        repo = _word(p)
        major = _mix(p, self.seed + 5) % 2  # v0 or v1 for paths without a major suffix
        if h < 650:
            return f"github.com/{self._owner(p, 1)}/{repo}", major
        if h < 730:
            m = 2 + _mix(p, self.seed + 6) % 3
            return f"github.com/{self._owner(p, 1)}/{repo}/v{m}", m
        if h < 780:
            return f"github.com/{self._owner(p, 1)}/{repo}/{_SUBS[p % len(_SUBS)]}", major
        if h < 840:
            group = self._owner(p, 2).lower()
            if h % 3 == 0:
                group += "/" + _word(p % 97 + 300)
            return f"gitlab.com/{group}/{repo}", major
        if h < 860:
            return f"bitbucket.org/{self._owner(p, 3)}/{repo}", major
        if h < 900:
            return f"{_VANITY[p % len(_VANITY)]}/{repo}", major
        if h < 930:
            m = 1 + _mix(p, self.seed + 7) % 3
            owner = "" if h % 2 else self._owner(p, 4).lower() + "/"
            return f"gopkg.in/{owner}{repo}.v{m}", m
        corp = _CORPS[p % len(_CORPS)]
        return f"go.{corp}.com/{_word(_mix(p, self.seed + 8) % 60 + 500)}/{repo}", major

    def versions(self, p):
        """[(version, time)] of path number p, oldest first."""
        _, m = self.path(p)
        count = min(self.per_path, self.n - p * self.per_path)
        t = _EPOCH + datetime.timedelta(hours=_mix(p, self.seed + 9) % 20000)
        out = []
        for k in range(count):
            t = t + datetime.timedelta(days=3 + k, seconds=_mix(p * 31 + k, self.seed) % 86400)
            v = f"v{m}.{k // 2}.{k % 2}"
            if k == count - 1 and p % 9 == 0:
                v = f"v{m}.{k // 2 + 1}.0-rc.1"
            if k == 0 and m == 0 and p % 13 == 0:
                v = f"v0.0.0-{t.strftime('%Y%m%d%H%M%S')}-{_mix(p, self.seed + 10):08x}{p % 65536:04x}"
            out.append((v, t))
        return out


def is_pseudo(v):
    return v.count("-") >= 2 and len(v.rsplit("-", 1)[1]) == 12


def package_name(path):
    """The Go package name of a module's root package (its last non-major element)."""
    elems = path.split("/")
    last = elems[-1]
    if len(elems) > 1 and last[:1] == "v" and last[1:].isdigit():
        last = elems[-2]
    if path.startswith("gopkg.in/"):
        last = last.rsplit(".v", 1)[0]
    name = "".join(c if c.isalnum() else "_" for c in last.lower())
    return name if name[:1].isalpha() else "p" + name


def gomod(path):
    return f"module {path}\n\ngo 1.18\n".encode()


def gofile(path, version):
    pkg = package_name(path)
    return (f"// Package {pkg} is a synthetic module made by scripts/make-synthetic-store.\n"
            f"package {pkg}\n\n// Version is the module version this file was generated for.\n"
            f"const Version = \"{version}\"\n").encode(), f"{pkg}.go"


def zip_bytes(prefix, files):
    """A module zip of files [(name, data)], names prefixed "<path>@<version>/", sorted by name."""
    local, central, off = [], [], 0
    for name, data in sorted(files):
        n = (prefix + name).encode()
        co = zlib.compressobj(6, zlib.DEFLATED, -15)
        comp = co.compress(data) + co.flush()
        crc = zlib.crc32(data)
        flags = 0 if n.isascii() else 0x800
        hdr = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, 8, _DOS_TIME, _DOS_DATE, crc, len(comp),
                          len(data), len(n), 0)
        local.append(hdr + n + comp)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, _MADE_BY, 20, flags, 8, _DOS_TIME,
                                   _DOS_DATE, crc, len(comp), len(data), len(n), 0, 0, 0, 0, _EXT_ATTR, off) + n)
        off += len(hdr) + len(n) + len(comp)
    cd = b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(files), len(files), len(cd), off, 0)
    return b"".join(local) + cd + end


def _put(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def write_module(proxy, path, versions):
    """Writes <esc path>/@v/{list,<v>.info,<v>.mod,<v>.zip} for versions [(v, time)] into a GOPROXY
    tree. Returns (versions written, zip bytes)."""
    d = os.path.join(proxy, escape(path), "@v")
    os.makedirs(d, exist_ok=True)
    mod = gomod(path)
    total = 0
    for v, t in versions:
        base = os.path.join(d, escape(v))
        src, srcname = gofile(path, v)
        z = zip_bytes(f"{path}@{v}/", [("go.mod", mod), (srcname, src)])
        _put(base + ".zip", z)
        _put(base + ".mod", mod)
        info = {"Version": v, "Time": t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        _put(base + ".info", json.dumps(info, separators=(",", ":")).encode())
        total += len(z)
    _put(os.path.join(d, "list"), "".join(v + "\n" for v, _ in versions if not is_pseudo(v)).encode())
    return len(versions), total


def write_range(job):
    """Worker: paths [p0, p1) of a shape into a GOPROXY tree. Returns (versions, zip bytes)."""
    n, per_path, seed, proxy, p0, p1 = job
    shape = Shape(n, per_path, seed)
    nv = nb = 0
    for p in range(p0, p1):
        a, b = write_module(proxy, shape.path(p)[0], shape.versions(p))
        nv, nb = nv + a, nb + b
    return nv, nb
