package chart

import (
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
)

// overrides are values files that each turn on or change a part of the
// chart; every test that checks all of the chart runs them all.
var overrides = map[string]string{
	"defaults": ``,
	"everything": `
image: {repository: registry.example.com/dbrest/dbrest-operator, tag: v9.8.7, pullPolicy: Always}
imagePullSecrets: [{name: registry}]
replicaCount: 3
shardSelector: "dbrest.io/shard in (a,b)"
extraArgs: ["--max-concurrent-reconciles=64", "--resync-interval=30m"]
resources: {requests: {cpu: 200m, memory: 256Mi}, limits: {memory: 1Gi}}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: operators, effect: NoSchedule}]
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector: {matchLabels: {control-plane: controller-manager}}
priorityClassName: system-cluster-critical
podAnnotations: {example.com/team: platform}
podLabels: {example.com/tier: control}
podSecurityContext: {runAsNonRoot: true, runAsUser: 65532, fsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
serviceAccount: {annotations: {example.com/role: dbrest}}
serviceMonitor: {enabled: true, labels: {release: kube-prometheus-stack}, interval: 30s, scrapeTimeout: 10s}
prometheusRule: {enabled: true, labels: {release: kube-prometheus-stack}}
grafanaDashboard: {enabled: true}
`,
	"digest": `
image: {repository: ghcr.io/dbrest-io/dbrest-operator, digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
`,
	"namespaced": `
watchNamespaces: [team-a, team-b]
`,
	"tenant": `
watchNamespaces: [dbrest-operator-system]
crds: {install: false}
metrics: {enabled: false}
`,
	"no-leader-election": `
leaderElection: {enabled: false}
crds: {keep: false}
`,
}

// TestLint runs helm lint (its Go package) with each values file: no
// error and no warning, as `helm lint --strict` requires.
func TestLint(t *testing.T) {
	for name, y := range overrides {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			l := lint.RunAll(chartDir(), values(t, y), "dbrest-operator-system", lint.WithKubeVersion(kubeVersion(t)))
			for _, m := range l.Messages {
				t.Log(m.Error())
			}
			g.Expect(l.HighestSeverity).To(BeNumerically("<", support.WarningSev), "lint messages: %v", l.Messages)
		})
	}
}
