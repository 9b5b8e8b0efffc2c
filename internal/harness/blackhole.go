package harness

import (
	"context"
	"io"
	"net"
	"sync"
)

// BlackHole accepts TCP connections on a loopback port and never answers,
// as a server behind a network partition that drops its replies does. It
// counts the connections open now and the most open at once, so that a
// test can see how many requests a client leaves waiting on it.
type BlackHole struct {
	l     net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	most  int
}

// StartBlackHole listens on 127.0.0.1 and accepts until Close.
func StartBlackHole() (*BlackHole, error) {
	l, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &BlackHole{l: l, conns: map[net.Conn]struct{}{}}
	go h.accept()
	return h, nil
}

func (h *BlackHole) accept() {
	for {
		c, err := h.l.Accept()
		if err != nil {
			return
		}
		h.mu.Lock()
		h.conns[c] = struct{}{}
		h.most = max(h.most, len(h.conns))
		h.mu.Unlock()
		go func() {
			// Read the requests, answer nothing, until the client gives
			// up and closes the connection (or Close does).
			_, _ = io.Copy(io.Discard, c)
			h.mu.Lock()
			delete(h.conns, c)
			h.mu.Unlock()
			_ = c.Close()
		}()
	}
}

// Addr is the host:port the black hole listens on.
func (h *BlackHole) Addr() string { return h.l.Addr().String() }

// Open is the number of connections open now.
func (h *BlackHole) Open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// MostOpen is the most connections that were open at once.
func (h *BlackHole) MostOpen() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.most
}

// Close stops accepting and closes every open connection, so that the
// clients waiting on it see the connection end.
func (h *BlackHole) Close() error {
	err := h.l.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		_ = c.Close()
	}
	return err
}
