package argocd

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Script is health.lua, the health check Argo CD runs for a Deployment or
// DatabaseAPI.
//
//go:embed health.lua
var Script string

// Argo CD's health statuses that Script returns.
const (
	// Healthy: Ready=True.
	Healthy = "Healthy"
	// Progressing: no status yet, a spec not yet observed, or Reconciling=True.
	Progressing = "Progressing"
	// Degraded: Stalled=True; the operator needs a change from the user.
	Degraded = "Degraded"
	// Suspended: spec.suspend is true (Ready reason Suspended).
	Suspended = "Suspended"
)

// Health is what Argo CD shows for a resource.
type Health struct {
	// Status is one of Healthy, Progressing, Degraded, Suspended.
	Status string
	// Message is the deciding condition's "reason: message".
	Message string
}

// scriptTimeout stops a script that loops, as Argo CD does.
const scriptTimeout = time.Second

// Evaluate runs Script with obj (an object as JSON decodes it, such as
// unstructured content) bound to the global "obj", with only the libraries
// Argo CD opens for health checks, and returns the health it reports.
func Evaluate(obj map[string]any) (Health, error) {
	ls := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer ls.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		ls.Push(ls.NewFunction(lib.open))
		ls.Push(lua.LString(lib.name))
		ls.Call(1, 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	ls.SetContext(ctx)

	ls.SetGlobal("obj", toLua(ls, obj))
	if err := ls.DoString(Script); err != nil {
		return Health{}, fmt.Errorf("running health.lua: %w", err)
	}
	hs, ok := ls.Get(-1).(*lua.LTable)
	if !ok {
		return Health{}, fmt.Errorf("health.lua returned %s, not a table", ls.Get(-1).Type())
	}
	h := Health{Status: lua.LVAsString(hs.RawGetString("status")), Message: lua.LVAsString(hs.RawGetString("message"))}
	switch h.Status {
	case Healthy, Progressing, Degraded, Suspended:
		return h, nil
	}
	return Health{}, fmt.Errorf("health.lua returned status %q, which Argo CD does not know", h.Status)
}

// toLua converts a JSON-shaped value as Argo CD does: objects to tables
// by key, arrays to tables indexed from 1, numbers to Lua numbers.
func toLua(ls *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case map[string]any:
		t := ls.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(ls, e))
		}
		return t
	case []any:
		t := ls.NewTable()
		for _, e := range v {
			t.Append(toLua(ls, e))
		}
		return t
	default:
		return lua.LString(fmt.Sprint(v))
	}
}
