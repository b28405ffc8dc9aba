package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/afero"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCLI(t *testing.T) {
	fs := afero.NewMemMapFs()
	require.NoError(t, afero.WriteFile(fs, "a.yaml", []byte(
		"modules:\n  - {path: golang.org/x/sys, version: v0.3.0}\n  - {path: golang.org/x/mod, version: v0.7.0}\n"), 0o644))
	run := func(args ...string) (string, error) {
		root := newRoot(fs)
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.Execute()
		return out.String(), err
	}
	out, err := run("check", "a.yaml")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3)
	assert.True(t, strings.HasPrefix(lines[0], "golang.org/x/mod@v0.7.0 "), lines[0])
	assert.True(t, strings.HasPrefix(lines[2], "fingerprint "))

	out, err = run("metrics", "-v", "--log-format", "json", "a.yaml")
	require.NoError(t, err)
	assert.Contains(t, out, `modinv_modules{major="v0"} 2`)
	assert.Contains(t, out, `"level":"debug"`)

	_, err = run("check", "missing.yaml")
	assert.Error(t, err)
}
