package store

import (
	"errors"
	"testing"
	"time"
)

// TestKeyInSlotCoversEverySlot: every cluster slot has a check key that
// hashes to it, so no master lacks one.
func TestKeyInSlotCoversEverySlot(t *testing.T) {
	for slot := range uint16(16384) {
		if key := keyInSlot(durableKeyPrefix, slot); Slot(key) != slot {
			t.Fatalf("keyInSlot(%d) = %q, in slot %d", slot, key, Slot(key))
		}
	}
}

// TestIdentity: a master's identity is its run id and replication id, and
// only replicas in state online count (one still loading its first copy
// could not be promoted with the writes).
func TestIdentity(t *testing.T) {
	server := "# Server\r\nredis_version:7.0.15\r\nrun_id:abc\r\ntcp_port:6379\r\n"
	for _, tc := range []struct {
		name, replication string
		id                string
		online            int
		unknown           bool
	}{
		{"no replicas", "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_replid:r1\r\nmaster_replid2:0000\r\n", "abc/r1", 0, false},
		{"one online, one syncing", "role:master\r\nconnected_slaves:2\r\n" +
			"slave0:ip=127.0.0.1,port=7001,state=online,offset=42,lag=0\r\n" +
			"slave1:ip=127.0.0.1,port=7002,state=wait_bgsave,offset=0,lag=0\r\nmaster_replid:r2\r\n", "abc/r2", 1, false},
		{"two online", "slave0:ip=a,port=1,state=online,offset=1,lag=0\nslave1:ip=b,port=2,state=online,offset=1,lag=1\nmaster_replid:r3\n", "abc/r3", 2, false},
		{"no replication id", "role:master\r\nconnected_slaves:0\r\n", "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, online, err := identity("h:1", server, tc.replication)
			if tc.unknown {
				if !errors.Is(err, ErrIncarnationUnknown) {
					t.Fatalf("identity = %q, %v; want ErrIncarnationUnknown", id, err)
				}
				return
			}
			if err != nil || id != tc.id || online != tc.online {
				t.Fatalf("identity = %q, %d, %v; want %q, %d", id, online, err, tc.id, tc.online)
			}
		})
	}
	if _, _, err := identity("h:1", "redis_version:7\r\n", "master_replid:r1\r\n"); !errors.Is(err, ErrIncarnationUnknown) {
		t.Fatalf("no run id: %v, want ErrIncarnationUnknown", err)
	}
}

// TestFirstOwnSlot: the check key of a cluster master comes from the slots
// its own CLUSTER NODES line lists, skipping migrating and importing ones.
func TestFirstOwnSlot(t *testing.T) {
	nodes := "07c3 127.0.0.1:30004@31004 slave e7d1 0 1426238317239 4 connected\n" +
		"67ed 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922\n" +
		"e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected [93-<-292f] 0-5460 12000\n"
	if slot, ok := firstOwnSlot(nodes); !ok || slot != 0 {
		t.Fatalf("firstOwnSlot = %d, %v; want 0", slot, ok)
	}
	if slot, ok := firstOwnSlot("e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-2 7 [0->-67ed] [1->-67ed]\n"); !ok || slot != 2 {
		t.Fatalf("with slots 0 and 1 migrating away firstOwnSlot = %d, %v; want 2", slot, ok)
	}
	if slot, ok := firstOwnSlot("e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 5 [5->-67ed]\n"); ok {
		t.Fatalf("a master whose only slot is leaving has first slot %d", slot)
	}
	if _, ok := firstOwnSlot("e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected\n"); ok {
		t.Fatal("a master without slots has a first slot")
	}
	if slot, ok := firstOwnSlot("a 1.2.3.4:1@2 master - 0 0 1 connected 7\nb 1.2.3.4:3@4 myself,master - 0 0 1 connected 9000-9001\n"); !ok || slot != 9000 {
		t.Fatalf("firstOwnSlot = %d, %v; want 9000", slot, ok)
	}
}

// TestUncheckable: only replies that say the check will never be answered
// make Redis uncheckable.
func TestUncheckable(t *testing.T) {
	for msg, want := range map[string]bool{
		"NOPERM User noinfo has no permissions to run the 'info' command": true,
		"ERR unknown command 'WAIT', with args beginning with: ":          true,
		"section (server) is not supported":                               true,
		"READONLY You can't write against a read only replica.":           false,
		"NOREPLICAS Not enough good replicas to write.":                   false,
		"LOADING Redis is loading the dataset in memory":                  false,
		"CLUSTERDOWN The cluster is down":                                 false,
	} {
		if got := uncheckable(redisError(msg)); got != want {
			t.Errorf("uncheckable(%q) = %v, want %v", msg, got, want)
		}
	}
	if uncheckable(errors.New("dial tcp: connection refused")) {
		t.Error("a connection failure is uncheckable")
	}
}

// redisError is a reply error as go-redis returns it.
type redisError string

func (e redisError) Error() string { return string(e) }
func (redisError) RedisError()     {}

// TestReplicaCountsPerIdentity: an address that reaches two servers at
// once (pooled connections while a failover moves it) keeps each one's
// count: the old master's replica, promoted away, is still waited for on
// the old master during the grace, while the promoted one, which has no
// replica, waits for none.
func TestReplicaCountsPerIdentity(t *testing.T) {
	r := &Redis{}
	const grace = time.Hour
	steps := []struct {
		id           string
		online, want int
	}{
		{"M/r1", 1, 1},
		{"M/r1", 0, 1}, // its replica promoted away: still waited for
		{"R/r2", 0, 0}, // the promoted replica has none
		{"M/r1", 0, 1}, // back at the old master: still waited for
		{"M/r1", 2, 2},
	}
	for i, s := range steps {
		if got := r.observeReplicas("a:1", s.id, s.online, grace); got != s.want {
			t.Fatalf("step %d (%s, %d online): wait for %d, want %d", i, s.id, s.online, got, s.want)
		}
	}
	if n, ok := r.expectedReplicas("a:1"); !ok || n != 2 {
		t.Fatalf("expectedReplicas = %d, %v; want the last identity's 2", n, ok)
	}
	if got := r.observeReplicas("a:1", "M/r1", 0, 0); got != 2 {
		t.Fatalf("a grace of 0 lowered the count to %d", got)
	}
}
