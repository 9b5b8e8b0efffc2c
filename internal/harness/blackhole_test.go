package harness

import (
	"net"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestBlackHole: it accepts and never answers, counts what is open now
// and the most at once, and Close ends the connections its clients hold.
func TestBlackHole(t *testing.T) {
	g := NewWithT(t)
	h, err := StartBlackHole()
	g.Expect(err).NotTo(HaveOccurred())
	a, err := net.Dial("tcp", h.Addr())
	g.Expect(err).NotTo(HaveOccurred())
	b, err := net.Dial("tcp", h.Addr())
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(h.Open).Should(Equal(2))
	_, err = a.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))).To(Succeed())
	_, err = a.Read(make([]byte, 1))
	g.Expect(err).To(MatchError(ContainSubstring("timeout")), "no answer")
	g.Expect(a.Close()).To(Succeed())
	g.Eventually(h.Open).Should(Equal(1))
	g.Expect(h.MostOpen()).To(Equal(2))

	g.Expect(h.Close()).To(Succeed())
	g.Expect(b.SetReadDeadline(time.Now().Add(time.Minute))).To(Succeed())
	_, err = b.Read(make([]byte, 1))
	g.Expect(err).To(HaveOccurred(), "Close ends the connection")
	g.Expect(err.Error()).NotTo(ContainSubstring("timeout"))
	_, err = net.Dial("tcp", h.Addr())
	g.Expect(err).To(HaveOccurred(), "no more accepted")
}
