package controllers

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

func version(rv string, reason string) *dbrestv1.Deployment {
	d := &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{UID: "u1", ResourceVersion: rv}}
	d.Status.Conditions = []metav1.Condition{{Type: "Ready", Reason: reason}}
	return d
}

// write simulates one successful write of obj that the server answers
// with version rv.
func write(w *writeTracker, obj *dbrestv1.Deployment, rv, reason string) *dbrestv1.Deployment {
	w.writing(obj)
	next := version(rv, reason)
	w.written(next, obj.ResourceVersion, nil)
	return next
}

func TestWriteTracker(t *testing.T) {
	g := NewWithT(t)
	w := newWriteTracker()

	// No write: the cache is used as is.
	got, ok := w.current(version("4", "A"))
	g.Expect(ok).To(BeTrue())
	g.Expect(got.ResourceVersion).To(Equal("4"))

	// Two writes (4→5→6); the cache still holds 4, then 5: our copy of 6
	// is used, never the older version.
	v6 := write(w, write(w, version("4", "A"), "5", "B"), "6", "C")
	for _, cached := range []string{"4", "5"} {
		got, ok = w.current(version(cached, "A"))
		g.Expect(ok).To(BeTrue())
		g.Expect(got.ResourceVersion).To(Equal("6"), "cache at %s", cached)
		g.Expect(got.Status.Conditions[0].Reason).To(Equal("C"))
		g.Expect(got).NotTo(BeIdenticalTo(v6), "a copy, which the reconcile may change")
	}
	// The informer delivering a superseded version keeps the entry; the
	// newest one ends it.
	w.seen("u1", "5")
	g.Expect(w.entries).To(HaveLen(1))
	w.seen("u1", "6")
	g.Expect(w.entries).To(BeEmpty())

	// The informer's event may come before the write returns: the write
	// then adds nothing.
	w.writing(version("6", "C"))
	w.seen("u1", "7")
	w.written(version("7", "D"), "6", nil)
	g.Expect(w.entries).To(BeEmpty())

	// A failed write supersedes nothing.
	w.writing(version("7", "D"))
	w.written(version("7", "D"), "7", errors.New("conflict"))
	g.Expect(w.entries).To(BeEmpty())
	got, _ = w.current(version("7", "D"))
	g.Expect(got.ResourceVersion).To(Equal("7"))

	// A newer version from someone else (a spec change) is used, and ends
	// the entry.
	write(w, version("7", "D"), "8", "E")
	got, _ = w.current(version("9", "user"))
	g.Expect(got.ResourceVersion).To(Equal("9"))
	g.Expect(w.entries).To(BeEmpty())

	// A deleted object is forgotten.
	write(w, version("9", "E"), "10", "F")
	w.forget("u1")
	g.Expect(w.entries).To(BeEmpty())
}
