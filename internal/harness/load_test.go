package harness

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestParseLoadAverage(t *testing.T) {
	g := NewWithT(t)
	v, err := parseLoadAverage("3.12 2.80 2.41 4/812 12345\n")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(v).To(Equal(3.12))
	_, err = parseLoadAverage("")
	g.Expect(err).To(MatchError(ContainSubstring("empty")))
	_, err = parseLoadAverage("busy 1 2")
	g.Expect(err).To(HaveOccurred())
	v, err = LoadAverage()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(v).To(BeNumerically(">=", 0))
}
