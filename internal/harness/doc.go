// Package harness runs the operator the way it runs in production, as a
// separate process, against a real control plane, and measures it from
// the outside: its Prometheus metrics and its CPU and memory from /proc.
// The benchmark (cmd/dbrest-bench) and process-level tests (crashes,
// restarts, faults) share it.
//
// A typical use:
//
//	cp, err := harness.StartControlPlane()
//	defer cp.Stop()
//	kubeconfig, err := cp.AdminKubeconfig("bench")
//	bin, err := harness.BuildManager(ctx, dir)
//	mgr, err := harness.StartManager(ctx, harness.ManagerSpec{Binary: bin, Kubeconfig: kubeconfig})
//	defer mgr.Stop(10 * time.Second)
//	m, err := harness.Scrape(ctx, mgr.MetricsURL)
//	u, err := harness.ReadUsage(mgr.PID())
package harness
