package simulator

import (
	"net/http"
	"regexp"
	"testing"

	. "github.com/onsi/gomega"
)

// TestJobLinkVariations checks the 202 variations a client must cope
// with: no job link at all, a link on another origin, and a job that is
// already over when the 202 is written.
func TestJobLinkVariations(t *testing.T) {
	cases := []struct {
		name         string
		opts         Options
		wantLocation string
		wantLinks    int
		wantStatus   string
	}{
		{"a link on the request's origin", Options{}, "http://example.com/management/wls/latest/jobs/deployment/id/1", 1, JobInProgress},
		{"no job link", Options{NoJobLink: true}, "", 0, JobInProgress},
		{"a link on another origin", Options{JobLinkOrigin: "http://jobs.example:9"},
			"http://jobs.example:9/management/wls/latest/jobs/deployment/id/1", 1, JobInProgress},
		{"a job over at acceptance", Options{JobDoneAtAcceptance: true}, "http://example.com/management/wls/latest/jobs/deployment/id/1", 1, JobCompleted},
		{"a job failed at acceptance", Options{JobDoneAtAcceptance: true, FailAppPattern: regexp.MustCompile(`^orders$`)},
			"http://example.com/management/wls/latest/jobs/deployment/id/1", 1, JobFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t, tc.opts)
			rec := h.do("POST", "deployments/application?__detached=true", deployBody("orders"))
			expectCode(t, rec, http.StatusAccepted)
			g.Expect(rec.Header().Get("Location")).To(Equal(tc.wantLocation))
			env := decodeEnvelope[Job](t, rec)
			g.Expect(env.Links).To(HaveLen(tc.wantLinks))
			if tc.wantLinks > 0 {
				g.Expect(env.Links[0].URI).To(Equal(tc.wantLocation))
			}
			g.Expect(env.Item.Status).To(Equal(tc.wantStatus))
			// The job is listed and readable on the server's own origin either way.
			expectCode(t, h.getJob(env.Item.ID), http.StatusOK)
			g.Expect(h.sim.Stats().JobsLive).To(Equal(1))
		})
	}
	g := NewWithT(t)
	g.Expect(Options{JobLinkOrigin: "jobs.example:9"}.Validate()).To(HaveOccurred())
	g.Expect(Options{JobLinkOrigin: "http://jobs.example:9/x"}.Validate()).To(HaveOccurred())
}
