package restapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkGetJob measures one job poll against an in-process server: the
// client's cost per poll (request building, body read, job decoding).
func BenchmarkGetJob(b *testing.B) {
	body := []byte(`{"item":` + jobInProgress + `,"links":[{"rel":"self","uri":"/x"}]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c := newTestClient(b, srv.URL)
	jobURL := c.JobURL("17")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		js, err := c.GetJob(ctx, jobURL)
		if err != nil || js.Job.ID != "17" {
			b.Fatalf("%+v %v", js, err)
		}
	}
}
