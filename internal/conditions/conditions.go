// Package conditions sets the kstatus trio (Ready, Reconciling, Stalled) on
// a condition list, so that every kind of this operator reports progress and
// health the same way and kstatus, kubectl wait, Flux and Argo CD read it.
package conditions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// Phase is the kstatus state an object is in after a reconcile.
type Phase int

const (
	// Progressing means work is under way or will be retried. Ready=False,
	// Reconciling=True, no Stalled.
	Progressing Phase = iota
	// Ready means the observed state matches the spec. Ready=True, no
	// Reconciling, no Stalled.
	Ready
	// Stalled means no progress without a change from the user. Ready=False,
	// Stalled=True, no Reconciling.
	Stalled
	// Paused means reconciliation is suspended by the user. Ready keeps its
	// status but carries the given reason; no Reconciling, no Stalled.
	Paused
)

// String names the phase for logs.
func (p Phase) String() string {
	switch p {
	case Ready:
		return "Ready"
	case Stalled:
		return "Stalled"
	case Paused:
		return "Paused"
	default:
		return "Progressing"
	}
}

// Apply sets the conditions for phase, with reason and message on each
// condition it sets and generation as their observedGeneration. It
// returns true when the list changed. LastTransitionTime moves only when a
// condition's status changes (meta.SetStatusCondition), so re-applying the
// same outcome writes nothing.
func Apply(list *[]metav1.Condition, generation int64, phase Phase, reason, message string) bool {
	before := len(*list)
	snapshot := append([]metav1.Condition(nil), (*list)...)
	set := func(t string, s metav1.ConditionStatus) {
		meta.SetStatusCondition(list, metav1.Condition{
			Type: t, Status: s, Reason: reason, Message: message, ObservedGeneration: generation,
		})
	}
	switch phase {
	case Ready:
		set(dbrestv1.ReadyCondition, metav1.ConditionTrue)
		meta.RemoveStatusCondition(list, dbrestv1.ReconcilingCondition)
		meta.RemoveStatusCondition(list, dbrestv1.StalledCondition)
	case Stalled:
		set(dbrestv1.ReadyCondition, metav1.ConditionFalse)
		set(dbrestv1.StalledCondition, metav1.ConditionTrue)
		meta.RemoveStatusCondition(list, dbrestv1.ReconcilingCondition)
	case Paused:
		status := metav1.ConditionFalse
		if meta.IsStatusConditionTrue(*list, dbrestv1.ReadyCondition) {
			status = metav1.ConditionTrue
		}
		set(dbrestv1.ReadyCondition, status)
		meta.RemoveStatusCondition(list, dbrestv1.ReconcilingCondition)
		meta.RemoveStatusCondition(list, dbrestv1.StalledCondition)
	default:
		set(dbrestv1.ReadyCondition, metav1.ConditionFalse)
		set(dbrestv1.ReconcilingCondition, metav1.ConditionTrue)
		meta.RemoveStatusCondition(list, dbrestv1.StalledCondition)
	}
	return before != len(*list) || !equal(snapshot, *list)
}

// Reason returns the reason of the Ready condition, or "" when absent.
func Reason(list []metav1.Condition) string {
	if c := meta.FindStatusCondition(list, dbrestv1.ReadyCondition); c != nil {
		return c.Reason
	}
	return ""
}

func equal(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message ||
			x.ObservedGeneration != y.ObservedGeneration || !x.LastTransitionTime.Equal(&y.LastTransitionTime) {
			return false
		}
	}
	return true
}
