package restapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

// wireJob is a job as servers send it. Identifiers and times are read
// leniently (a number or a string), because a server that writes "id":17
// still means job 17.
type wireJob struct {
	ID             flexString   `json:"id"`
	Name           string       `json:"name"`
	Operation      string       `json:"operation"`
	DeploymentName string       `json:"deploymentName"`
	Status         *string      `json:"status"`
	BeginTime      flexInt      `json:"beginTime"`
	EndTime        flexInt      `json:"endTime"`
	Description    string       `json:"description"`
	Targets        []wireTarget `json:"targets"`
}

type wireTarget struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Status string            `json:"status"`
	Errors []json.RawMessage `json:"errors"`
}

// flexString accepts a JSON string or number.
type flexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// flexInt accepts a JSON number or numeric string; anything else is 0,
// since a bad time stamp must not make a job unreadable.
type flexInt int64

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) != nil {
		s = string(b)
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		*f = flexInt(n)
		return nil
	}
	if x, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && x >= math.MinInt64 && x < math.MaxInt64 {
		*f = flexInt(int64(x))
		return nil
	}
	*f = 0
	return nil
}

var (
	errNoJobStatus      = errors.New("job without status")
	errUnknownJobStatus = errors.New("job with an unknown status")
)

// normaliseJobStatus maps the spellings servers use to the Job* constants;
// "" means unknown.
func normaliseJobStatus(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer("_", " ", "-", " ").Replace(s)
	switch s {
	case JobInProgress, "inprogress", "running", "pending", "queued", "started", "new":
		return JobInProgress
	case JobCompleted, "complete", "success", "succeeded", "successful", "done":
		return JobCompleted
	case JobFailed, "failure", "error", "aborted", "cancelled", "canceled":
		return JobFailed
	}
	return ""
}

// decodeJob reads one job object. A known status is normalised; an unknown
// one is kept as sent (cleaned) and reported with errUnknownJobStatus, so
// a list can keep the job while GetJob refuses it.
func decodeJob(raw []byte) (Job, error) {
	var w wireJob
	if err := json.Unmarshal(raw, &w); err != nil || !isObject(raw) {
		return Job{}, errInvalidBody
	}
	j := Job{
		ID:             string(w.ID),
		Name:           w.Name,
		Operation:      w.Operation,
		DeploymentName: w.DeploymentName,
		BeginTime:      int64(w.BeginTime),
		EndTime:        int64(w.EndTime),
		Description:    w.Description,
	}
	for _, t := range w.Targets {
		jt := JobTarget{Name: t.Name, Type: t.Type, Status: t.Status}
		if st := normaliseJobStatus(t.Status); st != "" {
			jt.Status = st
		}
		for _, e := range t.Errors {
			if msg := textOf(e); msg != "" {
				jt.Errors = append(jt.Errors, msg)
			} else if s := cleanText(string(e)); s != "" && s != "null" {
				jt.Errors = append(jt.Errors, s)
			}
		}
		j.Targets = append(j.Targets, jt)
	}
	if w.Status == nil || strings.TrimSpace(*w.Status) == "" {
		return j, errNoJobStatus
	}
	if j.Status = normaliseJobStatus(*w.Status); j.Status == "" {
		j.Status = cleanText(*w.Status)
		return j, errUnknownJobStatus
	}
	return j, nil
}

// parseJobBody reads a job from an envelope (or a bare job object) and
// insists on a known status.
func parseJobBody(body []byte) (Job, error) {
	item, err := itemOf(body)
	if err != nil {
		return Job{}, err
	}
	return decodeJob(item)
}

// parseApplicationBody reads an application from an envelope or a bare
// object; ok is false when the body holds no named application.
func parseApplicationBody(body []byte) (app Application, ok bool, err error) {
	item, err := itemOf(body)
	if err != nil {
		return Application{}, false, err
	}
	if !isObject(item) {
		return Application{}, false, errInvalidBody
	}
	if err := json.Unmarshal(item, &app); err != nil {
		return Application{}, false, errInvalidBody
	}
	return app, app.Name != "", nil
}

func isObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}
