package controllers_test

import (
	"regexp"

	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/controllers"
)

type controllersConfig = controllers.Config

func regexpMust(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// findCondition returns the condition, or an empty one when absent (the
// callers assert on its fields, so an absent condition fails them).
func findCondition(d *dbrestv1.Deployment, typ string) *metav1.Condition {
	if c := meta.FindStatusCondition(d.Status.Conditions, typ); c != nil {
		return c
	}
	return &metav1.Condition{}
}

func conditionOf(list []metav1.Condition, typ string) string {
	c := meta.FindStatusCondition(list, typ)
	if c == nil {
		return "absent"
	}
	return string(c.Status) + "/" + c.Reason
}

func secretOf(f *fixture, name string) *corev1.Secret {
	s := &corev1.Secret{}
	f.g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, s)).To(Succeed())
	return s
}
