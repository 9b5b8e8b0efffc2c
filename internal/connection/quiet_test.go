package connection

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"
)

func TestWithoutBodiesCapsTheVerbosity(t *testing.T) {
	var lines []string
	verbose := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{Verbosity: 10})
	ctx := withoutBodies(logr.NewContext(context.Background(), verbose))

	l := klog.FromContext(ctx).WithValues("k", "v").WithName("client")
	if l.V(bodyVerbosity).Enabled() || l.V(10).Enabled() {
		t.Fatal("verbosity 8 and above must be off")
	}
	if !l.V(bodyVerbosity - 1).Enabled() {
		t.Fatal("verbosity 7 must stay as the logger had it")
	}
	l.V(bodyVerbosity).Info("Response Body", "body", "secret-data")
	l.V(6).Info("GET", "status", "200 OK")
	l.Error(nil, "failed")
	out := strings.Join(lines, "\n")
	if strings.Contains(out, "secret-data") {
		t.Fatalf("a body was logged: %s", out)
	}
	if !strings.Contains(out, "200 OK") || !strings.Contains(out, "failed") || !strings.Contains(out, `"k"="v"`) {
		t.Fatalf("the lower verbosities, errors and values must stay: %s", out)
	}
}
