package harness

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one line of the Prometheus text format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Metrics is a scrape of a metrics endpoint.
type Metrics []Sample

// Sum adds the samples of metric name whose labels include match.
func (m Metrics) Sum(name string, match map[string]string) float64 {
	var total float64
	for _, s := range m {
		if s.Name == name && matches(s.Labels, match) {
			total += s.Value
		}
	}
	return total
}

// SumBy adds the samples of metric name whose labels include match,
// grouped by the value of label.
func (m Metrics) SumBy(name, label string, match map[string]string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m {
		if s.Name == name && matches(s.Labels, match) {
			out[s.Labels[label]] += s.Value
		}
	}
	return out
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// maxScrape caps the body of a scrape; the manager's is a few hundred kB.
const maxScrape = 32 << 20

// Scrape reads a Prometheus text-format endpoint over plain HTTP.
func Scrape(ctx context.Context, url string) (Metrics, error) {
	return ScrapeWith(ctx, http.DefaultClient, url)
}

// ScrapeWith is Scrape with a given client, for endpoints that need TLS
// or credentials (the kube-apiserver's /metrics).
func ScrapeWith(ctx context.Context, c *http.Client, url string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: HTTP %d", url, resp.StatusCode)
	}
	return ParseMetrics(io.LimitReader(resp.Body, maxScrape))
}

// ParseMetrics parses the Prometheus text exposition format (0.0.4) with
// expfmt's TextParser. Comments, blank lines and timestamps are skipped;
// a histogram comes out as its _bucket samples (with an "le" label), _sum
// and _count, a summary as its quantile samples (with a "quantile" label),
// _sum and _count; "le" and "quantile" are spelled as Prometheus spells
// them ("0.5", "1", "+Inf"). Samples are ordered by metric family name,
// then as in the input. Names are checked as UTF-8
// (model.UTF8Validation), which accepts every classic name too.
func ParseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	// The parser wants every line ended; the last one may not be.
	fams, err := p.TextToMetricFamilies(io.MultiReader(r, strings.NewReader("\n")))
	if err != nil {
		return nil, err
	}
	sorted := make([]*dto.MetricFamily, 0, len(fams))
	for _, name := range slices.Sorted(maps.Keys(fams)) {
		sorted = append(sorted, fams[name])
	}
	vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, sorted...)
	if err != nil {
		return nil, err
	}
	if len(vec) == 0 {
		return nil, nil
	}
	out := make(Metrics, 0, len(vec))
	for _, smp := range vec {
		s := Sample{
			Name:   string(smp.Metric[model.MetricNameLabel]),
			Labels: make(map[string]string, len(smp.Metric)-1),
			Value:  float64(smp.Value),
		}
		for k, v := range smp.Metric {
			if k != model.MetricNameLabel {
				s.Labels[string(k)] = string(v)
			}
		}
		out = append(out, s)
	}
	return out, nil
}
