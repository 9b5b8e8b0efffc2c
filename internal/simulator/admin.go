package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// adminPrefix is where the admin endpoints live. They are never faulted
// and need no credentials: they are the test's side channel.
const adminPrefix = "/_sim/"

func (s *Server) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.Stats())
	})
	mux.HandleFunc("POST /_sim/reset-stats", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.Faults())
	})
	mux.HandleFunc("PUT /_sim/faults", s.adminPutFaults)
	mux.HandleFunc("GET /_sim/apps/{name}", func(w http.ResponseWriter, r *http.Request) {
		app, ok := s.Application(r.PathValue("name"))
		if !ok {
			writeFailure(w, http.StatusNotFound, "application "+r.PathValue("name")+" not found")
			return
		}
		writeJSON(w, app)
	})
	mux.HandleFunc("DELETE /_sim/apps/{name}", func(w http.ResponseWriter, r *http.Request) {
		if !s.DeleteApplication(r.PathValue("name")) {
			writeFailure(w, http.StatusNotFound, "application "+r.PathValue("name")+" not found")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PATCH /_sim/apps/{name}", s.adminPatchApp)
	mux.HandleFunc("PUT /_sim/apps/{name}", s.adminPutApp)
	return mux
}

// adminPutFaults replaces the faults with the JSON body (see Faults). The
// extra field "downFor" (a Go duration) sets Down and a DownUntil that far
// from now, which is easier to type in curl than a timestamp.
func (s *Server) adminPutFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		writeFailure(w, http.StatusBadRequest, err.Error())
		return
	}
	var f Faults
	var extra struct {
		DownFor string `json:"downFor"`
	}
	if err := json.Unmarshal(body, &f); err != nil {
		writeFailure(w, http.StatusBadRequest, "invalid faults: "+err.Error())
		return
	}
	if err := json.Unmarshal(body, &extra); err != nil {
		writeFailure(w, http.StatusBadRequest, "invalid faults: "+err.Error())
		return
	}
	if extra.DownFor != "" {
		d, err := time.ParseDuration(extra.DownFor)
		if err != nil {
			writeFailure(w, http.StatusBadRequest, "invalid downFor: "+err.Error())
			return
		}
		f.Down, f.DownUntil = true, s.now().Add(d)
	}
	if err := f.validate(); err != nil {
		writeFailure(w, http.StatusBadRequest, err.Error())
		return
	}
	s.SetFaults(f)
	writeJSON(w, s.Faults())
}

// adminPatchApp merges the JSON body into the stored application: fields
// present replace stored ones (properties merge key by key), absent fields
// stay. Unknown fields and a change of name are refused.
func (s *Server) adminPatchApp(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		writeFailure(w, http.StatusBadRequest, err.Error())
		return
	}
	var decodeErr error
	found := s.ChangeApplication(name, func(app *Application) {
		patched := app.clone()
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if decodeErr = dec.Decode(&patched); decodeErr != nil {
			return
		}
		if patched.Name != name {
			decodeErr = errNameChange
			return
		}
		*app = patched
	})
	switch {
	case !found:
		writeFailure(w, http.StatusNotFound, "application "+name+" not found")
	case decodeErr != nil:
		writeFailure(w, http.StatusBadRequest, "invalid patch: "+decodeErr.Error())
	default:
		app, _ := s.Application(name)
		writeJSON(w, app)
	}
}

// Application returns a copy of the stored application (for test
// assertions).
func (s *Server) Application(name string) (Application, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	rec, ok := s.store.apps[name]
	if !ok {
		return Application{}, false
	}
	return rec.app.clone(), true
}

// PutApplication deploys an application out of band, as an administrator
// or another tool would, active at once and with no job; an application
// of that name is replaced. It is how tests set up a server that already
// runs applications the operator never deployed.
func (s *Server) PutApplication(app Application) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	app = app.clone()
	app.Type = "application"
	if app.State == "" {
		app.State = StateActive
	}
	if app.Targets == nil {
		app.Targets = []string{}
	}
	if app.Properties == nil {
		app.Properties = map[string]string{}
	}
	s.store.apps[app.Name] = &appRecord{app: app}
}

// DeleteApplication removes an application out of band, as an
// administrator would on the console, to test drift. Its running jobs still
// finish but no longer touch it. It reports whether the application existed.
func (s *Server) DeleteApplication(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	_, ok := s.store.apps[name]
	delete(s.store.apps, name)
	return ok
}

// ChangeApplication changes an application out of band, to test drift.
// mutate gets a copy to change; the name cannot be changed. mutate runs
// under the simulator's lock, so it must not call the Server. It reports
// whether the application existed.
func (s *Server) ChangeApplication(name string, mutate func(*Application)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	rec, ok := s.store.apps[name]
	if !ok {
		return false
	}
	app := rec.app.clone()
	mutate(&app)
	// Keep the invariants the API relies on: the map key is the name, and
	// targets and properties encode as [] and {} rather than null.
	app.Name = name
	if app.Targets == nil {
		app.Targets = []string{}
	}
	if app.Properties == nil {
		app.Properties = map[string]string{}
	}
	rec.app = app
	return true
}

// adminPutApp deploys the JSON body out of band (PutApplication), under
// the name of the path.
func (s *Server) adminPutApp(w http.ResponseWriter, r *http.Request) {
	var app Application
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&app); err != nil {
		writeFailure(w, http.StatusBadRequest, "invalid application: "+err.Error())
		return
	}
	switch name := r.PathValue("name"); {
	case app.Name == "":
		app.Name = name
	case app.Name != name:
		writeFailure(w, http.StatusBadRequest, errNameChange.Error())
		return
	}
	if app.DeploymentPath == "" {
		writeFailure(w, http.StatusBadRequest, "deploymentPath is required")
		return
	}
	s.PutApplication(app)
	got, _ := s.Application(app.Name)
	writeJSON(w, got)
}

var errNameChange = errors.New("the name of an application cannot be changed")
