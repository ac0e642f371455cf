// Package scrape reads Prometheus collectors as /metrics shows them, for
// tests that check metric names and labels.
package scrape

import (
	"net/http/httptest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Text registers cs on a fresh registry (which refuses inconsistent or
// duplicate descriptions) and returns its /metrics text exposition.
func Text(cs ...prometheus.Collector) (string, error) {
	reg := prometheus.NewRegistry()
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return "", err
		}
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).
		ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String(), nil
}
