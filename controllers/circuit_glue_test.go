package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/circuit"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

func TestServerOutcome(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		trouble bool
		made    bool
	}{
		{"a good answer", nil, false, true},
		{"400 is about the request", err400, false, true},
		{"401 is about the credentials", err401, false, true},
		{"404 is about the request", err404, false, true},
		{"429 is trouble", err429, true, true},
		{"500 is trouble", err500, true, true},
		{"503 is trouble", err503, true, true},
		{"no answer is trouble", errTimeout, true, true},
		{"a connection never opened is no request", errRefusedConn, false, false},
		{"504 from a proxy is trouble", err504, true, true},
		{"a link on another origin is no request", &restapi.OriginError{Want: "http://db", Got: "http://elsewhere"}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, made := serverOutcome(tc.err)
			if out.Trouble != tc.trouble || made != tc.made {
				t.Errorf("serverOutcome(%v) = trouble %t, made %t; want %t, %t", tc.err, out.Trouble, made, tc.trouble, tc.made)
			}
		})
	}
}

func TestCircuitStatusRoundTrip(t *testing.T) {
	g := NewWithT(t)
	g.Expect(circuitStatus(circuit.Snapshot{State: circuit.Closed})).To(BeNil())
	opened := time.Date(2026, 7, 1, 10, 0, 0, 400e6, time.UTC)
	snap := circuit.Snapshot{State: circuit.Open, OpenedAt: opened, NextProbeAt: opened.Add(2500 * time.Millisecond),
		Probes: 2, Reason: dbrestv1.ReasonServiceUnavailable, Message: "HTTP 503"}
	st := circuitStatus(snap)
	g.Expect(st.NextProbeAt.Time).To(Equal(time.Date(2026, 7, 1, 10, 0, 3, 0, time.UTC)), "rounded up: never probe early")
	back := snapshotOf(st)
	g.Expect(back.State).To(Equal(circuit.Open))
	g.Expect(back.Probes).To(Equal(2))
	g.Expect(back.NextProbeAt).NotTo(BeTemporally("<", snap.NextProbeAt))
}

func TestWaitOutcome(t *testing.T) {
	g := NewWithT(t)
	open := &circuit.Refusal{Reason: circuit.RefusedOpen, Wait: 3 * time.Second, Circuit: circuit.Snapshot{State: circuit.Open,
		OpenedAt: t0, NextProbeAt: t0.Add(time.Second), Reason: dbrestv1.ReasonServiceUnavailable, Message: "HTTP 503"}}
	out := waitOutcome("db", open, dbrestv1.ReasonDeployed)
	g.Expect(out.reason).To(Equal(dbrestv1.ReasonCircuitOpen))
	g.Expect(out.message).To(ContainSubstring(`DatabaseAPI "db" is in trouble (ServiceUnavailable: HTTP 503)`))
	g.Expect(out.requeue).To(Equal(3 * time.Second))
	g.Expect(waitOutcome("db", open, dbrestv1.ReasonCircuitOpen).hold).To(BeTrue(), "written once, not on every retry")
	busy := &circuit.Refusal{Reason: circuit.RefusedRateLimit, Wait: 40 * time.Millisecond}
	g.Expect(waitOutcome("db", busy, dbrestv1.ReasonDeployed)).To(Equal(outcome{hold: true, requeue: 40 * time.Millisecond, behind: true}),
		"a short wait changes nothing, not even observedGeneration")
}

func TestLimitsOf(t *testing.T) {
	g := NewWithT(t)
	api := &dbrestv1.DatabaseAPI{}
	g.Expect(limitsOf(api)).To(Equal(circuit.Limits{MaxInFlight: restapi.DefaultMaxConcurrentRequests, PerSecond: 100, Burst: 200}))
	api.Spec.MaxConcurrentRequests, api.Spec.MaxRequestsPerSecond = 4, 10
	g.Expect(limitsOf(api)).To(Equal(circuit.Limits{MaxInFlight: 4, PerSecond: 10, Burst: 20}))
}
