// Package report turns an inventory into Prometheus metrics and an HTML page.
package report

import (
	"bytes"
	"html/template"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/mod/semver"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"example.com/modcachefs-testapp/internal/inventory"
)

// Metrics renders per-major-version gauges and a size histogram in the Prometheus text format.
func Metrics(entries []inventory.Entry) (string, error) {
	reg := prometheus.NewRegistry()
	modules := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "modinv_modules", Help: "Module versions by major version.",
	}, []string{"major"})
	sizes := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "modinv_module_size_bytes", Help: "Module zip sizes.",
		Buckets: prometheus.ExponentialBuckets(1024, 4, 6),
	})
	reg.MustRegister(modules, sizes)
	for _, e := range entries {
		modules.WithLabelValues(semver.Major(e.Version)).Inc()
		sizes.Observe(float64(e.Size))
	}
	families, err := reg.Gather()
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.FmtText)
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			return "", err
		}
	}
	return buf.String(), nil
}

// Count reads back a gauge value from a gathered family, for tests and the CLI.
func Count(families []*dto.MetricFamily, name, major string) float64 {
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "major" && l.GetValue() == major {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// ParseMetrics parses the text format back into metric families.
func ParseMetrics(text string) ([]*dto.MetricFamily, error) {
	var p expfmt.TextParser
	m, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*dto.MetricFamily, 0, len(m))
	for _, n := range names {
		out = append(out, m[n])
	}
	return out, nil
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html><head><title>Module inventory</title></head><body>
<ul>{{range .}}<li><a href="https://pkg.go.dev/{{.Path}}@{{.Version}}">{{.Path}}</a> {{.Version}}</li>{{end}}</ul>
</body></html>`))

// HTML renders the inventory as a page of links.
func HTML(entries []inventory.Entry) (string, error) {
	var buf bytes.Buffer
	err := page.Execute(&buf, entries)
	return buf.String(), err
}

// Links extracts the href of every <a> element with golang.org/x/net/html.
func Links(doc string) ([]string, error) {
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		return nil, err
	}
	var links []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.DataAtom == atom.A {
			for _, a := range n.Attr {
				if a.Key == "href" {
					links = append(links, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return links, nil
}
