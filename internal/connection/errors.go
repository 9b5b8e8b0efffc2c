package connection

import "fmt"

// CredentialsError says the credentials Secret is missing or lacks the keys.
type CredentialsError struct {
	// Secret is the name of the Secret.
	Secret string
	// Missing is true when the Secret does not exist.
	Missing bool
}

func (e *CredentialsError) Error() string {
	if e.Missing {
		return fmt.Sprintf("credentials Secret %q not found", e.Secret)
	}
	return fmt.Sprintf("credentials Secret %q has neither a %q key nor both %q and %q",
		e.Secret, "token", "username", "password")
}

// CAError says the referenced CA bundle is missing or empty.
type CAError struct {
	// Kind is ConfigMap or Secret.
	Kind string
	// Name of the object.
	Name string
	// Key looked up in the object.
	Key string
	// Missing is true when the object does not exist.
	Missing bool
}

func (e *CAError) Error() string {
	if e.Missing {
		return fmt.Sprintf("CA %s %q not found", e.Kind, e.Name)
	}
	return fmt.Sprintf("CA %s %q has no key %q with a PEM bundle", e.Kind, e.Name, e.Key)
}

// ConfigError says the client could not be built from the DatabaseAPI
// (for example a CA bundle that is not PEM).
type ConfigError struct {
	// API is namespace/name of the DatabaseAPI.
	API string
	// Err is the client's error.
	Err error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("DatabaseAPI %s cannot be used: %v", e.API, e.Err)
}

// Unwrap returns the client's error.
func (e *ConfigError) Unwrap() error { return e.Err }
