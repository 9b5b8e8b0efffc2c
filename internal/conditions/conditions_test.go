package conditions

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

func TestApply(t *testing.T) {
	type want struct {
		ready, reconciling, stalled metav1.ConditionStatus // "" means absent
	}
	cases := []struct {
		name  string
		start []Phase
		phase Phase
		want  want
	}{
		{"progressing from nothing", nil, Progressing, want{metav1.ConditionFalse, metav1.ConditionTrue, ""}},
		{"ready clears reconciling", []Phase{Progressing}, Ready, want{metav1.ConditionTrue, "", ""}},
		{"stalled clears reconciling", []Phase{Progressing}, Stalled, want{metav1.ConditionFalse, "", metav1.ConditionTrue}},
		{"progressing clears stalled", []Phase{Stalled}, Progressing, want{metav1.ConditionFalse, metav1.ConditionTrue, ""}},
		{"ready clears stalled", []Phase{Stalled}, Ready, want{metav1.ConditionTrue, "", ""}},
		{"paused keeps ready true", []Phase{Ready}, Paused, want{metav1.ConditionTrue, "", ""}},
		{"paused keeps ready false", []Phase{Stalled}, Paused, want{metav1.ConditionFalse, "", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var list []metav1.Condition
			for _, p := range tc.start {
				Apply(&list, 1, p, "Before", "before")
			}
			g.Expect(Apply(&list, 2, tc.phase, "After", "after")).To(BeTrue())
			for typ, status := range map[string]metav1.ConditionStatus{
				dbrestv1.ReadyCondition: tc.want.ready, dbrestv1.ReconcilingCondition: tc.want.reconciling,
				dbrestv1.StalledCondition: tc.want.stalled,
			} {
				c := meta.FindStatusCondition(list, typ)
				if status == "" {
					g.Expect(c).To(BeNil(), typ)
					continue
				}
				g.Expect(c).NotTo(BeNil(), typ)
				g.Expect(c.Status).To(Equal(status), typ)
				g.Expect(c.Reason).To(Equal("After"))
				g.Expect(c.ObservedGeneration).To(Equal(int64(2)))
			}
			g.Expect(Reason(list)).To(Equal("After"))
		})
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	g := NewWithT(t)
	var list []metav1.Condition
	g.Expect(Apply(&list, 3, Progressing, "Deploying", "job 1 in progress")).To(BeTrue())
	g.Expect(Apply(&list, 3, Progressing, "Deploying", "job 1 in progress")).To(BeFalse())
	g.Expect(Apply(&list, 3, Progressing, "Deploying", "job 1 still in progress")).To(BeTrue())
	g.Expect(Apply(&list, 4, Progressing, "Deploying", "job 1 still in progress")).To(BeTrue())
}
