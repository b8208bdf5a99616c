// The Lua scripts: their text, loading them on every master, and the
// EVALSHA arguments they take.

package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// saveScript writes several customers, each only if its stored token (the
// offset guard) still equals the one the writer loaded: a compare-and-set
// per customer. A consumer that lost its partitions (a zombie) therefore
// cannot overwrite the new owner's writes; it gets a conflict, reloads, and
// finds its events already applied.
//
// A retried write whose first attempt did succeed (reply lost) is also
// reported as a conflict, deliberately: two writers that applied the same
// records compute the same new token but different pending events
// (emitted_at differs), so "token already there" must not count as "my
// write is there". The caller reloads and publishes what is stored.
//
// The pending key's existence is mirrored in the hash's "_p" field, set
// and removed in the same atomic step as the key (here: the writer puts
// the flag among the fields it sets or deletes, saving a call per changed
// customer; the clear script removes both), so a load needs the pending
// key only for the rare customer whose last publication was not
// acknowledged (a crash, or Redis down at the clear).
//
// KEYS: per customer two keys of one slot, the state hash and the pending
// key (when the action is "keep" the script never touches the second key,
// so the caller may pass the hash again and skip building the name). ARGV
// per customer, in order: expected token, pending action ("" keep, "-"
// delete, anything else: the new pending value), the number of fields to
// set and to delete, then name, value pairs to set and names to delete.
// The script hands those ranges of ARGV straight to HSET and HDEL
// (unpack): measured with BenchmarkCustomerUpdate, that costs Redis about
// 13 % less CPU than passing a per-field mask decoded by a Lua loop,
// although the names travel.
// Returns the 1-based customer positions whose token did not match
// (nothing was written for those). Every check of a customer precedes its
// writes, so a failed check never leaves a half-written customer.
var saveScript = redis.NewScript(`
local conflicts = {}
local a = 1
for i = 1, #KEYS, 2 do
  local hash = KEYS[i]
  local expect, pending = ARGV[a], ARGV[a + 1]
  local nset, ndel = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local s = a + 4
  local d = s + 2 * nset
  a = d + ndel
  local cur = redis.call('HGET', hash, '_g')
  if cur == false then cur = '' end
  if cur ~= expect then
    conflicts[#conflicts + 1] = (i + 1) / 2
  else
    if nset > 0 then
      redis.call('HSET', hash, unpack(ARGV, s, d - 1))
    end
    if ndel > 0 then
      redis.call('HDEL', hash, unpack(ARGV, d, a - 1))
    end
    if pending == '-' then
      redis.call('DEL', KEYS[i + 1])
    elseif pending ~= '' then
      redis.call('SET', KEYS[i + 1], pending)
    end
  end
end
return conflicts
`)

// clearPendingScript removes the pending change events of customers whose
// token is still the one written with them: their publication has been
// acknowledged. If another writer has written since, it took over the
// pending events and clears them itself. A state key that another
// program overwrote with another type answers WRONGTYPE; pcall turns that
// into a value no token equals, so the key is left alone and the clears
// after it in the call still run (raised, it failed every retry of them).
//
// KEYS: per customer the state hash and the pending key; ARGV: the tokens.
var clearPendingScript = redis.NewScript(`
for i = 1, #KEYS, 2 do
  if redis.pcall('HGET', KEYS[i], '_g') == ARGV[(i + 1) / 2] then
    redis.call('DEL', KEYS[i + 1])
    redis.call('HDEL', KEYS[i], '_p')
  end
end
return 0
`)

// LoadScripts loads the Lua scripts on every master, so the pipelined
// EVALSHA calls find them (go-redis's NOSCRIPT fallback does not work in a
// pipeline). Save calls it again by itself after a NOSCRIPT reply (a Redis
// restart or failover flushes the script cache).
func (r *Redis) LoadScripts(ctx context.Context) error {
	load := func(ctx context.Context, c redis.Scripter) error {
		for _, s := range []*redis.Script{saveScript, clearPendingScript, setTimersScript, advanceScript, dueAfterScript} {
			if err := s.Load(ctx, c).Err(); err != nil {
				return fmt.Errorf("load script: %w", err)
			}
		}
		return nil
	}
	if c, ok := r.client.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return load(ctx, n) })
	}
	return load(ctx, r.client)
}

// The save script's pending actions besides "store this value".
const (
	pendingKeep   = ""
	pendingDelete = "-"
)

// pendingAction is the save script's pending argument: keep
// (pendingKeep), delete (pendingDelete), or the events to store, joined by
// newlines. A single element of Pending goes in as it is, without a copy:
// a caller may join the events itself (the pipeline renders a customer's
// documents into one buffer, newline-separated), which saves copying them
// all once more per write.
func (w *Write) pendingAction() any {
	switch len(w.Pending) {
	case 0:
		if w.hadPending {
			return pendingDelete
		}
		return pendingKeep
	case 1:
		return w.Pending[0]
	}
	size := 0
	for _, p := range w.Pending {
		size += len(p) + 1
	}
	// A Builder hands over its buffer as the string: one copy of the
	// events, not two.
	var b strings.Builder
	b.Grow(size)
	for i, p := range w.Pending {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.Write(p)
	}
	return b.String()
}

// appendArgs appends the script arguments of the write's fields: how
// many fields are set and deleted, the name, value pairs to set, then the
// names to delete. The strings go in as pointers into the write (see
// evalShaArgs), so w must stay put until the call has been sent.
func (w *Write) appendArgs(args []any) []any {
	args = append(args, len(w.set)/2, len(w.del))
	for i := range w.set {
		args = append(args, &w.set[i])
	}
	for i := range w.del {
		args = append(args, &w.del[i])
	}
	return args
}

// evalShaArgs starts an EVALSHA command line for script with the given
// keys, leaving room for extra arguments. Keys and arguments go in as
// *string, which go-redis sends like a string (and reads for cluster
// routing): a pointer fits in an interface value, while every string would
// cost a heap object of its own, tens per customer. The pointed-to strings
// must stay unchanged until the pipeline has run. Counts below 256 are
// boxed without allocating too.
func evalShaArgs(script *redis.Script, keys []string, extra int) []any {
	args := make([]any, 0, 3+len(keys)+extra)
	args = append(args, "evalsha", script.Hash(), len(keys))
	for i := range keys {
		args = append(args, &keys[i])
	}
	return args
}

// scriptCall is one call of a script: its keys and arguments.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
}

// queueScripts queues the calls with EVALSHA.
func queueScripts(ctx context.Context, p redis.Pipeliner, calls []scriptCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = c.script.EvalSha(ctx, p, c.keys, c.args...)
	}
	return cmds
}

func isNoScript(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOSCRIPT")
}

// withScripts runs f, a pipeline of EVALSHA calls, and runs it once more
// after loading the scripts when Redis did not know one (NOSCRIPT: a
// restart or failover flushed its script cache).
func (r *Redis) withScripts(ctx context.Context, f func() error) error {
	err := f()
	if isNoScript(err) {
		if lerr := r.LoadScripts(ctx); lerr != nil {
			return lerr
		}
		err = f()
	}
	return err
}
