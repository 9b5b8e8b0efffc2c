// Package argocd ships the Argo CD health check of the dbrest-operator
// kinds (health.lua, and argocd-cm.yaml that carries it) and runs it the way
// Argo CD does, so tests can check it against real objects.
package argocd
