package main

import (
	"fmt"
	"math"
)

// writeCounts is a number of the manager's kube-apiserver writes per
// Deployment, by kind.
type writeCounts struct {
	// Object counts writes of the Deployment itself (its finalizer).
	Object float64 `json:"object"`
	// Status counts writes of its status subresource.
	Status float64 `json:"status"`
	// Event counts Event writes: creates, and updates of a series.
	Event float64 `json:"event"`
	// Total is the sum of the three.
	Total float64 `json:"total"`
}

// writeMaxima is the most writes per Deployment the manager may send in
// each phase of a fault-free run, by kind. They are the counts the
// current controller makes (docs/performance.md): the finalizer's
// addition and removal, the status patches (the intent before each call,
// the job, the result) and one Event per operation. TestSmoke fails when
// a phase writes more. Lower them as the controller writes less.
var writeMaxima = map[string]writeCounts{
	"create":   {Object: 1, Status: 3, Event: 1, Total: 5},
	"redeploy": {Object: 0, Status: 3, Event: 1, Total: 4},
	"delete":   {Object: 1, Status: 2, Event: 1, Total: 4},
}

// The apiserver_request_total keys of each kind of write. The manager
// writes Deployments by PATCH; PUT is counted too, so that a move to
// updates is still seen (and replayed as a patch).
var (
	objectKeys      = []string{"PATCH deployments", "PUT deployments"}
	statusKeys      = []string{"PATCH deployments/status", "PUT deployments/status"}
	eventCreateKeys = []string{"POST events"}
	eventUpdateKeys = []string{"PATCH events", "PUT events"}
)

// Keys of apiserver_request_body_size_bytes (verb in lower case, no
// subresource): a Deployment's patches, object and status together, and
// Event creates.
const (
	bodyDeploymentPatch = "patch deployments"
	bodyEventCreate     = "create events"
)

// writeMix is what the manager wrote in one phase, as totals over the N
// Deployments, with the body sizes the ceiling copies.
type writeMix struct {
	objectPatches, statusPatches, eventCreates, eventPatches int
	// statusBytes and eventBytes are the mean bodies of the manager's
	// status patches and Event creates; 0 when there were none.
	statusBytes, eventBytes int
}

// mixOf derives a phase's mix from its kube-apiserver counters, the
// bench's own writes already taken out. objectPatchBytes is the size of
// the manager's object patch in that phase (the finalizer's), known
// because the ceiling computes it the same way; it is subtracted from the
// patch bodies of the Deployment to leave the status patches'.
func mixOf(server, bodyBytes map[string]float64, objectPatchBytes int) writeMix {
	m := writeMix{
		objectPatches: whole(sumKeys(server, objectKeys)),
		statusPatches: whole(sumKeys(server, statusKeys)),
		eventCreates:  whole(sumKeys(server, eventCreateKeys)),
		eventPatches:  whole(sumKeys(server, eventUpdateKeys)),
	}
	if m.statusPatches > 0 {
		statusBytes := bodyBytes[bodyDeploymentPatch] - float64(m.objectPatches*objectPatchBytes)
		m.statusBytes = max(whole(statusBytes/float64(m.statusPatches)), 0)
	}
	if m.eventCreates > 0 {
		m.eventBytes = whole(bodyBytes[bodyEventCreate] / float64(m.eventCreates))
	}
	return m
}

// perDeployment is the mix's writes per Deployment, by kind.
func (m writeMix) perDeployment(n int) writeCounts {
	w := writeCounts{
		Object: float64(m.objectPatches) / float64(n),
		Status: float64(m.statusPatches) / float64(n),
		Event:  float64(m.eventCreates+m.eventPatches) / float64(n),
	}
	w.Total = w.Object + w.Status + w.Event
	return w
}

// total is every write of the mix.
func (m writeMix) total() int {
	return m.objectPatches + m.statusPatches + m.eventCreates + m.eventPatches
}

// over lists the kinds of w above limit, for a test's message.
func (w writeCounts) over(limit writeCounts) []string {
	var out []string
	for _, k := range []struct {
		name       string
		got, limit float64
	}{{"object", w.Object, limit.Object}, {"status", w.Status, limit.Status}, {"event", w.Event, limit.Event}, {"total", w.Total, limit.Total}} {
		if k.got > k.limit {
			out = append(out, fmt.Sprintf("%s %.2f > %.0f", k.name, k.got, k.limit))
		}
	}
	return out
}

// share spreads total writes over n objects: object i gets total/n, and
// the first total%n get one more, so the sum is exactly total.
func share(total, n, i int) int {
	s := total / n
	if i < total%n {
		s++
	}
	return s
}

func whole(v float64) int { return int(math.Round(v)) }

func sumKeys(m map[string]float64, keys []string) float64 {
	var total float64
	for _, k := range keys {
		total += m[k]
	}
	return total
}
