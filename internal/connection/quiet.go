package connection

import (
	"context"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// bodyVerbosity is the verbosity at which client-go logs the body of every
// request and response (rest.Request's "Request Body" and "Response Body").
const bodyVerbosity = 8

// withoutBodies returns ctx with its logger capped below bodyVerbosity.
// The Registry reads Secrets from the API server, and client-go would log
// the response, the Secret's data, at a verbosity any --zap-log-level may
// turn on. Everything below stays, the request's URL and status included.
func withoutBodies(ctx context.Context) context.Context {
	l := klog.FromContext(ctx)
	if l.GetSink() == nil {
		return ctx // logs nothing anyway
	}
	return klog.NewContext(ctx, logr.New(cappedSink{LogSink: l.GetSink(), max: bodyVerbosity - 1}))
}

// cappedSink drops every message more verbose than max.
type cappedSink struct {
	logr.LogSink
	max int
}

func (s cappedSink) Enabled(level int) bool {
	return level <= s.max && s.LogSink.Enabled(level)
}

func (s cappedSink) Info(level int, msg string, keysAndValues ...any) {
	if level <= s.max {
		s.LogSink.Info(level, msg, keysAndValues...)
	}
}

func (s cappedSink) WithValues(keysAndValues ...any) logr.LogSink {
	return cappedSink{LogSink: s.LogSink.WithValues(keysAndValues...), max: s.max}
}

func (s cappedSink) WithName(name string) logr.LogSink {
	return cappedSink{LogSink: s.LogSink.WithName(name), max: s.max}
}
