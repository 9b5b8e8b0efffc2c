package v1alpha1_test

import "k8s.io/apimachinery/pkg/runtime"

func runtimeToMap(obj any) (map[string]any, error) {
	return runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
}
