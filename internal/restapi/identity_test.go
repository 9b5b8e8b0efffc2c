package restapi

import "testing"

func TestServerIdentity(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{"http://host/api/", "http://host/api", true},
		{"HTTP://Host:80", "http://host", true},
		{"https://DB.example.com:443/wls/latest/", "https://db.example.com/wls/latest", true},
		{"http://host//api/./v1/", "http://host/api/v1", true},
		{"http://host/api%20v1/", "http://host/api v1", true},
		{"http://[::1]:80/api", "http://[::1]/api/", true},
		{"http://localhost:8080/api", "http://127.0.0.1:8080/api", false},
		{"http://host:8080/api", "http://host/api", false},
		{"http://host/api", "https://host/api", false},
		{"http://host:443/api", "https://host/api", false},
		{"http://host/api/v1", "http://host/api/v2", false},
		{"http://host/API", "http://host/api", false},
	}
	for _, c := range cases {
		ia, err := ServerIdentity(c.a)
		if err != nil {
			t.Fatalf("%s: %v", c.a, err)
		}
		ib, err := ServerIdentity(c.b)
		if err != nil {
			t.Fatalf("%s: %v", c.b, err)
		}
		if (ia == ib) != c.same {
			t.Errorf("%q (%s) and %q (%s): same=%v, want %v", c.a, ia, c.b, ib, ia == ib, c.same)
		}
	}
	if got, _ := ServerIdentity("HTTPS://Db.Example.com:7002/management/wls/latest/"); got != "https://db.example.com:7002/management/wls/latest" {
		t.Errorf("identity = %q", got)
	}
	for _, bad := range []string{"", "ftp://host/", "http://user:pw@host/", "http:///path"} {
		if _, err := ServerIdentity(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
