// Customers: one customer's public fields, or many in one pipelined round
// trip, encoded straight from Redis's replies into a pooled buffer.

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// bufPool holds response buffers: a customer is about 600 bytes of JSON,
// a batch of 1,000 about 600 kB.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooled keeps a buffer grown by one large batch from staying pinned.
const maxPooled = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// getCustomer answers GET /v1/customers/{id}: the public fields, 404 when
// Redis holds none for the id.
func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := decode.CheckCustomerID(id); err != nil {
		writeError(w, http.StatusBadRequest, "invalid customer id: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RedisTimeout)
	defer cancel()
	cmd := s.hmgetCmd(ctx, id)
	if err := s.redis.Process(ctx, cmd); err != nil {
		if isWrongType(err) {
			// Not a refusal by Redis (the 500 of redisFailed would say so,
			// and point at the ACL): the key is not a customer hash. Say
			// what batchGet says of it.
			s.cfg.Logger.Warn("customer key is not a hash", zap.String("customer_id", id), zap.Error(err))
			writeError(w, http.StatusInternalServerError, notHashReason(id))
			return
		}
		s.redisFailed(w, err)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	out, found := store.AppendPublicJSON(*buf, s.fields, cmd.Val())
	*buf = out
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown customer %q", id))
		return
	}
	*buf = append(*buf, '\n')
	writeBody(w, http.StatusOK, *buf)
}

// hmgetCmd is an HMGET of the public fields of one customer. Its reply
// tells a field the hash does not hold (nil) from one it holds empty (""):
// the updater stores a customer without a tier as tier "", which is
// returned as Redis holds it.
func (s *Server) hmgetCmd(ctx context.Context, id string) *redis.SliceCmd {
	args := make([]any, len(s.hmget))
	copy(args, s.hmget)
	args[1] = store.Key(id)
	return redis.NewSliceCmd(ctx, args...)
}

// batchRequest is the body of POST /v1/customers:batchGet.
type batchRequest struct {
	IDs []string
}

// parseBatchBody reads {"ids": [...]} strictly: valid UTF-8 with no lone
// surrogate escape (either would reach the ids as U+FFFD, naming another
// customer than the client meant), exactly one key spelled "ids" (Go's
// decoder would take "IDS" too, and the last of two), an array of strings
// (Go's decoder would read a null element as ""), nothing after it.
func parseBatchBody(body []byte) (batchRequest, error) {
	var req batchRequest
	if !utf8.Valid(body) {
		return req, errors.New("not valid UTF-8")
	}
	if err := checkSurrogateEscapes(body); err != nil {
		return req, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); errors.Is(err, io.EOF) {
		return req, errors.New("empty body")
	} else if err != nil {
		return req, err
	} else if tok != json.Delim('{') {
		return req, errors.New("not a JSON object")
	}
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return req, err
		}
		if key, _ := tok.(string); key != "ids" {
			return req, fmt.Errorf("unknown field %q", key)
		}
		if seen {
			return req, errors.New(`"ids" given twice`)
		}
		seen = true
		start := dec.InputOffset() // where the value of "ids" starts, after white space and ':'
		if err := dec.Decode(&req.IDs); err != nil || slices.Contains(req.IDs, "") {
			// A value of the wrong type, or a null id (decoded as ""): read
			// the value again token by token to name it in the request's
			// terms. Only a bad request pays for this; the decoder's fast
			// path reads the good ones.
			ids, why := decodeIDs(json.NewDecoder(bytes.NewReader(bytes.TrimLeft(body[start:], " \t\r\n:"))))
			switch {
			case why != nil:
				return req, why
			case err != nil:
				return req, err
			}
			req.IDs = ids
		}
	}
	if _, err := dec.Token(); err != nil {
		return req, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, errors.New("data after the JSON object")
	}
	return req, nil
}

// decodeIDs reads the value of "ids": null (nil: no ids) or an array of
// strings. Another value, or an element that is not a string, is named in
// the request's terms ("ids[1] must be a string, not null"), not in
// encoding/json's ("cannot unmarshal number into Go value of type
// string").
func decodeIDs(dec *json.Decoder) ([]string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if tok != json.Delim('[') {
		return nil, fmt.Errorf(`"ids" must be an array of strings, not %s`, jsonKind(tok))
	}
	ids := []string{}
	for dec.More() {
		if tok, err = dec.Token(); err != nil {
			return nil, err
		}
		id, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("ids[%d] must be a string, not %s", len(ids), jsonKind(tok))
		}
		ids = append(ids, id)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, err
	}
	return ids, nil
}

// jsonKind names the kind of JSON value tok starts, for messages.
func jsonKind(tok json.Token) string {
	switch tok {
	case nil:
		return "null"
	case json.Delim('{'):
		return "an object"
	case json.Delim('['):
		return "an array"
	}
	switch tok.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// checkSurrogateEscapes refuses a \u escape of a UTF-16 surrogate that is
// not a high one followed by a low one: JSON allows it, but it names no
// character.
func checkSurrogateEscapes(body []byte) error {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(body) || body[i] != '\\' || body[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 16)
		return rune(v), err == nil
	}
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // an escaped character; skip it (it may be a backslash)
			continue
		}
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if low, ok := hex4(i + 6); ok && low >= 0xDC00 && low <= 0xDFFF {
				i += 11
				continue
			}
			return fmt.Errorf("lone surrogate \\u%04x", r)
		case r >= 0xDC00 && r <= 0xDFFF:
			return fmt.Errorf("lone surrogate \\u%04x", r)
		}
		i += 5
	}
	return nil
}

// batchGet answers POST /v1/customers:batchGet: {"customers": {id: the
// public fields, in the order asked (an id named twice once)}, "missing":
// [ids Redis has no customer for]}, and "errors": {id: why} for ids whose
// key holds something other than a hash, so that one foreign key does not
// fail the reads of the rest.
func (s *Server) batchGet(w http.ResponseWriter, r *http.Request) {
	ids, code, err := s.readBatch(w, r)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RedisTimeout)
	defer cancel()
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err = s.redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = s.hmgetCmd(ctx, id)
			_ = p.Process(ctx, cmds[i])
		}
		return nil
	})
	if err != nil && !onlyWrongTypes(cmds) {
		s.redisFailed(w, err)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	out := append(*buf, `{"customers":{`...)
	var missing, wrongType []string
	n := 0
	for i, id := range ids {
		if cmds[i].Err() != nil {
			wrongType = append(wrongType, id)
			continue
		}
		mark := len(out)
		if n > 0 {
			out = append(out, ',')
		}
		out = store.AppendJSONText(out, id)
		out = append(out, ':')
		var found bool
		if out, found = store.AppendPublicJSON(out, s.fields, cmds[i].Val()); !found {
			out = out[:mark]
			missing = append(missing, id)
			continue
		}
		n++
	}
	out = append(out, `},"missing":[`...)
	for i, id := range missing {
		if i > 0 {
			out = append(out, ',')
		}
		out = store.AppendJSONText(out, id)
	}
	out = append(out, ']')
	if len(wrongType) > 0 {
		out = append(out, `,"errors":{`...)
		for i, id := range wrongType {
			if i > 0 {
				out = append(out, ',')
			}
			out = store.AppendJSONText(out, id)
			out = append(out, ':')
			out = store.AppendJSONText(out, notHashReason(id))
		}
		out = append(out, '}')
	}
	out = append(out, "}\n"...)
	*buf = out
	writeBody(w, http.StatusOK, out)
}

// onlyWrongTypes reports whether every failed read of a batch failed
// because its key is not a hash. Such a key is answered under "errors"
// and the rest of the batch is served; any other failure (Redis down, an
// ACL, OOM) concerns the whole batch.
func onlyWrongTypes(cmds []*redis.SliceCmd) bool {
	seen := false
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			if !isWrongType(err) {
				return false
			}
			seen = true
		}
	}
	return seen
}

// isWrongType reports whether err is Redis's WRONGTYPE reply: the
// customer's key holds something other than a hash.
func isWrongType(err error) bool {
	return strings.HasPrefix(err.Error(), "WRONGTYPE")
}

// notHashReason is what the API says of a customer whose key is not a
// hash, in a single GET and in batchGet's "errors" alike (the wording of
// store.NotHashError, which ltvctl get prints).
func notHashReason(id string) string {
	return (&store.NotHashError{IDs: []string{id}}).Error()
}

// jsonBodyType reports whether a batchGet body of this content type is
// read: JSON's own types, and the two a client sends JSON under without
// saying so (curl -d sends application/x-www-form-urlencoded; text/plain
// is what some HTTP libraries give a string body). The body must be the
// JSON object in every case. Others (multipart forms, XML, …) are 415.
func jsonBodyType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "application/json", "application/x-www-form-urlencoded", "text/plain":
		return true
	}
	return strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// readBatch reads and checks a batchGet body: JSON, bounded in size, at
// most MaxBatch valid ids, duplicates dropped.
func (s *Server) readBatch(w http.ResponseWriter, r *http.Request) ([]string, int, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !jsonBodyType(ct) {
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: send application/json", ct)
	}
	// At most MaxBodyReads bodies are held in memory at once; the slot is
	// freed once the body is read, before the Redis round trip.
	if !s.acquireBody(r.Context()) {
		w.Header().Set("Retry-After", "1")
		return nil, http.StatusServiceUnavailable, fmt.Errorf("too many request bodies being read at once (at most %d); try again", s.cfg.MaxBodyReads)
	}
	body, err := func() ([]byte, error) {
		defer s.releaseBody()
		return io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	}()
	if err != nil {
		if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", mb.Limit)
		}
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			return nil, http.StatusRequestTimeout, errors.New("request body not received in time")
		}
		return nil, http.StatusBadRequest, errors.New("request body not read whole")
	}
	req, err := parseBatchBody(body)
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf(`body is not {"ids": ["…"]}: %w`, err)
	}
	switch {
	case req.IDs == nil:
		return nil, http.StatusBadRequest, errors.New(`body is not {"ids": ["…"]}: no "ids"`)
	case len(req.IDs) == 0:
		return nil, http.StatusBadRequest, errors.New(`"ids" is empty`)
	case len(req.IDs) > MaxBatch:
		return nil, http.StatusBadRequest, fmt.Errorf(`"ids" names %d customers; at most %d per request`, len(req.IDs), MaxBatch)
	}
	ids := req.IDs[:0]
	seen := make(map[string]struct{}, len(req.IDs))
	for i, id := range req.IDs {
		if err := decode.CheckCustomerID(id); err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("ids[%d]: %w", i, err)
		}
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			ids = append(ids, id)
		}
	}
	return ids, 0, nil
}

// acquireBody takes one of the MaxBodyReads slots for reading a request
// body: at once when one is free, else waiting up to BodyReadWait, or
// until ctx (the request's) ends, whichever is first. It reports whether
// it got one; a caller that did must call releaseBody once the body is
// read.
func (s *Server) acquireBody(ctx context.Context) bool {
	select {
	case s.bodies <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(s.cfg.BodyReadWait)
	defer t.Stop()
	select {
	case s.bodies <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// releaseBody frees the slot acquireBody took.
func (s *Server) releaseBody() { <-s.bodies }

// transientReplies are the error replies with which a Redis that is up
// says it cannot answer yet: still loading its dataset after a restart,
// busy with a script, a replica that lost its master, a cluster without
// all its slots or in the middle of a resharding. They pass by themselves,
// like a Redis that is down, so they are a 503 (try again), not the 500 of
// a refusal that needs an operator (NOPERM).
var transientReplies = []string{"LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"}

// isTransientReply reports whether err is one of transientReplies.
func isTransientReply(err error) bool {
	msg := err.Error()
	for _, p := range transientReplies {
		if strings.HasPrefix(msg, p+" ") || msg == p {
			return true
		}
	}
	return false
}

// redisFailed answers a request whose Redis read failed: a refusal by
// Redis (an error reply, such as NOPERM from an ACL) is 500, anything else
// (unreachable, timed out, or an error reply saying it is not ready yet,
// such as LOADING while it restarts) 503.
func (s *Server) redisFailed(w http.ResponseWriter, err error) {
	s.cfg.Logger.Warn("redis read failed", zap.Error(err))
	if hint, refused := refusal(err); refused {
		writeError(w, http.StatusInternalServerError, "redis refused the read: "+err.Error()+hint)
		return
	}
	writeError(w, http.StatusServiceUnavailable, "redis unavailable: "+err.Error())
}

// refusal reports whether err holds an error reply by which Redis refused
// a read (an ACL's NOPERM, say): an operator must act on it, so it is a
// 500, not the 503 of a Redis that is down or not ready yet, which
// suggests waiting. hint says what to fix when it is known.
func refusal(err error) (hint string, refused bool) {
	var reply redis.Error
	if !errors.As(err, &reply) || errors.Is(err, redis.ErrClosed) || isTransientReply(reply) {
		return "", false
	}
	if strings.HasPrefix(reply.Error(), "NOPERM") {
		return " (the ACL user needs read access to ltv:*: see docs/read-api.md)", true
	}
	return "", true
}
