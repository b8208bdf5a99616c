// Reading every customer: the operator's tools (ltvctl) walk all
// customer hashes in pipelined batches, on a standalone server or on every
// master of a cluster.

package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// AppendPublicJSON appends the JSON object of a customer's public fields:
// vals[i] is HMGET's reply for names[i], a string when the hash holds the
// field (an empty one too: the updater stores a customer without a tier
// as tier "") and nil when it does not (left out), each rendered as the
// string it is, in names' order. found is false, and nothing is appended,
// when the hash holds none of them. The read API and ltvctl get render
// customers with it, so both print the same object.
func AppendPublicJSON(dst []byte, names []string, vals []any) (out []byte, found bool) {
	start := len(dst)
	dst = append(dst, '{')
	for i, val := range vals {
		v, held := val.(string)
		if i >= len(names) || !held {
			continue
		}
		if found {
			dst = append(dst, ',')
		}
		found = true
		dst = AppendJSONText(dst, names[i])
		dst = append(dst, ':')
		dst = AppendJSONText(dst, v)
	}
	if !found {
		return dst[:start], false
	}
	return append(dst, '}'), true
}

// AppendJSONText appends s as a JSON string; bytes that are not UTF-8
// (which nothing the updater writes contains) become U+FFFD.
func AppendJSONText(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return aggregate.AppendJSONString(dst, s)
}

// EachCustomer calls fn with batches of customer snapshots until every
// customer hash has been read once (SCAN over ltv:{*}, HGETALLs pipelined
// per batch of about batchSize keys). A hash that cannot be parsed is
// passed with its error; fn's error stops the walk. On a cluster every
// master is walked in turn.
func (r *Redis) EachCustomer(ctx context.Context, batchSize int, fn func(snaps []Snapshot, errs []error) error) error {
	return r.EachCustomerID(ctx, batchSize, func(ids []string) error {
		snaps, errs, err := r.Load(ctx, ids)
		if err != nil {
			return err
		}
		return fn(snaps, errs)
	})
}

// EachCustomerID calls fn with the ids of the customer hashes found by one
// SCAN over ltv:{*} (batches of about batchSize keys), until the scan is
// complete; fn's error stops the walk. It only lists keys, so it works for
// a read-only ACL user limited to ltv:*. On a cluster the masters are
// scanned concurrently and fn is called by one at a time. As SCAN
// guarantees, a key present for the whole walk is listed at least once; a
// key may be listed twice while Redis resizes its table.
func (r *Redis) EachCustomerID(ctx context.Context, batchSize int, fn func(ids []string) error) error {
	walk := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, "ltv:{*}", int64(batchSize)).Result()
			if err != nil {
				return fmt.Errorf("scan customers: %w", err)
			}
			var ids []string
			for _, k := range keys {
				if id, ok := customerOfKey(k); ok {
					ids = append(ids, id)
				}
			}
			if len(ids) > 0 {
				if err := fn(ids); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := r.client.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		inner := fn
		fn = func(ids []string) error {
			mu.Lock()
			defer mu.Unlock()
			return inner(ids)
		}
		return cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return walk(ctx, n) })
	}
	return walk(ctx, r.client)
}

// HasCustomers reports whether any customer hash exists: the SCAN of
// EachCustomerID, stopped at the first customer found (on an empty
// database it reads every key, of which there are few).
func (r *Redis) HasCustomers(ctx context.Context) (bool, error) {
	err := r.EachCustomerID(ctx, 1000, func([]string) error { return errFoundCustomer })
	if errors.Is(err, errFoundCustomer) {
		return true, nil
	}
	return false, err
}

var errFoundCustomer = errors.New("found a customer")

// NotHashError is ReadFields' answer when the keys of some customers hold
// something other than a hash (WRONGTYPE: another program wrote
// ltv:{<id>}). The other customers were read as usual; these got nil.
type NotHashError struct {
	// IDs are the customers whose keys are not hashes, in the order read.
	IDs []string
}

func (e *NotHashError) Error() string {
	const why = " (WRONGTYPE): something other than ltv-stream wrote it"
	if len(e.IDs) == 1 {
		return "key " + Key(e.IDs[0]) + " is not a hash" + why
	}
	return fmt.Sprintf("keys %s and %d more are not hashes%s", Key(e.IDs[0]), len(e.IDs)-1, why)
}

// ReadFields reads the named fields of the given customers with one
// pipelined HMGET each (one round trip per node), so a reader needs
// neither HGETALL nor the private fields. A customer whose hash has none
// of the fields (it is gone) gets nil; an absent field is absent from its
// map. A key that holds something other than a hash fails only its own
// read: the others are returned, with a *NotHashError naming it, so one
// stray key under ltv:{…} does not stop a walk over every customer (the
// read API's batchGet treats it the same way).
func (r *Redis) ReadFields(ctx context.Context, customerIDs, fields []string) ([]map[string]string, error) {
	cmds := make([]*redis.SliceCmd, len(customerIDs))
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range customerIDs {
			cmds[i] = p.HMGet(ctx, Key(id), fields...)
		}
		return nil
	})
	var notHash *NotHashError
	if err != nil {
		for i, cmd := range cmds {
			switch cerr := cmd.Err(); {
			case cerr == nil:
			case isWrongType(cerr):
				if notHash == nil {
					notHash = &NotHashError{}
				}
				notHash.IDs = append(notHash.IDs, customerIDs[i])
			default:
				return nil, fmt.Errorf("read %s: %w", customersText(len(customerIDs)), err)
			}
		}
		if notHash == nil {
			return nil, fmt.Errorf("read %s: %w", customersText(len(customerIDs)), err)
		}
	}
	out := make([]map[string]string, len(customerIDs))
	for i, cmd := range cmds {
		var m map[string]string
		for j, v := range cmd.Val() {
			s, ok := v.(string)
			if !ok || j >= len(fields) {
				continue
			}
			if m == nil {
				m = make(map[string]string, len(fields))
			}
			m[fields[j]] = s
		}
		out[i] = m
	}
	if notHash != nil {
		return out, notHash
	}
	return out, nil
}

// customerOfKey returns the customer id of a customer's hash key
// (ltv:{<id>}), false for every other key (pending keys, a partition's
// clock keys).
func customerOfKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "ltv:{")
	if !ok || !strings.HasSuffix(rest, "}") {
		return "", false
	}
	id := rest[:len(rest)-1]
	return id, id != ""
}

// customersText is "1 customer" or "n customers", for messages.
func customersText(n int) string {
	if n == 1 {
		return "1 customer"
	}
	return strconv.Itoa(n) + " customers"
}
