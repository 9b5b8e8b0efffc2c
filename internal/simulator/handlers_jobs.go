package simulator

import (
	"net/http"
)

func (s *Server) getJob(r *http.Request, id string) response {
	self := absoluteURL(r, s.base+"jobs/deployment/id/"+id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	j, ok := s.store.jobs[id]
	if !ok {
		return failure(http.StatusNotFound, "job "+id+" not found: unknown or expired")
	}
	s.countPoll(id)
	return jsonResponse(http.StatusOK, itemBody[*Job]{Item: &j.job, Links: []Link{{Rel: "self", URI: self}}})
}

// listJobs lists the kept jobs by id: the finished ones were all created
// before the running ones, and each queue is in creation order.
func (s *Server) listJobs() response {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	items := make([]*Job, 0, len(s.store.jobs))
	add := func(j *jobRecord) { items = append(items, &j.job) }
	s.store.finished.each(add)
	s.store.running.each(add)
	return jsonResponse(http.StatusOK, itemsBody[*Job]{Items: items})
}

// Job returns a copy of a kept job (for test assertions). It does not count
// as a poll.
func (s *Server) Job(id string) (Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	j, ok := s.store.jobs[id]
	if !ok {
		return Job{}, false
	}
	return cloneJob(j.job), true
}
