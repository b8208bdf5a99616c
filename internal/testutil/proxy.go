package testutil

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Proxy forwards TCP connections to a target that can be switched, as the
// address clients use (a virtual IP, a DNS name, a managed service's
// endpoint) moves to a promoted Redis replica in a failover.
type Proxy struct {
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	target string
	conns  map[net.Conn]struct{}
	// paused holds what the connections read, instead of forwarding it,
	// until Resume; epoch counts closeAlls, which drop what is held.
	paused bool
	epoch  int
}

// StartProxy listens on a free loopback port and forwards to target until
// the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		p.accept()
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-accepting // no connection is added after this
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Switch sends new connections to target and closes every open one (what
// a paused proxy holds is dropped), as a failover breaks the clients'
// connections to the old master.
func (p *Proxy) Switch(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
	p.closeAll()
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		server, err := net.DialTimeout("tcp", target, 2*time.Second)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(client, server)
		go p.pipe(server, client)
	}
}

// Pause stops forwarding in both directions: what is read is held, as on a
// network link that hangs, and dropped if the connections close before
// Resume.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
}

// Resume forwards again, what was held first.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = false
}

// forwarding waits while the proxy is paused; false when the connections
// of epoch were closed meanwhile.
func (p *Proxy) forwarding(epoch int) bool {
	for {
		p.mu.Lock()
		paused, now := p.paused, p.epoch
		p.mu.Unlock()
		if now != epoch {
			return false
		}
		if !paused {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pipe copies from src to dst, then closes both.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	epoch := p.epoch
	p.mu.Unlock()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.forwarding(epoch) {
				break
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.epoch++
	for c := range p.conns {
		_ = c.Close()
	}
}

// WaitReplicasOnline waits until the Redis server rc talks to counts n
// replicas online (INFO replication), failing the test when ctx ends.
func WaitReplicasOnline(t testing.TB, ctx context.Context, rc *redis.Client, n int) {
	t.Helper()
	for {
		info := rc.Info(ctx, "replication").Val()
		if strings.Count(info, "state=online") == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d replicas never online: %s", n, info)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
