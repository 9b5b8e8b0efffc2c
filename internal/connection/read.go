package connection

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// CA versions that name no object: a bundle inline in the spec, or none.
const (
	inlineCAVersion = "inline"
	noCAVersion     = ""
)

// objectVersion returns the resourceVersion of a Secret or ConfigMap as
// the metadata cache holds it.
func (r *Registry) objectVersion(ctx context.Context, kind, namespace, name string) (string, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: kind})
	if err := r.readers.Metadata.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, m); err != nil {
		return "", err
	}
	return m.ResourceVersion, nil
}

// secretVersion is the cached resourceVersion of the credentials Secret.
func (r *Registry) secretVersion(ctx context.Context, api *dbrestv1.DatabaseAPI) (string, error) {
	ref := api.Spec.CredentialsSecretRef.Name
	v, err := r.objectVersion(ctx, "Secret", api.Namespace, ref)
	if err != nil {
		return "", credentialsLookupError(ref, err)
	}
	return v, nil
}

// caVersion is the cached resourceVersion of the CA bundle's object.
func (r *Registry) caVersion(ctx context.Context, api *dbrestv1.DatabaseAPI) (string, error) {
	if api.Spec.CABundle != "" {
		return inlineCAVersion, nil
	}
	ref := api.Spec.CABundleRef
	if ref == nil {
		return noCAVersion, nil
	}
	v, err := r.objectVersion(ctx, kindOf(ref), api.Namespace, ref.Name)
	if err != nil {
		return "", caLookupError(ref, caKey(ref), err)
	}
	return v, nil
}

// credentials reads the Secret named by the DatabaseAPI from the API
// server. A token wins over username/password; a Secret with neither is
// an error the user must fix, returned with the Secret's version.
func (r *Registry) credentials(ctx context.Context, api *dbrestv1.DatabaseAPI) (restapi.Credentials, string, error) {
	ref := api.Spec.CredentialsSecretRef.Name
	var s corev1.Secret
	if err := r.readers.Live.Get(ctx, types.NamespacedName{Namespace: api.Namespace, Name: ref}, &s); err != nil {
		return restapi.Credentials{}, "", credentialsLookupError(ref, err)
	}
	if tok := string(s.Data[dbrestv1.CredentialsTokenKey]); tok != "" {
		return restapi.Credentials{Token: tok}, s.ResourceVersion, nil
	}
	user, pass := string(s.Data[dbrestv1.CredentialsUsernameKey]), string(s.Data[dbrestv1.CredentialsPasswordKey])
	if user == "" || pass == "" {
		return restapi.Credentials{}, s.ResourceVersion, &CredentialsError{Secret: ref}
	}
	return restapi.Credentials{Username: user, Password: pass}, s.ResourceVersion, nil
}

// caBundle reads the PEM CA bundle, inline or from the referenced
// ConfigMap or Secret on the API server, and its version for the key.
func (r *Registry) caBundle(ctx context.Context, api *dbrestv1.DatabaseAPI) ([]byte, string, error) {
	if api.Spec.CABundle != "" {
		return []byte(api.Spec.CABundle), inlineCAVersion, nil
	}
	ref := api.Spec.CABundleRef
	if ref == nil {
		return nil, noCAVersion, nil
	}
	key := caKey(ref)
	name := types.NamespacedName{Namespace: api.Namespace, Name: ref.Name}
	var data []byte
	var version string
	switch kindOf(ref) {
	case "Secret":
		var s corev1.Secret
		if err := r.readers.Live.Get(ctx, name, &s); err != nil {
			return nil, "", caLookupError(ref, key, err)
		}
		data, version = s.Data[key], s.ResourceVersion
	default:
		var cm corev1.ConfigMap
		if err := r.readers.Live.Get(ctx, name, &cm); err != nil {
			return nil, "", caLookupError(ref, key, err)
		}
		data, version = []byte(cm.Data[key]), cm.ResourceVersion
		if len(data) == 0 {
			data = cm.BinaryData[key]
		}
	}
	if len(data) == 0 {
		return nil, version, &CAError{Kind: kindOf(ref), Name: ref.Name, Key: key}
	}
	return data, version, nil
}

// fromData says whether err comes from the data of an object that was
// read (a Secret without the keys, a CA object without the bundle), so
// that it stays true until the object changes.
func fromData(err error) bool {
	var creds *CredentialsError
	var ca *CAError
	switch {
	case errors.As(err, &creds):
		return !creds.Missing
	case errors.As(err, &ca):
		return !ca.Missing
	}
	return false
}

func credentialsLookupError(ref string, err error) error {
	if apierrors.IsNotFound(err) {
		return &CredentialsError{Secret: ref, Missing: true}
	}
	return fmt.Errorf("reading credentials Secret %q: %w", ref, err)
}

func caLookupError(ref *dbrestv1.CABundleSource, key string, err error) error {
	if apierrors.IsNotFound(err) {
		return &CAError{Kind: kindOf(ref), Name: ref.Name, Key: key, Missing: true}
	}
	return fmt.Errorf("reading CA %s %q: %w", kindOf(ref), ref.Name, err)
}

func caKey(ref *dbrestv1.CABundleSource) string {
	if ref.Key == "" {
		return dbrestv1.DefaultCAKey
	}
	return ref.Key
}

func kindOf(ref *dbrestv1.CABundleSource) string {
	if ref.Kind == "" {
		return "ConfigMap"
	}
	return ref.Kind
}
