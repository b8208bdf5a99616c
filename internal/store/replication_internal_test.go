package store

import (
	"errors"
	"testing"
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
