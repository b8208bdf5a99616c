package localredis

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestFirstStartMovesOffATakenPort: a port FreePort found free can be
// taken before redis-server binds it (a client connection's local port,
// another test's server). The first start then moves to free ports; the
// server answers on its new address.
func TestFirstStartMovesOffATakenPort(t *testing.T) {
	if _, err := Binary(); err != nil {
		t.Skip(err) // the packages that need Redis fail without it; this one tests the helper
	}
	for _, tc := range []struct {
		name    string
		cluster bool // the taken port is the cluster bus's
	}{{"port", false}, {"cluster bus port", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.cluster {
				args = []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}
			}
			s, err := New(t.TempDir(), args...)
			if err != nil {
				t.Fatal(err)
			}
			if tc.cluster {
				if s.ClusterBusPort, err = FreePort(); err != nil {
					t.Fatal(err)
				}
			}
			taken := s.Port
			if tc.cluster {
				taken = s.ClusterBusPort
			}
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(taken))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.Start(ctx); err != nil {
				t.Fatalf("start with port %d taken: %v", taken, err)
			}
			defer s.Stop()
			if s.Port == taken || s.ClusterBusPort == taken {
				t.Errorf("server still on the taken port %d (port %d, bus %d)", taken, s.Port, s.ClusterBusPort)
			}
		})
	}
}

// TestFreePortIsNoClientsLocalPort: the kernel gives outgoing connections
// local ports from ip_local_port_range, so a server's port must lie below
// it, or a server stopped for a while may find its port taken by a client
// connection when it restarts (a killed Redis master coming back in the
// cluster chaos test did).
func TestFreePortIsNoClientsLocalPort(t *testing.T) {
	lo, hi := portsBelowEphemeral()
	if hi-lo < 1000 {
		t.Skipf("no room below this machine's ephemeral ports (%d–%d)", lo, hi)
	}
	seen := map[int]bool{}
	for range 200 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if port < lo || port >= hi {
			t.Fatalf("FreePort gave %d, outside [%d, %d): an outgoing connection may hold it", port, lo, hi)
		}
		seen[port] = true
	}
	// Random, so that tests starting servers side by side rarely pick
	// the same port before either binds it.
	if len(seen) < 150 {
		t.Errorf("200 calls gave only %d distinct ports", len(seen))
	}
	// A client connection's local port is in the ephemeral range.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if local := c.LocalAddr().(*net.TCPAddr).Port; local < hi {
		t.Errorf("a client connection got local port %d, below the ephemeral range's start %d", local, hi)
	}
}
