// Package simulator serves a simulated database REST API, the contract in
// PROTOCOL.md, so the operator and its HTTP client can be tested against
// every variation a real server may show: absolute, relative or body-only
// job links; Retry-After as seconds, as a date or absent; synchronous 200
// or 201 deploys; DELETE answering 200, 202 or 204; 202 despite
// __detached=false; a redeploy shown as STATE_NEW with the new fields or,
// swapped in place, as STATE_ACTIVE with the old ones until its job ends;
// a slow server behind a proxy whose 504 loses the answer of a call that
// still happens; and injected faults (latency, 500/503/429 with or
// without Retry-After, HTML error pages, dropped connections, downtime).
//
// It knows nothing of Kubernetes. Use it in tests as
//
//	sim := simulator.New(simulator.Options{JobDuration: 50 * time.Millisecond})
//	defer sim.Close()
//	srv := httptest.NewServer(sim.Handler()) // or httptest.NewTLSServer
//	defer srv.Close()
//	base := srv.URL + sim.BasePath()
//
// or run it as the dbrest-sim binary.
//
// # API
//
// Under Options.BasePath (default /management/wls/latest/):
//
//	GET    deployments/application                      list applications
//	GET    deployments/application/id/{name}            read one application
//	POST   deployments/application[?__detached=true]    deploy
//	POST   deployments/application/id/{name}/redeploy   redeploy
//	DELETE deployments/application/id/{name}            undeploy
//	GET    jobs/deployment                              list jobs
//	GET    jobs/deployment/id/{id}                      read one job
//
// Each API request goes through, in order: injected faults (latency, then
// downtime 503, then injected error, then connection reset), authentication
// (401 with WWW-Authenticate; 403 for a read-only user writing), unknown
// path (404) or method (405 with Allow), Accept without application/json
// (406), a body that is not application/json (415), a POST, PUT or DELETE
// without X-Requested-By (400), and then the operation itself. Paths outside
// BasePath answer 404 without any of these checks: that is a wrong base URL.
//
// Jobs run for Options.JobDuration and are kept for Options.JobTTL after
// they finish; then their URL answers 404. Jobs advance lazily on each
// access, against Options.Clock, so tests can drive time without sleeping.
// With Options.RedeployInPlace a redeploy job applies its fields only when
// it completes.
//
// With Options.MutationDelay, a deploy, redeploy or undeploy is processed
// that long after it reached the operation (on the wall clock), in a
// goroutine that goes on when the client leaves. With Options.ProxyTimeout,
// one not processed by then is answered 504 with nginx's HTML page, and
// still processed later. Close processes the ones still waiting at once.
//
// Stats counts what a test of the operator checks: duplicate deploys, the
// most mutating calls in flight per application and the calls that
// overlapped another one or a job (the operator allows at most one), polls
// per job, injected faults, resets and proxy 504s.
//
// # Admin endpoints
//
// Under /_sim/, never faulted and without authentication:
//
//	GET    /_sim/stats          Stats as JSON
//	POST   /_sim/reset-stats    zero the counters (204)
//	GET    /_sim/faults         the faults in force
//	PUT    /_sim/faults         replace the faults: a JSON Faults, with
//	                            latency as a Go duration ("150ms"),
//	                            downUntil as RFC 3339, and the extra
//	                            "downFor" (Go duration) for a downtime
//	                            window starting now; absent fields are zero
//	GET    /_sim/apps/{name}    the stored application
//	PATCH  /_sim/apps/{name}    merge JSON fields into it (drift)
//	DELETE /_sim/apps/{name}    delete it out of band (drift; 204)
//
// For example:
//
//	curl -X PUT -d '{"errorCode":503,"errorEveryN":2,"errorRetryAfter":true}' http://127.0.0.1:8765/_sim/faults
package simulator
