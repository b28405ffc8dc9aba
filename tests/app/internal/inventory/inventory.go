// Package inventory loads, validates and fingerprints lists of Go module versions.
// It exists to exercise real third-party modules from the test corpus.
package inventory

import (
	"context"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/cespare/xxhash/v2"
	"github.com/google/uuid"
	"github.com/mitchellh/mapstructure"
	"github.com/pkg/errors"
	"github.com/spf13/afero"
	"github.com/spf13/cast"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/sync/errgroup"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
	"gopkg.in/ini.v1"
	yamlv2 "gopkg.in/yaml.v2"
	"gopkg.in/yaml.v3"
)

// Entry is one module version of an inventory.
type Entry struct {
	Path    string   `mapstructure:"path"`
	Version string   `mapstructure:"version"`
	Size    int64    `mapstructure:"size"`
	Tags    []string `mapstructure:"tags"`
}

// String gives the usual path@version form.
func (e Entry) String() string { return e.Path + "@" + e.Version }

// Namespace is the UUID namespace of module IDs.
var Namespace = uuid.MustParse("6ba7b811-9dad-11d1-80b4-00c04fd430c8") // the RFC 4122 URL namespace

// Load reads an inventory file; the format follows the extension:
// .yaml/.yml (YAML 1.2, gopkg.in/yaml.v3), .yaml2 (gopkg.in/yaml.v2), .toml, .ini.
func Load(fs afero.Fs, name string) ([]Entry, error) {
	ext := path.Ext(name)
	switch ext {
	case ".yaml", ".yml", ".yaml2", ".toml", ".ini":
	default:
		return nil, errors.Errorf("%s: unknown inventory format %q", name, ext)
	}
	data, err := afero.ReadFile(fs, name)
	if err != nil {
		return nil, errors.Wrap(err, "load inventory")
	}
	var raw []map[string]interface{}
	switch ext {
	case ".yaml", ".yml":
		var doc struct {
			Modules []map[string]interface{} `yaml:"modules"`
		}
		err = yaml.Unmarshal(data, &doc)
		raw = doc.Modules
	case ".yaml2":
		var doc struct {
			Modules []map[string]interface{} `yaml:"modules"`
		}
		err = yamlv2.Unmarshal(data, &doc)
		raw = doc.Modules
	case ".toml":
		var doc struct {
			Modules []map[string]interface{} `toml:"modules"`
		}
		_, err = toml.Decode(string(data), &doc)
		raw = doc.Modules
	case ".ini":
		var f *ini.File
		if f, err = ini.Load(data); err == nil {
			for _, s := range f.Sections() {
				if s.Name() == ini.DefaultSection {
					continue
				}
				m := map[string]interface{}{"path": s.Name()}
				for _, k := range s.Keys() {
					m[k.Name()] = k.Value()
				}
				if t := s.Key("tags").Strings(","); len(t) > 0 {
					m["tags"] = t
				}
				raw = append(raw, m)
			}
		}
	}
	if err != nil {
		return nil, errors.Wrapf(err, "parse %s", name)
	}
	entries := make([]Entry, 0, len(raw))
	for i, m := range raw {
		var e Entry
		// Sizes may be written as strings ("1024") in INI files: cast them first.
		if s, ok := m["size"]; ok {
			m["size"] = cast.ToInt64(s)
		}
		if err := mapstructure.Decode(m, &e); err != nil {
			return nil, errors.Wrapf(err, "%s: entry %d", name, i)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// Validate checks the module path and version with golang.org/x/mod.
func Validate(e Entry) error {
	if err := module.Check(e.Path, e.Version); err != nil {
		return errors.WithStack(err)
	}
	if semver.Canonical(e.Version) != e.Version && semver.Build(e.Version) != "+incompatible" {
		return errors.Errorf("%s: version %q is not canonical", e.Path, e.Version)
	}
	return nil
}

// Sort orders entries by path, then by semantic version.
func Sort(entries []Entry) {
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].Path != entries[j].Path {
			return entries[i].Path < entries[j].Path
		}
		return semver.Compare(entries[i].Version, entries[j].Version) < 0
	})
}

// CacheDir is where an entry is extracted in a GOMODCACHE.
func CacheDir(e Entry) (string, error) {
	p, err := module.EscapePath(e.Path)
	if err != nil {
		return "", err
	}
	v, err := module.EscapeVersion(e.Version)
	if err != nil {
		return "", err
	}
	return p + "@" + v, nil
}

// ID is a stable name-based (SHA-1) UUID of path@version.
func ID(e Entry) uuid.UUID { return uuid.NewSHA1(Namespace, []byte(e.String())) }

// Digest is the BLAKE2b-256 of path@version, hex encoded.
func Digest(e Entry) string {
	sum := blake2b.Sum256([]byte(e.String()))
	return hex.EncodeToString(sum[:])
}

// Fingerprint combines the xxhash of every entry, independent of order.
func Fingerprint(entries []Entry) uint64 {
	var x uint64
	for _, e := range entries {
		x ^= xxhash.Sum64String(e.String())
	}
	return x
}

// NormalizeTag folds case and normalizes to NFC so that "Straße" and "STRASSE" match.
func NormalizeTag(tag string) string {
	return norm.NFC.String(cases.Fold().String(strings.TrimSpace(tag)))
}

// Title is a display form of a tag.
func Title(tag string) string { return cases.Title(language.English).String(tag) }

// CheckAll validates entries concurrently and returns the first error.
func CheckAll(ctx context.Context, entries []Entry) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, e := range entries {
		e := e
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := Validate(e); err != nil {
				return fmt.Errorf("%s: %w", e, err)
			}
			return nil
		})
	}
	return g.Wait()
}
