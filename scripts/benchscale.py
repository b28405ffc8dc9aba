"""The "scale" section of scripts/bench: how the costs of a store grow with its size.

For each size N (--scale-sizes, plus the 1,000-version baseline), on a synthetic store made by
scripts/make-synthetic-store (kept in --work/scale and reused while its generator, shape and
the modcachefs binary are the same), only through the CLI (`import`, `mount`, `stats --json`):

  - import time of the whole store (recorded when the store was made; summed over its imports
    of --chunk versions each), index bytes (every file of the store outside blobs/) and blob bytes
    (blobs/: apparent size, and allocated blocks on disk);
  - mount ready time: spawn `modcachefs mount` until the first lookup of MNT/cache/download
    answers, page cache dropped first (unless --no-drop-caches); median of --runs mounts;
  - the daemon's RSS 1 s after it became ready (same runs);
  - lookup latency: stat(2) of SAMPLE names that exist (half cache/download/<p>/@v/<v>.mod, half
    module tree roots <p>@<v>, picked at random from the shape), each timed: a first pass (the
    daemon answers, page cache warm) and then the warm pass (what a build sees again: the kernel
    may answer from its own caches; the daemon's lookup counter over that pass is shown), and a
    daemon-warm pass after `echo 2 > /proc/sys/vm/drop_caches` (the kernel forgets its dentries
    and inodes, so every lookup reaches the daemon, whose state and the page cache are warm;
    not with --no-drop-caches); p50/p99;
  - readdir latency: listdir of 20 random cache/download/<p>/@v directories and 20 module tree
    roots, first, warm (median of 5 per directory) and daemon warm (median of 3 rounds of a
    dentry drop and one listing per directory), p50/max over directories; and of
    cache/download/github.com, whose size grows with the store (shown, not judged);
  - one-module import: --runs times, a fresh module (github.com/<new owner>/mod v1.0.0) written as
    a one-module GOPROXY tree, its .mod looked up (and missed) on the running mount first, then
    `modcachefs import` timed; time until visible: from the import's exit, stat of its .mod on
    the same running mount every 5 ms until it answers, up to 30 s ("not visible in 30 s"; after
    the first such run later runs are not polled). These modules stay in the store.

Judged against the targets (issue: a store that grows while it is served): warm and daemon-warm
lookup p50 and p99 and readdir p50 within 1.5x of the 1,000-version store; ready <= 100 ms; idle RSS <= 40 MiB;
one-module import <= 0.5 s; visible <= 2 s.
"""

import datetime
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
import synthlib as S  # noqa: E402

BASELINE = 1000
SAMPLE = 2000
DIRS = 20
DAEMON_ROUNDS = 3  # dentry drops for the daemon-warm readdir: one listing per directory after each
VISIBLE_TIMEOUT = 30.0
MAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "make-synthetic-store")


def parse_sizes(text):
    """"10k,100000,1M" -> [10000, 100000, 1000000]."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        mult = {"k": 1000, "m": 1000000}.get(part[-1], 1)
        try:
            n = int(part[:-1] if mult > 1 else part) * mult
        except ValueError:
            B.die(f"--scale-sizes: not a number: {part!r}")
        if n < 1:
            B.die("--scale-sizes: sizes must be >= 1")
        out.append(n)
    return sorted(set(out))


def label(n):
    return f"{n // 1000000}M" if n % 1000000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def tree_bytes(root, skip=()):
    """(apparent bytes, allocated bytes) of the files under root, leaving out top-level names in skip."""
    size = alloc = 0
    for d, dirs, files in os.walk(root):
        if d == root:
            dirs[:] = [x for x in dirs if x not in skip]
            files = [x for x in files if x not in skip]
        for f in files:
            st = os.lstat(os.path.join(d, f))
            size, alloc = size + st.st_size, alloc + st.st_blocks * 512
    return size, alloc


class Store:
    def __init__(self, work, n, chunk):
        self.n, self.shape = n, S.Shape(n)
        self.dir = os.path.join(work, f"store-{n}")
        self.marker = os.path.join(work, f"store-{n}.json")
        self.chunk = chunk

    def ensure(self, binp, bin_sha):
        try:
            with open(self.marker) as f:
                info = json.load(f)
        except (OSError, ValueError):
            info = {}
        ok = (all(info.get(k) == v for k, v in self.shape.key().items()) and info.get("bin_sha256") == bin_sha
              and os.path.isdir(self.dir) and os.listdir(self.dir))
        if ok:
            B.log(f"scale: reusing {self.dir} ({self.n} versions, made {info.get('made', '?')})")
        else:
            B.log(f"scale: making the {self.n}-version store {self.dir} (scripts/make-synthetic-store)")
            B.rmtree(self.dir)
            B.rmtree(self.marker)
            r = subprocess.run([MAKE, str(self.n), "--out", self.dir, "--bin", binp, "--chunk", str(self.chunk),
                                "--json", self.marker + ".tmp"])
            if r.returncode != 0:
                B.die(f"make-synthetic-store {self.n} failed (exit {r.returncode})")
            with open(self.marker + ".tmp") as f:
                info = json.load(f)
            info["made"] = time.strftime("%Y-%m-%d %H:%M")
            with open(self.marker, "w") as f:
                json.dump(info, f, indent=1)
            os.remove(self.marker + ".tmp")
        self.info = info
        self.index_bytes = tree_bytes(self.dir, skip=("blobs", "tmp"))
        self.blob_bytes = tree_bytes(os.path.join(self.dir, "blobs"))


def pct(xs, q):
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(q * len(ys)))] if ys else float("nan")


def timed_stats(paths):
    """[(seconds of one stat(2))], [failed paths]."""
    out, bad = [], []
    for p in paths:
        t0 = time.perf_counter()
        try:
            os.stat(p)
        except OSError:
            bad.append(p)
            continue
        out.append(time.perf_counter() - t0)
    return out, bad


def timed_listdir(p):
    t0 = time.perf_counter()
    names = os.listdir(p)
    return time.perf_counter() - t0, names


def drop_dentries(b):
    """Makes the kernel forget its unused dentries and inodes (echo 2 > drop_caches), so that the
    next lookups and listings on the mount reach the daemon while the daemon's own state and the
    page cache stay warm. False if page-cache dropping is off or not permitted."""
    if not b.drop.enabled or b.drop.ok is False:
        return False
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")
        return True
    except OSError as e:
        B.log(f"warning: cannot drop dentries: {e}; no daemon-warm passes")
        return False


def counter(m, key):
    st = m.stats() or {}
    v = st.get(key)
    return v if isinstance(v, int) else None


def measure(b, st, runs):
    """All figures of one store; returns a dict."""
    r = {"n": st.n, "ready": [], "rss": []}
    shape = st.shape
    rng = random.Random(4242 + st.n)
    m = None
    try:
        for run in range(1, runs + 1):
            b.drop.drop()
            m = b.mount(st.dir)
            r["ready"].append(m.startup_s)
            time.sleep(1)
            r["rss"].append(m.rss_kib() / 1024)
            B.log(f"scale {label(st.n)} run {run}: ready {m.startup_s * 1000:.1f} ms, RSS {r['rss'][-1]:.1f} MiB")
            if run < runs:
                b.unmount(m)
                m = None
        mnt = b.mnt
        dl = os.path.join(mnt, "cache", "download")
        names, vdirs, roots = [], [], []
        for i in range(SAMPLE):
            p = rng.randrange(shape.paths)
            path = S.escape(shape.path(p)[0])
            v = S.escape(rng.choice(shape.versions(p))[0])
            names.append(os.path.join(dl, path, "@v", v + ".mod") if i % 2 else os.path.join(mnt, f"{path}@{v}"))
            if i < DIRS:
                vdirs.append(os.path.join(dl, path, "@v"))
                roots.append(os.path.join(mnt, f"{path}@{v}"))
        r["first"], bad = timed_stats(names)
        lk0 = counter(m, "lookups")
        r["warm"], bad2 = timed_stats(names)
        lk1 = counter(m, "lookups")
        r["warm_daemon_lookups"] = None if lk0 is None or lk1 is None else lk1 - lk0
        r["daemon"], bad3 = [], []
        if drop_dentries(b):
            lk0 = counter(m, "lookups")
            r["daemon"], bad3 = timed_stats(names)
            lk1 = counter(m, "lookups")
            r["daemon_lookups"] = None if lk0 is None or lk1 is None else lk1 - lk0
        if bad or bad2 or bad3:
            b.failed(f"scale {label(st.n)} lookups", f"{len(bad)} + {len(bad2)} + {len(bad3)} of {SAMPLE} "
                     f"existing names failed, e.g. {(bad or bad2 or bad3)[:3]}")
        r["rd_first"], r["rd_warm"] = [], []
        for d in vdirs + roots:
            try:
                s, ls = timed_listdir(d)
                r["rd_first"].append(s)
                if d in vdirs and "list" not in ls:
                    b.failed(f"scale {label(st.n)} readdir", f"{d} has no list: {ls[:10]}")
            except OSError as e:
                b.failed(f"scale {label(st.n)} readdir", f"{d}: {e}")
        rd0 = counter(m, "readdirs")
        for d in vdirs + roots:
            try:
                r["rd_warm"].append(B.med([timed_listdir(d)[0] for _ in range(5)]))
            except OSError as e:
                b.failed(f"scale {label(st.n)} readdir", f"{d}: {e}")
        rd1 = counter(m, "readdirs")
        r["warm_daemon_readdirs"] = None if rd0 is None or rd1 is None else rd1 - rd0
        r["rd_daemon"] = []
        rounds = {d: [] for d in vdirs + roots}
        rd0 = counter(m, "readdirs")
        for _ in range(DAEMON_ROUNDS):
            if not drop_dentries(b):
                break
            for d in rounds:
                try:
                    rounds[d].append(timed_listdir(d)[0])
                except OSError as e:
                    b.failed(f"scale {label(st.n)} readdir", f"{d}: {e}")
        rd1 = counter(m, "readdirs")
        r["rd_daemon"] = [B.med(xs) for xs in rounds.values() if xs]
        r["rd_daemon_readdirs"] = None if rd0 is None or rd1 is None or not r["rd_daemon"] else rd1 - rd0
        try:
            gh = os.path.join(dl, "github.com")
            s, ls = timed_listdir(gh)
            r["gh"] = (len(ls), s, B.med([timed_listdir(gh)[0] for _ in range(3)]))
        except OSError as e:
            b.failed(f"scale {label(st.n)} readdir", f"{gh}: {e}")
            r["gh"] = None
        fresh_imports(b, st, m, runs, r)
    finally:
        if m is not None:
            b.unmount(m)
    return r


def fresh_imports(b, st, m, runs, r):
    """One-module imports into the store while m serves it, and the time until each is visible."""
    r["one"], r["visible"], r["visible_note"] = [], [], ""
    poll = True
    dl = os.path.join(b.mnt, "cache", "download")
    for run in range(1, runs + 1):
        owner = f"fresh{time.time_ns()}"
        path = f"github.com/{owner}/mod"
        proxy = b.fresh("scale-fresh")
        S.write_module(proxy, path, [("v1.0.0", datetime.datetime.now(datetime.timezone.utc))])
        target = os.path.join(dl, "github.com", owner, "mod", "@v", "v1.0.0.mod")
        if os.path.exists(target):
            b.failed(f"scale {label(st.n)} fresh module", f"{target} exists before its import")
        t0 = time.perf_counter()
        p = subprocess.run([b.binp, "--store", st.dir, "import", "--json", proxy], capture_output=True, text=True)
        t1 = time.perf_counter()
        r["one"].append(t1 - t0)
        if p.returncode != 0:
            b.fail(f"scale {label(st.n)} one-module import run {run}", p)
        vis, polled = None, poll
        if poll:
            while time.perf_counter() - t1 < VISIBLE_TIMEOUT:
                if os.path.exists(target):
                    vis = time.perf_counter() - t1
                    break
                time.sleep(0.005)
            if vis is None:
                poll = False
                r["visible_note"] = f"not visible in {VISIBLE_TIMEOUT:.0f} s (run {run}; later runs not polled)"
            else:
                r["visible"].append(vis)
        seen = f"{vis:.3f} s" if vis is not None else f"> {VISIBLE_TIMEOUT:.0f} s" if polled else "not polled"
        B.log(f"scale {label(st.n)} one-module import run {run}: {t1 - t0:.3f} s, visible after {seen}")
        B.rmtree(proxy)


# ---- the table

def us(x):
    return f"{x * 1e6:.0f} µs" if x < 0.01 else f"{x * 1000:.1f} ms"


def mb(n):
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def fmt(xs, unit, scale=1.0, digits=1):
    if not xs:
        return "—"
    ys = [x * scale for x in xs]
    s = f"{B.med(ys):.{digits}f} {unit}"
    return s + (f" ({min(ys):.{digits}f}–{max(ys):.{digits}f})" if len(ys) > 1 else "")


def table(results, stores, runs):
    base = results[0]
    cols = [f"{label(r['n'])} ({r['n']:,} versions)" for r in results]
    rows = []

    def verdicts(ok_of):
        out = []
        for r in results[1:]:
            ok = ok_of(r)
            out.append(f"{label(r['n'])}: " + ("—" if ok is None else "met" if ok else "**NOT met**"))
        return ", ".join(out)

    def ratio(r, key, q):
        a, c = pct(r[key], q), pct(base[key], q)
        return a / c if r[key] and base[key] else None

    def row(what, cells, target="", result=""):
        rows.append([what] + cells + [target, result])

    row("store: paths x versions per path", [f"{st.shape.paths:,} x {st.shape.per_path}" for st in stores])
    row("import of the whole store (made by scripts/make-synthetic-store)",
        [f"{st.info['import_s']:.1f} s ({st.info['imports']} import{'s' if st.info['imports'] > 1 else ''})"
         for st in stores])
    row("index bytes (store files outside blobs/)", [mb(st.index_bytes[0]) for st in stores])
    row("blob bytes (blobs/: apparent; on disk)", [f"{mb(st.blob_bytes[0])}; {mb(st.blob_bytes[1])}" for st in stores])
    row(f"mount ready (spawn until MNT/cache/download answers; median of {runs})",
        [fmt(r["ready"], "ms", 1000) for r in results], "≤ 100 ms",
        verdicts(lambda r: B.med(r["ready"]) <= 0.1))
    row("daemon RSS 1 s after ready", [fmt(r["rss"], "MiB") for r in results], "≤ 40 MiB",
        verdicts(lambda r: B.med(r["rss"]) <= 40))
    def cell(r, key, qs, daemon_key=None, noun=""):
        """Quantiles (or max, q=1) of r[key], their ratios to the baseline, the daemon's counter."""
        if not r[key]:
            return "—"
        def q(xs, x):
            return max(xs) if x == 1 else pct(xs, x)
        s = " / ".join(us(q(r[key], x)) for x in qs)
        if r is not base and base[key]:
            s += " (" + " / ".join(f"{q(r[key], x) / q(base[key], x):.2f}x" for x in qs if x < 1) + ")"
        if daemon_key and r.get(daemon_key) is not None:
            s += f"; {r[daemon_key]} daemon {noun}"
            if r[daemon_key]:
                # A bigger store has more distinct directories on the sampled paths, so one stat
                # costs more daemon lookups: the pass's time per request separates the two.
                s += f", {us(sum(r[key]) / r[daemon_key])} mean per {noun[:-1]}"
        return s

    def within(r, key, qs):
        return None if not r[key] else all(ratio(r, key, x) <= 1.5 for x in qs)
    row(f"lookup, first pass (stat of {SAMPLE} existing names; the daemon answers): p50 / p99 (x the 1k store)",
        [cell(r, "first", (.5, .99)) for r in results])
    row("lookup, warm pass (right after): p50 / p99 (x the 1k store)",
        [cell(r, "warm", (.5, .99), "warm_daemon_lookups", "lookups") for r in results],
        "≤ 1.5x of 1k (p50 and p99)", verdicts(lambda r: within(r, "warm", (.5, .99))))
    row("lookup, daemon warm (kernel dentries dropped, daemon and page cache warm): p50 / p99 (x the 1k store)",
        [cell(r, "daemon", (.5, .99), "daemon_lookups", "lookups") for r in results],
        "≤ 1.5x of 1k (p50 and p99)", verdicts(lambda r: within(r, "daemon", (.5, .99))))
    row(f"readdir, first ({DIRS} @v dirs + {DIRS} module roots): p50 / max (x the 1k store)",
        [cell(r, "rd_first", (.5, 1)) for r in results])
    row("readdir, warm (median of 5 per dir): p50 / max (x the 1k store)",
        [cell(r, "rd_warm", (.5, 1), "warm_daemon_readdirs", "readdirs") for r in results],
        "≤ 1.5x of 1k (p50)", verdicts(lambda r: within(r, "rd_warm", (.5,))))
    row(f"readdir, daemon warm (median of {DAEMON_ROUNDS} dentry drops per dir): p50 / max (x the 1k store)",
        [cell(r, "rd_daemon", (.5, 1), "rd_daemon_readdirs", "readdirs") for r in results],
        "≤ 1.5x of 1k (p50)", verdicts(lambda r: within(r, "rd_daemon", (.5,))))
    row("readdir of cache/download/github.com: entries; first / warm",
        [f"{r['gh'][0]:,}; {us(r['gh'][1])} / {us(r['gh'][2])}" if r.get("gh") else "—" for r in results])
    row(f"one-module import into the served store (median of {runs})", [fmt(r["one"], "s", 1, 3) for r in results],
        "≤ 0.5 s", verdicts(lambda r: B.med(r["one"]) <= 0.5 if r["one"] else None))

    def vis_cell(r):
        s = fmt(r["visible"], "s", 1, 3) if r["visible"] else ""
        return "; ".join(x for x in (s, r["visible_note"]) if x) or "—"
    row("time until visible on the running mount (after the import exits)", [vis_cell(r) for r in results],
        "≤ 2 s", verdicts(lambda r: bool(r["visible"]) and not r["visible_note"] and max(r["visible"]) <= 2))
    head = ["measurement"] + cols + ["target (issue)", "result"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in x) + " |" for x in rows]
    return out


def run(b, sizes, chunk):
    """The scale section: Markdown lines (header notes and the table)."""
    work = os.path.join(b.work, "scale")
    os.makedirs(work, exist_ok=True)
    sizes = sorted(set([BASELINE] + sizes))
    bin_sha = B.file_sha256(b.binp)
    stores, results = [], []
    for n in sizes:
        st = Store(work, n, chunk)
        st.ensure(b.binp, bin_sha)
        B.log(f"== section scale, {label(n)} ({n} versions)")
        stores.append(st)
        results.append(measure(b, st, b.a.runs))
    lines = ["### Scale: synthetic stores of " + ", ".join(f"{n:,}" for n in sizes) + " module versions", "",
             f"- stores: scripts/make-synthetic-store N (ceil(N/5) paths x 5 versions; zips of a go.mod and one "
             f".go file), kept in {work}; imports of at most {chunk:,} versions each",
             f"- {b.a.runs} mount(s) per size; lookups: {SAMPLE} stat(2)s of existing names per pass; targets "
             "are judged for every size against the 1k baseline"]
    for st in stores:
        i = st.info
        lines.append(f"- {label(st.n)}: generated in {i['gen_s']:.1f} s + imported in {i['import_s']:.1f} s "
                     f"({i['zip_bytes'] / 1e6:.0f} MB of zips), {st.dir}")
    return lines + [""] + table(results, stores, b.a.runs)
