package main

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestWatchNamespaces(t *testing.T) {
	for _, tc := range []struct {
		flag string
		want []string
		bad  bool
	}{
		{flag: "", want: nil},
		{flag: " , ", want: nil},
		{flag: "team-a", want: []string{"team-a"}},
		{flag: "team-a, team-b,team-a,", want: []string{"team-a", "team-b"}},
		{flag: "Team-A", bad: true},
		{flag: "team-a,team_b", bad: true},
		{flag: "a/b", bad: true},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			g := NewWithT(t)
			got, err := watchNamespaces(tc.flag)
			if tc.bad {
				g.Expect(err).To(MatchError(ContainSubstring("--watch-namespaces")))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}
