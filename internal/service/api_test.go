package service

import (
	"net"
	"testing"
)

func TestURLOf(t *testing.T) {
	cases := map[string]string{
		"[::]:8081":      "http://localhost:8081/",
		"0.0.0.0:8081":   "http://localhost:8081/",
		"127.0.0.1:9000": "http://127.0.0.1:9000/",
		"[::1]:9000":     "http://[::1]:9000/",
	}
	for in, want := range cases {
		addr, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := URLOf(addr); got != want {
			t.Errorf("URLOf(%s) = %s, want %s", in, got, want)
		}
	}
}
