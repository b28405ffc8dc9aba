"""Shared helpers for scripts/bench, scripts/bench-import and scripts/bench-scan (standard library only).

Everything here fails loudly: a missing tool, corpus or binary is a `die()` with a hint,
never a silent skip.
"""

import concurrent.futures
import datetime
import hashlib
import json
import multiprocessing
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BIN = os.path.join(REPO, "target", "release", "modcachefs")


def die(msg, code=2):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(code)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def need_tool(name, hint=""):
    """Absolute path of a tool on PATH (or an explicit path), or die."""
    p = name if os.sep in name else shutil.which(name)
    if not p or not os.access(p, os.X_OK):
        die(f"required tool not found: {name}" + (f" ({hint})" if hint else ""))
    return os.path.abspath(p)


def find_bin(path):
    """The modcachefs binary: --bin PATH, default target/release/modcachefs, built if missing."""
    if path:
        if not os.access(path, os.X_OK):
            die(f"--bin {path}: not an executable file")
        return os.path.abspath(path)
    if not os.access(DEFAULT_BIN, os.X_OK):
        need_tool("cargo", "needed to build target/release/modcachefs; or pass --bin PATH")
        log("building modcachefs: cargo build --release")
        r = subprocess.run(["cargo", "build", "--release"], cwd=REPO)
        if r.returncode != 0 or not os.access(DEFAULT_BIN, os.X_OK):
            die("cargo build --release failed; pass --bin PATH to use another build")
    return DEFAULT_BIN


def go_env(go, extra):
    """A clean environment for the go command: nothing from the caller's GO* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO") and k != "CGO_ENABLED"}
    env.update({"GOENV": "off", "GOTELEMETRY": "off", "GO111MODULE": "on", "GOTOOLCHAIN": "local",
                "GOSUMDB": "off", "GOFLAGS": "-mod=mod"})
    # Put the chosen go first on PATH so that tools it spawns agree with it.
    env["PATH"] = os.path.dirname(go) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def go_version(go):
    r = subprocess.run([go, "version"], capture_output=True, text=True, env=go_env(go, {}))
    if r.returncode != 0:
        die(f"{go} version failed: {r.stderr.strip()}")
    return r.stdout.strip()


def bin_version(binp):
    r = subprocess.run([binp, "--version"], capture_output=True, text=True)
    v = r.stdout.strip() or "?"
    g = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True, text=True)
    built = datetime.datetime.fromtimestamp(os.path.getmtime(binp)).strftime("%Y-%m-%d %H:%M")
    return f"{v}, {binp} built {built} (repo at run time: {g.stdout.strip() or 'no git'})"


class Dropper:
    """Drops the page cache (sync; echo 3 > drop_caches) if permitted; remembers whether it could."""

    def __init__(self, enabled=True):
        self.enabled = enabled
        self.ok = None  # unknown until tried
        self.reason = "disabled by --no-drop-caches" if not enabled else ""

    def drop(self):
        os.sync()
        if not self.enabled or self.ok is False:
            return False
        try:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            self.ok = True
        except OSError as e:
            self.ok = False
            self.reason = f"not permitted ({e.strerror})"
            log(f"warning: cannot drop the page cache: {e}; runs are NOT cold")
        return self.ok

    def describe(self):
        if self.ok:
            return "yes (sync; echo 3 > /proc/sys/vm/drop_caches before every timed run)"
        return f"NO: {self.reason or 'never tried'}"


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, **kw):
    """Runs cmd, returns (wall seconds, child CPU seconds, CompletedProcess)."""
    c0, t0 = children_cpu(), time.perf_counter()
    r = subprocess.run(cmd, **kw)
    return time.perf_counter() - t0, children_cpu() - c0, r


def rmtree(p):
    """rm -rf that also copes with go's read-only module trees."""
    if not os.path.lexists(p):
        return
    if subprocess.run(["rm", "-rf", "--", p], stderr=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["chmod", "-R", "u+w", p], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", "--", p], check=True)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_range(xs, digits=2):
    return f"{med(xs):.{digits}f} ({min(xs):.{digits}f}–{max(xs):.{digits}f})"


def machine_line():
    load = os.getloadavg()
    return (f"{os.cpu_count()} CPUs, Linux {platform.release()}, load avg at start "
            f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}, {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}")


def write_out(path, text):
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        log(f"wrote {path}")


KEY_STATS = ["lookups", "negative_lookups", "getattrs", "readdirs", "opens", "reads", "bytes_served",
             "cache_hits", "cache_misses", "cache_evictions", "modules_loaded", "modules_extracted",
             "verifications_ok", "verifications_failed", "modules_missing", "errors"]


def pairs(xs, ys):
    """Pairwise ratios x_i / y_i of two equally long series of runs."""
    return [x / y for x, y in zip(xs, ys)]


def proc_io(pid="self"):
    """/proc/PID/io as a dict. For "self" it includes the I/O of children already waited for."""
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (line.split(":") for line in f)}


def proc_status_kib(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM, ...), or None."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def peak_rss_kib(pid):
    return proc_status_kib(pid, "VmHWM")


# ---- module paths and corpora

def escape(s):
    """Go's module path escaping (case-encoding): "Foo" -> "!foo"."""
    return "".join("!" + c.lower() if c.isupper() else c for c in s)


def unescape(s):
    out, bang = [], False
    for c in s:
        if bang:
            out.append(c.upper())
            bang = False
        elif c == "!":
            bang = True
        else:
            out.append(c)
    return "".join(out)


def scan_corpus(proxy):
    """(zip paths, [path@version], total zip bytes, count of .mod files) of a GOPROXY tree."""
    zips, mods, nmod, total = [], [], 0, 0
    for d, _, files in os.walk(proxy):
        if os.path.basename(d) != "@v":
            continue
        esc_path = os.path.relpath(os.path.dirname(d), proxy)
        for f in files:
            if f.endswith(".zip"):
                p = os.path.join(d, f)
                zips.append(p)
                total += os.path.getsize(p)
                mods.append(f"{unescape(esc_path)}@{unescape(f[:-4])}")
            elif f.endswith(".mod"):
                nmod += 1
    zips.sort()
    mods.sort()
    return zips, mods, total, nmod


def parse_json_stream(text):
    """The concatenated JSON objects that `go ... -json` prints."""
    dec, i, objs = json.JSONDecoder(), 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return objs
        o, i = dec.raw_decode(text, i)
        objs.append(o)


def zip_digests(zpath):
    """{escaped "<module>@<version>/<path>": sha256 hex} of every file entry of a module zip."""
    out = {}
    with zipfile.ZipFile(zpath) as z:
        for info in z.infolist():
            if info.is_dir():
                continue
            # Entry names are <module>@<version>/<path>; on disk, escaped.
            name = info.filename
            at = name.index("@")
            slash = name.index("/", at)
            mod, ver, rest = name[:at], name[at + 1:slash], name[slash + 1:]
            out[f"{escape(mod)}@{escape(ver)}/{rest}"] = hashlib.sha256(z.read(info)).hexdigest()
    return out


def reference(proxy, cache_file, write_to=None):
    """{relative tree path: sha256 hex} for every file of every zip in the corpus, computed here
    with Python's zipfile. cache_file is reused if newer than the corpus; otherwise the digests
    are computed and saved to write_to (default: cache_file)."""
    if cache_file and os.path.exists(cache_file) and os.path.getmtime(cache_file) > os.path.getmtime(proxy):
        with open(cache_file) as f:
            return json.load(f)
    log(f"computing the reference digests from the zips in {proxy} (Python zipfile)")
    ref = {}
    for dirpath, _, files in os.walk(proxy):
        for fn in files:
            if fn.endswith(".zip"):
                ref.update(zip_digests(os.path.join(dirpath, fn)))
    with open(write_to or cache_file, "w") as f:
        json.dump(ref, f)
    return ref


def module_roots(binp, store):
    """Escaped "<module>@<version>" of every zip-backed module in a store."""
    r = subprocess.run([binp, "--store", store, "ls", "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"modcachefs ls of {store} failed: {r.stderr.strip()[-2000:]}")
    roots = []
    for line in r.stdout.splitlines():
        if line.strip():
            m = json.loads(line)
            if m.get("zip_h1"):
                roots.append(f"{escape(m['path'])}@{escape(m['version'])}")
    return roots


def root_of(rel):
    """"<module>@<version>" of a path "<module>@<version>/<file>"."""
    at = rel.index("@")
    return rel[:rel.index("/", at)]


_SCAN = None  # (root, path_of) of the scan in progress, for reader processes


def _scan_read(rel):
    root, path_of = _SCAN
    h = hashlib.sha256()
    n = 0
    with open(os.path.join(root, path_of(rel) if path_of else rel), "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
    return rel, n, h.hexdigest()


def scan(root, rels, readers, path_of=None, processes=False):
    """Reads (and sha256s) every file root/path_of(rel) with `readers` threads, or
    with `readers` processes. Returns (seconds, bytes, {rel: sha256 hex}).

    Files are read the way cat, sha256sum and Go read them: open, read(2) of 1 MiB
    until EOF, close. Python's buffered open() would also ask isatty() of every file,
    an ioctl that the kernel forwards to any FUSE daemon (one round trip per file)
    and that none of those tools make.

    Threads share one interpreter lock, so their own work (the loop, the hashing
    calls) queues behind each other and hides part of the file system's cost;
    processes (forked, started before the clock) do not. The threads stay the
    default because every earlier figure was measured with them."""
    global _SCAN
    _SCAN = (root, path_of)
    try:
        if processes:
            with multiprocessing.get_context("fork").Pool(readers) as pool:
                pool.map(abs, range(readers))  # every worker started
                t0 = time.perf_counter()
                got, total = {}, 0
                for rel, n, d in pool.imap_unordered(_scan_read, rels, chunksize=64):
                    got[rel] = d
                    total += n
                return time.perf_counter() - t0, total, got
        t0 = time.perf_counter()
        got, total = {}, 0
        with concurrent.futures.ThreadPoolExecutor(readers) as ex:
            for rel, n, d in ex.map(_scan_read, rels, chunksize=64):
                got[rel] = d
                total += n
        return time.perf_counter() - t0, total, got
    finally:
        _SCAN = None


class Mount:
    """A running `modcachefs mount`; always unmounted and killed by stop() (use in try/finally)."""

    def __init__(self, binp, store, mnt, logpath, extra_args=(), timeout=120):
        self.binp, self.store, self.mnt, self.logpath = binp, store, mnt, logpath
        self.extra_args, self.timeout = list(extra_args), timeout
        self.proc = None
        self.startup_s = None

    def start(self):
        os.makedirs(self.mnt, exist_ok=True)
        if os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-u", self.mnt], stderr=subprocess.DEVNULL)
        if os.listdir(self.mnt):
            die(f"mountpoint {self.mnt} is not empty")
        ready = os.path.join(self.mnt, "cache", "download")
        self._log = open(self.logpath, "ab")
        cmd = [self.binp, "--store", self.store, "mount", self.mnt] + self.extra_args
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        while True:
            try:
                if os.path.isdir(ready):
                    break
            except OSError:
                pass
            if self.proc.poll() is not None:
                self._log.flush()
                tail = open(self.logpath, errors="replace").read()[-3000:]
                die(f"modcachefs mount exited with {self.proc.returncode} before {ready} appeared:\n{tail}")
            if time.perf_counter() - t0 > self.timeout:
                self.stop()
                die(f"modcachefs mount: {ready} did not appear within {self.timeout} s (log: {self.logpath})")
            time.sleep(0.001)
        self.startup_s = time.perf_counter() - t0
        return self

    def rss_kib(self):
        return proc_status_kib(self.proc.pid, "VmRSS")

    def peak_rss_kib(self):
        return proc_status_kib(self.proc.pid, "VmHWM")

    def write_bytes(self):
        """Bytes the daemon has caused to be written to storage so far (/proc/PID/io write_bytes)."""
        return proc_io(self.proc.pid)["write_bytes"]

    def threads(self):
        out = []
        try:
            for t in sorted(os.listdir(f"/proc/{self.proc.pid}/task")):
                def rd(n):
                    try:
                        with open(f"/proc/{self.proc.pid}/task/{t}/{n}") as f:
                            return f.read().strip()
                    except OSError:
                        return "?"
                out.append(f"{rd('comm')}: {rd('wchan')}")
        except OSError:
            pass
        return ", ".join(out)

    def cpu_s(self):
        """user+sys CPU seconds of the daemon so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self):
        r = subprocess.run([self.binp, "--store", self.store, "stats", self.mnt, "--json"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            log(f"warning: modcachefs stats failed: {r.stderr.strip()}")
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {"raw": r.stdout}

    def stop(self):
        try:
            if os.path.ismount(self.mnt):
                r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, text=True)
                if r.returncode != 0:
                    log(f"fusermount3 -u {self.mnt}: {r.stderr.strip()}; trying lazy unmount")
                    subprocess.run(["fusermount3", "-uz", self.mnt], stderr=subprocess.DEVNULL)
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    log(f"modcachefs pid {self.proc.pid} ignored SIGTERM for 15 s; killing it. Its threads "
                        f"(name: wait channel): {self.threads()}")
                    if getattr(self, "_log", None):
                        self._log.flush()
                    try:
                        with open(self.logpath, errors="replace") as f:
                            log("its log ends with:\n" + "".join(f.readlines()[-15:]))
                    except OSError:
                        pass
                    self.proc.kill()
                    self.proc.wait()
            if getattr(self, "_log", None):
                self._log.close()
                self._log = None
            if os.path.ismount(self.mnt):
                subprocess.run(["fusermount3", "-uz", self.mnt], stderr=subprocess.DEVNULL)
