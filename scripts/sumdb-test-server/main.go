// sumdb-test-server is a checksum database for modcachefs's tests: a fixed tree of
// go.sum records, one per module version of a GOPROXY=file:// tree (h1 of the zip
// with dirhash.HashZip, h1 of the .mod), signed with a key made from -seed, served
// with golang.org/x/mod's sumdb.NewServer on 127.0.0.1. It builds in GOPATH mode
// against Debian's golang-golang-x-mod-dev, like scripts/zipcheck:
//
//	cd scripts/sumdb-test-server && GO111MODULE=off GOPATH=/usr/share/gocode go build -o /tmp/sumdb-test-server .
//	/tmp/sumdb-test-server -corpus corpus/small/proxy -name sumdb.test -seed a
//	    prints "key NAME+HASH+KEY" and "url http://127.0.0.1:PORT", then serves until killed
//	/tmp/sumdb-test-server -corpus DIR -dump OUT ...   writes OUT/{supported,lookup/...,tile/...} and exits
//	/tmp/sumdb-test-server -vectors                     prints tlog vectors (src/sumdb/testdata) and exits
//
// -pad N appends N filler records, so the tree spans several tiles and levels;
// -wrong PATH@VERSION records a wrong zip hash for that module (refusal tests).
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type db struct {
	records [][]byte
	index   map[module.Version]int64
	hashes  hashes
	signed  []byte
}

type hashes []tlog.Hash

func (h hashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(h)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = h[x]
	}
	return out, nil
}

func (d *db) Signed(ctx context.Context) ([]byte, error) { return d.signed, nil }

func (d *db) ReadRecords(ctx context.Context, id, n int64) ([][]byte, error) {
	if id < 0 || id+n > int64(len(d.records)) {
		return nil, os.ErrNotExist
	}
	return d.records[id : id+n], nil
}

func (d *db) Lookup(ctx context.Context, m module.Version) (int64, error) {
	id, ok := d.index[m]
	if !ok {
		return 0, os.ErrNotExist
	}
	return id, nil
}

func (d *db) ReadTileData(ctx context.Context, t tlog.Tile) ([]byte, error) {
	if t.L < 0 {
		var out []byte
		for i := t.N << uint(t.H); i < t.N<<uint(t.H)+int64(t.W) && i < int64(len(d.records)); i++ {
			out = append(out, d.records[i]...)
		}
		return out, nil
	}
	return tlog.ReadTileData(t, d.hashes)
}

// seeded is a deterministic byte stream (sha256 in counter mode) for GenerateKey.
type seeded struct {
	seed string
	n    int
	buf  []byte
}

func (s *seeded) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) {
		h := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", s.seed, s.n)))
		s.n++
		s.buf = append(s.buf, h[:]...)
	}
	copy(p, s.buf)
	s.buf = s.buf[len(p):]
	return len(p), nil
}

func gomodHash(path string) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) { return os.Open(path) })
}

// corpusRecords walks a GOPROXY tree: one record per version with a .mod.
func corpusRecords(root, wrong string) (map[module.Version][]byte, error) {
	out := map[module.Version][]byte{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || !strings.HasSuffix(p, ".mod") || filepath.Base(filepath.Dir(p)) != "@v" {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(filepath.Dir(p)))
		mpath, err := module.UnescapePath(filepath.ToSlash(rel))
		if err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		vers, err := module.UnescapeVersion(strings.TrimSuffix(filepath.Base(p), ".mod"))
		if err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		text := ""
		zip := strings.TrimSuffix(p, ".mod") + ".zip"
		if _, err := os.Stat(zip); err == nil {
			h, err := dirhash.HashZip(zip, dirhash.Hash1)
			if err != nil {
				return fmt.Errorf("%s: %v", zip, err)
			}
			if mpath+"@"+vers == wrong {
				h = "h1:" + base64.StdEncoding.EncodeToString(make([]byte, 32))
			}
			text += fmt.Sprintf("%s %s %s\n", mpath, vers, h)
		}
		h, err := gomodHash(p)
		if err != nil {
			return err
		}
		text += fmt.Sprintf("%s %s/go.mod %s\n", mpath, vers, h)
		out[module.Version{Path: mpath, Version: vers}] = []byte(text)
		return nil
	})
	return out, err
}

func build(recs map[module.Version][]byte, pad int, signer note.Signer) (*db, error) {
	var mods []module.Version
	for m := range recs {
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool {
		if mods[i].Path != mods[j].Path {
			return mods[i].Path < mods[j].Path
		}
		return mods[i].Version < mods[j].Version
	})
	for i := 0; i < pad; i++ {
		m := module.Version{Path: "example.com/filler", Version: fmt.Sprintf("v0.0.%d", i)}
		recs[m] = []byte(fmt.Sprintf("%s %s/go.mod h1:%s\n", m.Path, m.Version, base64.StdEncoding.EncodeToString(make([]byte, 32))))
		mods = append(mods, m)
	}
	d := &db{index: map[module.Version]int64{}}
	for i, m := range mods {
		hs, err := tlog.StoredHashes(int64(i), recs[m], d.hashes)
		if err != nil {
			return nil, err
		}
		d.hashes = append(d.hashes, hs...)
		d.records = append(d.records, recs[m])
		d.index[m] = int64(i)
	}
	th, err := tlog.TreeHash(int64(len(mods)), d.hashes)
	if err != nil {
		return nil, err
	}
	d.signed, err = note.Sign(&note.Note{Text: string(tlog.FormatTree(tlog.Tree{N: int64(len(mods)), Hash: th}))}, signer)
	return d, err
}

func dump(d *db, out string) error {
	write := func(rel string, data []byte) error {
		p := filepath.Join(out, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, data, 0o644)
	}
	if err := write("supported", nil); err != nil {
		return err
	}
	for m, id := range d.index {
		ep, _ := module.EscapePath(m.Path)
		ev, _ := module.EscapeVersion(m.Version)
		msg, err := tlog.FormatRecord(id, d.records[id])
		if err != nil {
			return err
		}
		if err := write("lookup/"+ep+"@"+ev, append(msg, d.signed...)); err != nil {
			return err
		}
	}
	n := int64(len(d.records))
	for _, t := range tlog.NewTiles(8, 0, n) {
		if t.W != 1<<8 && t.W != int((n>>(8*uint(t.L)))-(t.N<<8)) {
			continue // only the widest partial tile, as a cache filled at this size has
		}
		data, err := tlog.ReadTileData(t, d.hashes)
		if err != nil {
			return err
		}
		if err := write(t.Path(), data); err != nil {
			return err
		}
	}
	return nil
}

// vectors prints tree hashes and proofs over records "record N\n" for the Rust tests.
func vectors(w io.Writer) error {
	var hs hashes
	var recs [][]byte
	sizes := map[int64]bool{}
	for i := int64(1); i <= 70; i++ {
		sizes[i] = true
	}
	for _, s := range []int64{127, 128, 129, 255, 256, 257, 511, 512, 513, 1000, 65535, 65536, 65537, 70000} {
		sizes[s] = true
	}
	for i := int64(0); i < 70000; i++ {
		r := []byte(fmt.Sprintf("record %d\n", i))
		h, err := tlog.StoredHashes(i, r, hs)
		if err != nil {
			return err
		}
		hs = append(hs, h...)
		recs = append(recs, r)
		t := i + 1
		if !sizes[t] {
			continue
		}
		th, err := tlog.TreeHash(t, hs)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "tree %d %s\n", t, th)
		for _, n := range []int64{0, t / 3, t / 2, t - 1} {
			p, err := tlog.ProveRecord(t, n, hs)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "record %d %d%s\n", t, n, join(p))
		}
		for _, o := range []int64{1, t / 2, t - 1, t} {
			if o < 1 {
				continue
			}
			p, err := tlog.ProveTree(t, o, hs)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "treeproof %d %d%s\n", t, o, join(p))
		}
	}
	for _, t := range tlog.NewTiles(8, 69000, 70000) {
		if t.W%50 != 0 && t.W != 256 {
			continue
		}
		data, err := tlog.ReadTileData(t, hs)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(w, "tile %s %s\n", t.Path(), base64.StdEncoding.EncodeToString(sum[:]))
	}
	return nil
}

func join(p []tlog.Hash) string {
	s := ""
	for _, h := range p {
		s += " " + h.String()
	}
	return s
}

func main() {
	corpus := flag.String("corpus", "", "GOPROXY tree whose modules become records")
	name := flag.String("name", "sumdb.test", "database name")
	seed := flag.String("seed", "modcachefs", "seed of the signing key")
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	pad := flag.Int("pad", 0, "filler records appended after the corpus's")
	wrong := flag.String("wrong", "", "PATH@VERSION whose record gets a wrong zip hash")
	out := flag.String("dump", "", "write the database's files here instead of serving")
	vec := flag.Bool("vectors", false, "print tlog test vectors and exit")
	flag.Parse()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "sumdb-test-server:", err)
		os.Exit(1)
	}
	if *vec {
		w := bufio.NewWriter(os.Stdout)
		if err := vectors(w); err != nil {
			fail(err)
		}
		w.Flush()
		return
	}
	skey, vkey, err := note.GenerateKey(&seeded{seed: *seed}, *name)
	if err != nil {
		fail(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		fail(err)
	}
	recs, err := corpusRecords(*corpus, *wrong)
	if err != nil {
		fail(err)
	}
	d, err := build(recs, *pad, signer)
	if err != nil {
		fail(err)
	}
	if *out != "" {
		if err := dump(d, *out); err != nil {
			fail(err)
		}
		fmt.Printf("key %s\n", vkey)
		return
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fail(err)
	}
	fmt.Printf("key %s\nurl http://%s\n", vkey, l.Addr())
	os.Stdout.Sync()
	fail(http.Serve(l, sumdb.NewServer(d)))
}
