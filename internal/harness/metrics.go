package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
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

// ParseMetrics parses the Prometheus text exposition format. Comments,
// blank lines and timestamps are skipped; histograms and summaries come
// out as their _bucket, _sum and _count samples.
func ParseMetrics(r io.Reader) (Metrics, error) {
	var out Metrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		s, err := parseSample(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseSample(text string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(text, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no value in %q", text)
	}
	s.Name, text = text[:i], text[i:]
	if text[0] == '{' {
		rest, err := parseLabels(text[1:], s.Labels)
		if err != nil {
			return s, err
		}
		text = rest
	}
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value for %s", s.Name)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("value of %s: %w", s.Name, err)
	}
	s.Value = v
	return s, nil
}

// parseLabels reads `k="v",k2="v2"}` into labels and returns what follows.
func parseLabels(text string, labels map[string]string) (string, error) {
	for {
		text = strings.TrimLeft(text, " ,")
		if text == "" {
			return "", fmt.Errorf("unterminated labels")
		}
		if text[0] == '}' {
			return text[1:], nil
		}
		eq := strings.IndexByte(text, '=')
		if eq <= 0 || len(text) < eq+2 || text[eq+1] != '"' {
			return "", fmt.Errorf("bad label in %q", text)
		}
		key := strings.TrimSpace(text[:eq])
		var val strings.Builder
		j := eq + 2
		for ; j < len(text) && text[j] != '"'; j++ {
			if text[j] == '\\' && j+1 < len(text) {
				j++
				switch text[j] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(text[j])
				}
				continue
			}
			val.WriteByte(text[j])
		}
		if j >= len(text) {
			return "", fmt.Errorf("unterminated value of label %s", key)
		}
		labels[key] = val.String()
		text = text[j+1:]
	}
}
