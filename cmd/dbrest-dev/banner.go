package main

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
)

// samplesSimAddr is where config/samples expect the simulator.
const samplesSimAddr = "127.0.0.1:8765"

// banner is what a newcomer needs to start using the playground.
type banner struct {
	apiServer   string
	simURL      string
	simAddr     string
	kubeconfig  string
	metricsAddr string
}

// print writes the next commands to type, with addresses as bound. The
// kubeconfig path is absolute so that the export works from any directory.
func (b banner) print(w io.Writer) {
	kubeconfig, err := filepath.Abs(b.kubeconfig)
	if err != nil {
		kubeconfig = b.kubeconfig
	}
	fmt.Fprintf(w, "\ndbrest-operator dev environment is up.\n")
	fmt.Fprintf(w, "  API server:  %s   simulator: %s\n", b.apiServer, b.simURL)
	// With port 0 the manager picks a port it does not report.
	if _, port, err := net.SplitHostPort(b.metricsAddr); err == nil && port != "0" {
		fmt.Fprintf(w, "  metrics:     http://%s/metrics\n", b.metricsAddr)
	}
	if b.simAddr != samplesSimAddr {
		fmt.Fprintf(w, "  note: config/samples point at %s; change spec.url of their DatabaseAPIs to %s\n", samplesSimAddr, b.simURL)
	}
	fmt.Fprintf(w, "In another terminal:\n")
	fmt.Fprintf(w, "  export KUBECONFIG=%s\n", kubeconfig)
	fmt.Fprintf(w, "  kubectl apply -f config/samples/\n")
	fmt.Fprintf(w, "  kubectl get dbdeploy -w\n")
	fmt.Fprintf(w, "  kubectl wait --for=condition=Ready dbdeploy --all --timeout=60s   "+
		"(broken-billing and inventory-unauthorized will not become Ready: see their comments)\n")
	fmt.Fprintf(w, "  curl -s http://%s/_sim/stats\n", b.simAddr)
	fmt.Fprintf(w, "Press Ctrl-C to stop everything.\n\n")
}
