package service

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// healthLog records what durability reports.
type healthLog struct {
	mu  sync.Mutex
	got []error
}

func (h *healthLog) report(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, err)
}

// last returns how many reports there were and the last one.
func (h *healthLog) last() (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.got) == 0 {
		return 0, nil
	}
	return len(h.got), h.got[len(h.got)-1]
}

// said reports whether any report contained what.
func (h *healthLog) said(what string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, err := range h.got {
		if err != nil && strings.Contains(err.Error(), what) {
			return true
		}
	}
	return false
}

// TestDurabilityWaitsForTheReplicaInPlace: a batch's final wait that the
// replica does not answer is tried again in place, reported as not
// durable, and passes once the replica is back; a replica promoted under
// the batch makes it be made again, after the process's copies of the
// state were dropped.
func TestDurabilityWaitsForTheReplicaInPlace(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	master := testutil.StartRedis(t)
	replica := testutil.StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port))
	testutil.WaitReplicasOnline(t, ctx, master.Client(), 1)
	var health healthLog
	forgot := 0
	d := &durability{st: master.Store(), wait: store.ReplicaWait{Timeout: 100 * time.Millisecond, LostReplicaGrace: time.Nanosecond}, log: zap.NewNop(),
		forget: func() { forgot++ }, health: health.report}

	batch, err := d.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.end(batch); err != nil {
		t.Fatalf("end with the replica online = %v", err)
	}
	replica.Pause()
	short, cancel := context.WithTimeout(batch, 1500*time.Millisecond)
	err = d.end(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !health.said("0 of 1 replicas had the writes") {
		t.Fatalf("end with the replica hung = %v, reported %v; want it waiting and reported", err, health.got)
	}
	replica.Resume()
	done := make(chan error, 1)
	go func() { done <- d.end(batch) }()
	if err := <-done; err != nil {
		t.Fatalf("end once the replica is back = %v", err)
	}
	if _, reported := health.last(); reported != nil {
		t.Fatalf("health still reports %v", reported)
	}

	if err := replica.Client().Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	if err := master.Client().Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(replica.Port)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := master.Client().Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	if err := d.end(batch); !errors.Is(err, errMastersChanged) || forgot != 1 {
		t.Fatalf("end after the master took a new replication id = %v, forgot %d times; want errMastersChanged, once", err, forgot)
	}
	next, err := d.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.end(next); err != nil {
		t.Fatalf("the next batch, started on the new master: end = %v", err)
	}
}

// TestDurabilityRunsUncheckedOnARedisThatRefuses: INFO refused (a proxy,
// an ACL, the demo's fake) means nothing can be checked: one warning, and
// batches go on.
func TestDurabilityRunsUncheckedOnARedisThatRefuses(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	srv := testutil.StartRedis(t)
	if err := srv.Client().Do(ctx, "ACL", "SETUSER", "noinfo", "on", ">pw", "~*", "+@all", "-info").Err(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: "noinfo", Password: "pw"})
	defer c.Close()
	core, logs := observer.New(zap.WarnLevel)
	d := &durability{st: store.NewRedis(c, store.Config{}), log: zap.New(core), forget: func() {},
		health: func(err error) { t.Errorf("health reported %v", err) }}
	for range 3 {
		batch, err := d.begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.beforePublish(batch); err != nil {
			t.Fatal(err)
		}
		if err := d.end(batch); err != nil {
			t.Fatal(err)
		}
	}
	if n := logs.FilterMessageSnippet("cannot be checked").Len(); n != 1 {
		t.Fatalf("%d warnings, want one", n)
	}
}
