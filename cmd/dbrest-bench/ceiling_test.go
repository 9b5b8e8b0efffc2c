package main

import (
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// TestFinalizerPatch checks that the ceiling's object patches are the
// manager's: controller-runtime's merge patch of the finalizer alone.
func TestFinalizerPatch(t *testing.T) {
	g := NewWithT(t)
	without := &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}}
	with := without.DeepCopy()
	controllerutil.AddFinalizer(with, dbrestv1.FinalizerName)
	add, err := client.MergeFrom(without).Data(with)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(finalizerPatch(true)).To(MatchJSON(add))
	remove, err := client.MergeFrom(with).Data(without)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(finalizerPatch(false)).To(MatchJSON(remove))
}

func sampleStatus() *dbrestv1.DeploymentStatus {
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return &dbrestv1.DeploymentStatus{
		ObservedGeneration: 2,
		Conditions: []metav1.Condition{
			{Type: dbrestv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: "Deployed", Message: "deployed", LastTransitionTime: now, ObservedGeneration: 2},
			{Type: "Reconciling", Status: metav1.ConditionFalse, Reason: "Deployed", LastTransitionTime: now, ObservedGeneration: 2},
		},
		ApplicationURL: "http://127.0.0.1:1/management/wls/latest/deployments/application/id/app-00000",
		Job: &dbrestv1.JobRecord{URL: "http://127.0.0.1:1/management/wls/latest/jobs/deployment/id/1",
			Operation: dbrestv1.JobOperationDeploy, Status: dbrestv1.JobStatusCompleted, StartedAt: now},
		LastAppliedFingerprint: "sha256:0123456789abcdef",
	}
}

func TestStatusBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target int
		// keeps are fields the body must still hold.
		keeps []string
		// exact says whether the target can be met.
		exact bool
	}{
		{name: "larger than the sample", target: 2000, keeps: []string{"job", "applicationURL", "lastAppliedFingerprint"}, exact: true},
		{name: "without the job", target: 420, keeps: []string{"conditions", "observedGeneration"}, exact: true},
		{name: "smaller than anything", target: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s, err := newStatusBody("create", sampleStatus(), tc.target)
			g.Expect(err).NotTo(HaveOccurred())
			first, second := s.at(0), s.at(1)
			if tc.exact {
				g.Expect(first).To(HaveLen(tc.target))
			}
			g.Expect(second).To(HaveLen(len(first)))
			g.Expect(second).NotTo(Equal(first), "every patch changes the object")
			var doc struct {
				Status map[string]json.RawMessage `json:"status"`
			}
			g.Expect(json.Unmarshal(first, &doc)).To(Succeed())
			for _, k := range tc.keeps {
				g.Expect(doc.Status).To(HaveKey(k))
			}
			var st dbrestv1.DeploymentStatus
			g.Expect(json.Unmarshal(first, &struct {
				Status *dbrestv1.DeploymentStatus `json:"status"`
			}{&st})).To(Succeed())
			g.Expect(st.Conditions).NotTo(BeEmpty())
			g.Expect(st.Conditions[0].Message).To(HavePrefix("0 ceiling"))
		})
	}
	g := NewWithT(t)
	s, err := newStatusBody("delete", nil, 300)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.at(3)).To(HaveLen(300), "no sample: a Ready condition alone")
}

func TestEventBody(t *testing.T) {
	g := NewWithT(t)
	r := &ceilingRun{n: 2, uid: make([]types.UID, 2)}
	for _, target := range []int{356, 394, 700} {
		p := &phaseResult{Name: "create", mix: writeMix{eventCreates: 2, eventBytes: target}}
		// Sized before the objects exist, sent once they do.
		e := r.newEventBody(p)
		r.uid[0] = "0b5a4c37-5a4e-4b0e-9a40-5b1c6d1f2e3a"
		g.Expect(e.reason).To(Equal("CeilingCreate"))
		size, err := encodedSize(r.event(e, 0, padded("x", e.noteLen)))
		r.uid[0] = ""
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(size).To(Equal(target), "the body is the manager's mean")
	}
	p := &phaseResult{Name: "delete", mix: writeMix{eventCreates: 2, eventBytes: 100000}}
	g.Expect(r.newEventBody(p).noteLen).To(Equal(maxNote))
	p.mix.eventBytes = 0
	g.Expect(r.newEventBody(p).noteLen).To(Equal(minMessage))
}
