package inventory

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/afero"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var want = []Entry{
	{Path: "github.com/BurntSushi/toml", Version: "v1.2.0", Size: 2048, Tags: []string{"config"}},
	{Path: "gopkg.in/yaml.v3", Version: "v3.0.1", Size: 1024},
}

func memFS(t *testing.T, files map[string]string) afero.Fs {
	t.Helper()
	fs := afero.NewMemMapFs()
	for name, text := range files {
		require.NoError(t, afero.WriteFile(fs, name, []byte(text), 0o644))
	}
	return fs
}

func TestLoadFormats(t *testing.T) {
	fs := memFS(t, map[string]string{
		"inv.yaml": `modules:
  - {path: github.com/BurntSushi/toml, version: v1.2.0, size: 2048, tags: [config]}
  - {path: gopkg.in/yaml.v3, version: v3.0.1, size: 1024}
`,
		"inv.yaml2": `modules:
- path: github.com/BurntSushi/toml
  version: v1.2.0
  size: 2048
  tags: [config]
- path: gopkg.in/yaml.v3
  version: v3.0.1
  size: 1024
`,
		"inv.toml": `[[modules]]
path = "github.com/BurntSushi/toml"
version = "v1.2.0"
size = 2048
tags = ["config"]

[[modules]]
path = "gopkg.in/yaml.v3"
version = "v3.0.1"
size = 1024
`,
		"inv.ini": `[github.com/BurntSushi/toml]
version = v1.2.0
size = 2048
tags = config

[gopkg.in/yaml.v3]
version = v3.0.1
size = 1024
`,
	})
	for _, name := range []string{"inv.yaml", "inv.yaml2", "inv.toml", "inv.ini"} {
		t.Run(name, func(t *testing.T) {
			got, err := Load(fs, name)
			require.NoError(t, err)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Load(%s) mismatch (-want +got):\n%s", name, diff)
			}
		})
	}
	_, err := Load(fs, "inv.json")
	assert.ErrorContains(t, err, "unknown inventory format")
	_, err = Load(fs, "missing.yaml")
	assert.Error(t, err)
}

func TestValidateAndSort(t *testing.T) {
	entries := []Entry{
		{Path: "golang.org/x/text", Version: "v0.7.0"},
		{Path: "golang.org/x/text", Version: "v0.10.0"},
		{Path: "golang.org/x/text", Version: "v0.3.8"},
		{Path: "github.com/spf13/pflag", Version: "v1.0.6-0.20210604000000-d5e0c0615ace"},
	}
	require.NoError(t, CheckAll(context.Background(), entries))
	Sort(entries)
	var versions []string
	for _, e := range entries {
		versions = append(versions, e.Version)
	}
	assert.Equal(t, []string{"v1.0.6-0.20210604000000-d5e0c0615ace", "v0.3.8", "v0.7.0", "v0.10.0"}, versions)

	assert.Error(t, Validate(Entry{Path: "github.com/cespare/xxhash", Version: "v2.1.1"}), "major version without /v2")
	assert.NoError(t, Validate(Entry{Path: "github.com/cespare/xxhash/v2", Version: "v2.1.1"}))
	assert.Error(t, Validate(Entry{Path: "example.com/m", Version: "v1.0"}), "not canonical")
	assert.Error(t, CheckAll(context.Background(), []Entry{{Path: "no-dot/m", Version: "v1.0.0"}}))
}

func TestNames(t *testing.T) {
	dir, err := CacheDir(Entry{Path: "github.com/BurntSushi/toml", Version: "v1.2.0"})
	require.NoError(t, err)
	assert.Equal(t, "github.com/!burnt!sushi/toml@v1.2.0", dir)

	e := Entry{Path: "golang.org/x/mod", Version: "v0.7.0"}
	assert.Equal(t, ID(e), ID(e), "name-based UUIDs are stable")
	assert.Equal(t, 5, int(ID(e).Version()))
	assert.NotEqual(t, ID(e), ID(Entry{Path: "golang.org/x/mod", Version: "v0.8.0"}))
	assert.Len(t, Digest(e), 64)
	assert.Equal(t, Fingerprint(want), Fingerprint([]Entry{want[1], want[0]}), "order does not matter")
}

func TestTags(t *testing.T) {
	assert.Equal(t, NormalizeTag("STRASSE"), NormalizeTag(" Straße "))
	assert.Equal(t, "\u00e9", NormalizeTag("E\u0301"), "folded, then composed (NFC)")
	assert.Equal(t, "Module Cache", Title("module cache"))
}
