package report

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"example.com/modcachefs-testapp/internal/inventory"
)

var entries = []inventory.Entry{
	{Path: "golang.org/x/text", Version: "v0.7.0", Size: 9000},
	{Path: "gopkg.in/yaml.v3", Version: "v3.0.1", Size: 100},
	{Path: "github.com/cespare/xxhash/v2", Version: "v2.1.1", Size: 5000},
}

func TestMetricsRoundTrip(t *testing.T) {
	text, err := Metrics(entries)
	require.NoError(t, err)
	assert.Contains(t, text, "# TYPE modinv_modules gauge")
	families, err := ParseMetrics(text)
	require.NoError(t, err)
	assert.Equal(t, 1.0, Count(families, "modinv_modules", "v0"))
	assert.Equal(t, 2.0, Count(families, "modinv_modules", "v2")+Count(families, "modinv_modules", "v3"))
	for _, mf := range families {
		if mf.GetName() == "modinv_module_size_bytes" {
			assert.Equal(t, uint64(3), mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
}

func TestHTMLLinks(t *testing.T) {
	page, err := HTML(entries)
	require.NoError(t, err)
	links, err := Links(page)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"https://pkg.go.dev/golang.org/x/text@v0.7.0",
		"https://pkg.go.dev/gopkg.in/yaml.v3@v3.0.1",
		"https://pkg.go.dev/github.com/cespare/xxhash/v2@v2.1.1",
	}, links)
}
