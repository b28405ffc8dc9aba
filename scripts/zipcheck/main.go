// zipcheck checks every module zip of a GOPROXY=file:// tree with golang.org/x/mod/zip.CheckZip
// (no invalid and no omitted files) and prints "<module> <version> <h1:hash>" lines as go.sum
// would have them (golang.org/x/mod/sumdb/dirhash.HashZip): an independent check of
// scripts/make-corpus. It builds in GOPATH mode against Debian's golang-golang-x-mod-dev:
//
//	cd scripts/zipcheck && GO111MODULE=off GOPATH=/usr/share/gocode go build -o /tmp/zipcheck .
//	/tmp/zipcheck corpus/small/proxy
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/zip"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: zipcheck PROXYDIR")
		os.Exit(2)
	}
	root := os.Args[1]
	bad, n := 0, 0
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || !strings.HasSuffix(p, ".zip") {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.ToSlash(p))
		i := strings.Index(rel, "/@v/")
		mp, err1 := module.UnescapePath(rel[:i])
		v, err2 := module.UnescapeVersion(strings.TrimSuffix(rel[i+4:], ".zip"))
		if err1 != nil || err2 != nil {
			bad++
			fmt.Fprintf(os.Stderr, "BAD %s: %v %v\n", rel, err1, err2)
			return nil
		}
		m := module.Version{Path: mp, Version: v}
		n++
		cf, err := zip.CheckZip(m, p)
		if err == nil {
			err = cf.Err()
		}
		if err != nil || len(cf.Omitted) > 0 {
			bad++
			fmt.Fprintf(os.Stderr, "BAD %s: %v omitted=%v\n", m, err, cf.Omitted)
			return nil
		}
		h, err := dirhash.HashZip(p, dirhash.DefaultHash)
		if err != nil {
			bad++
			fmt.Fprintf(os.Stderr, "BAD %s: %v\n", m, err)
			return nil
		}
		fmt.Printf("%s %s %s\n", mp, v, h)
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "zipcheck: %d zips, %d bad\n", n, bad)
	if bad > 0 {
		os.Exit(1)
	}
}
