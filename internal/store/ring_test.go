// Tests of the ring buffer against a plain map.

package store

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
)

// Against a plain map of the newest values: whatever the ring returns is
// the newest value of that key (never an older version or another key's),
// the last writes always fit, and it never holds more than its size.
func TestRingReturnsOnlyNewestValues(t *testing.T) {
	for _, size := range []int{1024, 4096, 1 << 16} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			r := newRing(size)
			rng := rand.New(rand.NewPCG(3, uint64(size)))
			newest := map[string]string{}
			for i := 0; i < 20000; i++ {
				key := fmt.Sprintf("c-%d", rng.IntN(300))
				switch rng.IntN(10) {
				case 0:
					r.drop(key)
					delete(newest, key)
					continue
				default:
					v := strings.Repeat(string(rune('a'+i%26)), rng.IntN(200)) + fmt.Sprint(i)
					r.put(key, []byte(v))
					newest[key] = v
				}
				if got, ok := r.get(key); !ok || got != newest[key] {
					t.Fatalf("op %d: %s just written: %q, %v", i, key, got, ok)
				}
				if r.used() > len(r.buf) {
					t.Fatalf("op %d: %d bytes used of %d", i, r.used(), len(r.buf))
				}
				probe := fmt.Sprintf("c-%d", rng.IntN(300))
				if got, ok := r.get(probe); ok && got != newest[probe] {
					t.Fatalf("op %d: %s: got %q, newest %q", i, probe, got, newest[probe])
				}
			}
			if r.len() == 0 || r.len() > len(newest) {
				t.Fatalf("%d keys indexed, %d live", r.len(), len(newest))
			}
		})
	}
}

func TestRingKeepsTheMostRecentWrites(t *testing.T) {
	r := newRing(1 << 16)
	for i := 0; i < 5000; i++ {
		r.put(fmt.Sprintf("k%d", i), []byte(strings.Repeat("x", 100)))
	}
	// ~120-byte records: the last 500 certainly fit, the first 500 are gone.
	for i := 4500; i < 5000; i++ {
		if _, ok := r.get(fmt.Sprintf("k%d", i)); !ok {
			t.Fatalf("recent key k%d evicted", i)
		}
	}
	for i := 0; i < 500; i++ {
		if _, ok := r.get(fmt.Sprintf("k%d", i)); ok {
			t.Fatalf("old key k%d still there", i)
		}
	}
	if r.len() > 1<<16/100 {
		t.Fatalf("index holds %d keys: evicted records' keys were not removed", r.len())
	}
}

func TestRingRefusesHugeValues(t *testing.T) {
	r := newRing(4096)
	r.put("a", []byte("small"))
	r.put("a", []byte(strings.Repeat("x", 2000)))
	if _, ok := r.get("a"); ok {
		t.Fatal("a value over a quarter of the ring was stored (or the old one kept)")
	}
}

// A new ring's memory is resident at once, so the first batches of a fresh
// consumer do not fault its pages in one by one while they copy customers.
func TestRingMemoryIsResidentFromTheStart(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector's shadow memory changes the resident set this measures")
	}
	const size = 64 << 20
	// Memory earlier tests freed goes back to the kernel first, so the
	// ring cannot come out of pages that are resident already.
	runtime.GC()
	debug.FreeOSMemory()
	before, ok := residentBytes(t)
	if !ok {
		t.Skip("no VmRSS in /proc/self/status on this system")
	}
	r := newRing(size)
	after, _ := residentBytes(t)
	if grew := after - before; grew < size*9/10 {
		t.Fatalf("resident set grew by %d bytes for a ring of %d: its pages are not backed yet", grew, size)
	}
	runtime.KeepAlive(r)
}

// residentBytes reads this process's resident set from /proc.
func residentBytes(t *testing.T) (int64, bool) {
	t.Helper()
	self, err := procfs.Self()
	if err != nil {
		return 0, false
	}
	st, err := self.NewStatus()
	if err != nil || st.VmRSS == 0 {
		return 0, false
	}
	return int64(st.VmRSS), true
}
