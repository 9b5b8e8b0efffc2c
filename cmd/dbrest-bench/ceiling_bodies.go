package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// minMessage is the shortest varying text in a ceiling body, so that every
// patch changes the object: a patch that changes nothing costs the
// kube-apiserver no etcd write and would flatter the ceiling.
const minMessage = 12

// maxNote is the longest note the kube-apiserver accepts on an Event.
const maxNote = 1024

// statusBody writes the ceiling's status patches: a merge patch of the
// status of one of the bench's Deployments, with its Ready message sized
// so that the body is as long as the manager's mean status patch, and
// different at each step.
type statusBody struct {
	// prefix and suffix surround the Ready message (quotes included).
	prefix, suffix []byte
	msgLen         int
	label          string
}

// statusPlaceholder marks where the message goes in the marshalled status.
const statusPlaceholder = "dbrest-bench-ceiling-message"

// newStatusBody builds the status patches of phase label from sample (the
// status at the phase's end) for bodies of target bytes. When the sample
// is longer than target, it drops the fields that a status patch of the
// manager does not always carry, one by one, then the conditions other
// than Ready; a target shorter still gets bodies of minMessage.
func newStatusBody(label string, sample *dbrestv1.DeploymentStatus, target int) (statusBody, error) {
	st := &dbrestv1.DeploymentStatus{}
	if sample != nil {
		st = sample.DeepCopy()
	}
	if meta.FindStatusCondition(st.Conditions, dbrestv1.ReadyCondition) == nil {
		st.Conditions = append(st.Conditions, metav1.Condition{Type: dbrestv1.ReadyCondition, Status: metav1.ConditionTrue,
			Reason: "Ceiling", LastTransitionTime: metav1.Now()})
	}
	drops := []func(){
		func() { st.LastAppliedFingerprint = "" },
		func() { st.ApplicationStateSince = nil },
		func() { st.ApplicationState = "" },
		func() { st.ApplicationURL = "" },
		func() { st.Job = nil },
		func() {
			st.Conditions = []metav1.Condition{*meta.FindStatusCondition(st.Conditions, dbrestv1.ReadyCondition)}
		},
	}
	for step := 0; ; step++ {
		meta.FindStatusCondition(st.Conditions, dbrestv1.ReadyCondition).Message = statusPlaceholder
		raw, err := json.Marshal(map[string]any{"status": st})
		if err != nil {
			return statusBody{}, err
		}
		prefix, suffix, ok := bytes.Cut(raw, []byte(statusPlaceholder))
		if !ok {
			return statusBody{}, fmt.Errorf("status sample: no message in %s", raw)
		}
		base := len(prefix) + len(suffix)
		if target-base >= minMessage || step == len(drops) {
			return statusBody{prefix: prefix, suffix: suffix, msgLen: max(target-base, minMessage), label: label}, nil
		}
		drops[step]()
	}
}

// at is the body of the object's status patch k.
func (s statusBody) at(k int) []byte {
	msg := padded(fmt.Sprintf("%d ceiling %s step ", k, s.label), s.msgLen)
	out := make([]byte, 0, len(s.prefix)+len(msg)+len(s.suffix))
	return append(append(append(out, s.prefix...), msg...), s.suffix...)
}

// padded is s cut or padded with dots to exactly n bytes (s is ASCII).
func padded(s string, n int) string {
	if len(s) >= n {
		return s[:n]
	}
	return s + strings.Repeat(".", n-len(s))
}

// eventBody writes the ceiling's Events: the fields the manager's recorder
// sets, with a note sized so that the body of each create is as long as
// the manager's mean.
type eventBody struct {
	reason  string
	noteLen int
}

func (r *ceilingRun) newEventBody(p *phaseResult) eventBody {
	e := eventBody{reason: "Ceiling" + strings.ToUpper(p.Name[:1]) + p.Name[1:], noteLen: minMessage}
	if p.mix.eventBytes == 0 || r.n == 0 {
		return e
	}
	// Protobuf lengths are varints, so the size is not linear in the
	// note's length: a few corrections reach it.
	for range 4 {
		ev := r.event(e, 0, padded("", e.noteLen))
		if ev.Regarding.UID == "" {
			// Before the create phase's objects exist: a UID of the length
			// they will have.
			ev.Regarding.UID = "00000000-0000-0000-0000-000000000000"
		}
		size, err := encodedSize(ev)
		if err != nil || size == p.mix.eventBytes {
			break
		}
		e.noteLen = min(max(e.noteLen+p.mix.eventBytes-size, minMessage), maxNote)
	}
	return e
}

// encodedSize is the body of an Event as client-go's typed clients send
// it, in protobuf (their default for built-in types); the manager's event
// recorder sends its Events through such a client.
func encodedSize(ev *eventsv1.Event) (int, error) {
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		return 0, errors.New("no protobuf serializer")
	}
	var buf bytes.Buffer
	err := scheme.Codecs.EncoderForVersion(info.Serializer, eventsv1.SchemeGroupVersion).Encode(ev, &buf)
	return buf.Len(), err
}

// event is an Event about object i, as the manager's recorder makes it.
func (r *ceilingRun) event(e eventBody, i int, note string) *eventsv1.Event {
	now := time.Now()
	return &eventsv1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: eventsv1.SchemeGroupVersion.String(), Kind: "Event"},
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%v.%x", appName(i), now.UnixNano()), Namespace: ceilingNamespace},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: managerFieldOwner,
		ReportingInstance:   managerFieldOwner,
		Action:              "Reconcile",
		Reason:              e.reason,
		Regarding: corev1.ObjectReference{Kind: "Deployment", APIVersion: dbrestv1.GroupVersion.String(),
			Namespace: ceilingNamespace, Name: appName(i), UID: r.uid[i]},
		Note: note,
		Type: corev1.EventTypeNormal,
	}
}

// sendEvent creates an Event about object i, then updates its series
// count series times, as the recorder does for an Event that repeats.
func (r *ceilingRun) sendEvent(ctx context.Context, e eventBody, i, series int) error {
	ev := r.event(e, i, padded(fmt.Sprintf("ceiling event about %s ", appName(i)), e.noteLen))
	created, err := r.events.Events(ceilingNamespace).Create(ctx, ev, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	for k := range series {
		patch := fmt.Appendf(nil, `{"series":{"count":%d,"lastObservedTime":%q}}`, k+2, time.Now().UTC().Format(metav1.RFC3339Micro))
		if _, err := r.events.Events(ceilingNamespace).Patch(ctx, created.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return err
		}
	}
	return nil
}
